"""One JSON-over-HTTP client shared by the webhook, Alertmanager and PagerDuty notifiers.

It posts, judges the answer (``base.http_status_error``: 2xx sent, 5xx/408/429
retryable, other 4xx permanent) and words every failure without a secret. Redirects
are not followed: a POST must not silently turn into a GET somewhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alerts.notifiers.base import NotifyError, http_status_error
from alerts.notifiers.redact import Redactor

USER_AGENT = "lms-vigil"
_BODY_SNIPPET = 200


def endpoint_of(url: str) -> str:
    """``scheme://host:port``: what errors name instead of a URL that may hold a token."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


class JsonPoster:
    def __init__(
        self, kind: str, *, timeout: float, redact: Redactor,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.kind = kind
        self.timeout = timeout
        self.redact = redact
        self._client = httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False
        )
        redact.watch("httpx", "httpcore")

    async def post(
        self, url: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST ``body`` as JSON; return the 2xx response or raise ``NotifyError``."""
        where = f"{self.kind} {endpoint_of(url)}"
        try:
            response = await self._client.post(
                url, json=body, headers={"User-Agent": USER_AGENT, **(headers or {})}
            )
        except httpx.TimeoutException as exc:
            raise NotifyError(
                f"{where}: no answer within {self.timeout:g}s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise NotifyError(
                f"{where}: {type(exc).__name__}: {self.redact(str(exc))}"
            ) from None
        what = f"{where}: HTTP {response.status_code} {response.reason_phrase}"
        # Redact the whole body before cutting it: a cut through a key hides it from
        # a search for the whole key (truncate also masks such a cut-off start).
        snippet = " ".join(self.redact.truncate(response.text, _BODY_SNIPPET).split())
        error = http_status_error(response.status_code, f"{what}: {snippet}" if snippet else what)
        if error is not None:
            raise error
        return response

    async def aclose(self) -> None:
        self.redact.unwatch()
        await self._client.aclose()
