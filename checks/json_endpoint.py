"""Fetching one LMS endpoint that should answer JSON: the building block of the connectors.

The Canvas and Open edX probes (checks/canvas/, checks/openedx/) fetch several health and
API endpoints per run; this module does one fetch within a time budget and a body cap and
says, in one phrase, why an answer is not the JSON it should be (an HTML error page from a
proxy, a login redirect, a truncated body). It judges nothing about the LMS itself.
Like checks/http.py it is a building block, not a check family.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import FilePath, field_validator

from checks.common import describe_os_error
from monitor.kernel.result import Status
from monitor.kernel.spec import CheckSpec

USER_AGENT = "Vigil/0.1 (lms-vigil health check)"
BODY_LIMIT = 1024 * 1024  # health payloads are a few KiB; more is not the endpoint we want
MAX_REDIRECTS = 5  # a login page may pass through an SSO or MFE redirect or two


@dataclass(frozen=True, slots=True)
class Answer:
    """One endpoint's answer, or the reason there was none (``error``)."""

    status_code: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    seconds: float = 0.0
    error: str | None = None
    location: str | None = None  # the final URL, after any redirects followed


def http_url(value: str | None) -> str | None:
    """A spec's ``url`` validator: None, or an http:// or https:// URL."""
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class EndpointSpec(CheckSpec):
    """What every connector's spec has: the site's root and how to trust its TLS."""

    url: str | None = None  # the site's root; None: the target's url
    verify_tls: bool = True
    ca_file: FilePath | None = None

    _url = field_validator("url")(http_url)


class ClientCache:
    """A check's one client, made again only when the transport changes (tests swap it)."""

    def __init__(self, *, verify_tls: bool, ca_file: Path | None) -> None:
        self.verify_tls, self.ca_file = verify_tls, ca_file
        self._client: httpx.AsyncClient | None = None
        self._transport: httpx.AsyncBaseTransport | None = None

    def get(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        if self._client is None or transport is not self._transport:
            self._transport = transport
            self._client = make_client(transport, verify_tls=self.verify_tls,
                                       ca_file=self.ca_file)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def make_client(transport: httpx.AsyncBaseTransport | None, *, verify_tls: bool,
                ca_file: Path | None) -> httpx.AsyncClient:
    """A client with keep-alive off (each run measures fresh connections), no env proxies."""
    verify: Any = verify_tls
    if verify_tls and ca_file:
        verify = ssl.create_default_context(cafile=str(ca_file))
    return httpx.AsyncClient(
        transport=transport or httpx.AsyncHTTPTransport(
            verify=verify, retries=0, limits=httpx.Limits(max_keepalive_connections=0)),
        headers={"User-Agent": USER_AGENT}, max_redirects=MAX_REDIRECTS, trust_env=False)


async def fetch(client: httpx.AsyncClient, url: str, budget: float, *,
                headers: dict[str, str] | None = None, follow: bool = False) -> Answer:
    """GET ``url`` (following up to MAX_REDIRECTS redirects if ``follow``) within ``budget``."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(budget):
            request = client.build_request("GET", url, headers=headers, timeout=budget)
            response = await client.send(request, stream=True, follow_redirects=follow)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
            return Answer(response.status_code, response.headers, body,
                          time.perf_counter() - start, location=str(response.url))
    except (TimeoutError, httpx.TimeoutException):
        error = f"timeout after {budget:g}s"
    except httpx.TooManyRedirects:
        error = f"more than {MAX_REDIRECTS} redirects"
    except httpx.InvalidURL as exc:
        error = f"invalid URL: {exc}"
    except httpx.ConnectError as exc:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        error = f"{describe_os_error(exc)} to {parts.hostname}:{port}"
    except httpx.HTTPError as exc:
        error = describe_os_error(exc)
    return Answer(seconds=time.perf_counter() - start, error=error)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > BODY_LIMIT:
            break  # judged on what arrived: it will not parse, and says so
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(answer: Answer) -> tuple[Any, str | None]:
    """The parsed JSON body, or None and why it is not JSON (HTML page, empty, broken)."""
    text = answer.body.decode("utf-8", "replace").strip()
    content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if not text:
        return None, f"HTTP {answer.status_code} with an empty body, not JSON"
    if content_type == "text/html" or text[:1] == "<":
        return None, f"HTTP {answer.status_code} answered an HTML page, not JSON" + (
            f" ({title})" if (title := _title(text)) else "")
    try:
        return json.loads(text), None
    except ValueError:
        return None, f"HTTP {answer.status_code} answered {content_type or 'a body'} " \
                     "that is not JSON"


def unusable(where: str, answer: Answer, hint_404: str) -> tuple[Any, Status, str]:
    """The JSON body (status OK, no text), or how bad it is that there is none, and why.

    No answer, or a 5xx page (the LMS or its proxy failing), is CRITICAL; a 404 or any
    other non-JSON answer (a login redirect, a portal page) is UNKNOWN: we cannot judge.
    """
    if answer.error:
        return None, Status.CRITICAL, f"{where}: {answer.error}"
    body, why = json_body(answer)
    if why is None:
        return body, Status.OK, ""
    code = answer.status_code or 0
    if code == 404:
        return None, Status.UNKNOWN, f"{where}: HTTP 404, {hint_404}"
    return None, (Status.CRITICAL if code >= 500 else Status.UNKNOWN), f"{where}: {why}"


def _title(html: str) -> str:
    """The page's <title>, shortened: what a proxy's or the LMS's error page calls itself."""
    lower = html.lower()
    start = lower.find("<title")
    if start < 0:
        return ""
    start = lower.find(">", start) + 1
    end = lower.find("</title", start)
    if start <= 0 or end < 0:
        return ""
    return short(" ".join(html[start:end].split()), 60)


def short(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters (LMS messages can be stack traces)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
