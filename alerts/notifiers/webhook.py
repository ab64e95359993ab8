"""The webhook notifier: POSTs Alertmanager-compatible JSON (payload version "4").

Anything that accepts Alertmanager's webhook (Alertmanager-aware bots, incident tools,
a custom endpoint) can receive Vigil's alerts unchanged. Transport only: the payload
and its text were built when the notification was queued.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from alerts.config import WebhookReceiverSpec
from alerts.messages import rfc3339
from alerts.notifiers.base import NotifyError, http_status_error

ALERTNAME = "LmsCheckFailing"
USER_AGENT = "lms-vigil"
_BODY_SNIPPET = 200


def alertmanager_alert(notification: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of ``alerts[]`` in Alertmanager's webhook payload."""
    links = notification.get("links") or {}
    labels = {
        **notification.get("labels", {}),  # user labels cannot shadow the ones below
        "alertname": ALERTNAME,
        "lms": notification["lms"],
        "check": notification["check"],
        "check_type": notification.get("check_type", ""),
        "severity": notification["severity"],
    }
    resolved = notification["status"] == "resolved"
    return {
        "status": notification["status"],
        "labels": labels,
        "annotations": {
            # Alertmanager keeps an alert's annotations when it resolves: the problem.
            "summary": notification.get("problem") or notification.get("summary", ""),
            "description": notification.get("text") or notification.get("summary", ""),
            "runbook": notification.get("runbook", ""),
        },
        "startsAt": rfc3339(notification.get("started_at")),
        "endsAt": rfc3339(notification.get("ended_at") if resolved else None),
        "generatorURL": links.get("api") or links.get("status_page") or "",
        "fingerprint": notification["fingerprint"],
    }


def alertmanager_payload(
    notifications: Iterable[Mapping[str, Any]], *, receiver: str, max_alerts: int = 0
) -> dict[str, Any]:
    """Alertmanager's webhook body; notifications of one group (today: one alert)."""
    notifications = list(notifications)
    if not notifications:
        raise ValueError("a webhook payload needs at least one alert")
    alerts = [alertmanager_alert(n) for n in notifications]
    group_labels = {key: alerts[0]["labels"][key] for key in ("alertname", "lms", "check")}
    links = notifications[0].get("links") or {}
    truncated = max(0, len(alerts) - max_alerts) if max_alerts else 0
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(
            f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items())) + "}",
        "truncatedAlerts": truncated,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common(a["labels"] for a in alerts),
        "commonAnnotations": _common(a["annotations"] for a in alerts),
        "externalURL": (links.get("status_page") or "").rstrip("/"),
        "alerts": alerts[:max_alerts] if max_alerts else alerts,
    }


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    maps = list(maps)
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


class WebhookNotifier:
    def __init__(
        self, spec: WebhookReceiverSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.spec = spec
        url = httpx.URL(spec.url)
        # Named in errors instead of the URL, whose path or query may be a token.
        self.endpoint = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._secrets = sorted(_secret_parts(spec, url), key=len, reverse=True)
        self._client = httpx.AsyncClient(
            transport=transport, timeout=spec.timeout, follow_redirects=False
        )
        # httpx logs every request URL at INFO; ours may embed a token. Removed in aclose().
        self._log_filter = _RedactingFilter(self._redact)
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.spec.name!r}, endpoint={self.endpoint!r})"

    async def send(self, notification: dict[str, Any]) -> None:
        body = alertmanager_payload(
            [notification], receiver=self.spec.name, max_alerts=self.spec.max_alerts
        )
        headers = {
            "User-Agent": USER_AGENT,
            # Lets a receiver drop the duplicate of a retry whose first answer was lost.
            "Idempotency-Key": str(notification.get("dedup_key", "")),
            **{k: v.get_secret_value() for k, v in self.spec.headers.items()},
        }
        try:
            response = await self._client.post(self.spec.url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise NotifyError(
                f"webhook {self.endpoint}: no answer within {self.spec.timeout:g}s"
                f" ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise NotifyError(
                f"webhook {self.endpoint}: {type(exc).__name__}: {self._redact(str(exc))}"
            ) from None
        what = f"webhook {self.endpoint}: HTTP {response.status_code} {response.reason_phrase}"
        snippet = " ".join(response.text[:_BODY_SNIPPET].split())
        error = http_status_error(
            response.status_code, f"{what}: {self._redact(snippet)}" if snippet else what
        )
        if error is not None:
            raise error

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    async def aclose(self) -> None:
        logging.getLogger("httpx").removeFilter(self._log_filter)
        await self._client.aclose()


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _secret_parts(spec: WebhookReceiverSpec, url: httpx.URL) -> set[str]:
    """Strings that must never reach an error: header values and the URL beyond its host."""
    parts = {value.get_secret_value() for value in spec.headers.values()}
    parts.update({spec.url, url.password or "", url.query.decode(errors="replace"),
                  url.raw_path.decode(errors="replace")})  # the encoded form, as sent
    if url.path not in ("", "/"):
        parts.add(url.path)
    # Very short values ("1") would mangle every message and hide nothing.
    return {part for part in parts if len(part) >= 4}
