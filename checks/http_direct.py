"""The `http` check's request path on a real network: h11 over one fresh asyncio connection.

HttpCheck (checks/http.py) -> ``DirectClient.send`` -> per hop: resolve and connect
(checks/http_backend.py), TLS, one HTTP/1.1 exchange through h11 (the state machine
httpcore itself uses) -> ``Reply`` whose body HttpCheck streams (checks/http_body.py).

Why not httpx.AsyncClient: with keep-alive off, two thirds of a probe's CPU went to
httpx's client and httpcore's pool (URL merging, cookie jar, auth flow, anyio locks and
cancel scopes, request/response models) for features a one-request connection does not
use (bench/probe_throughput.py, docs/benchmarks.md "round three"). What the client did
for the check is done here the same way: the request headers are httpx's own (built once
per URL with ``httpx.Request``), redirects are followed with httpx's rules (method
rewrite, Location resolution, Authorization kept only within the origin or on an
http->https upgrade, cookies of the probe's own redirect chain), and every error is
raised as the httpx exception the client would have raised, so HttpCheck words it the
same. Phase timings are booked on the probe's PhaseTimer directly. Each hop is a new
connection, closed (aborted) once read: nothing is reused across runs.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import h11
import httpcore
import httpx

from checks.http_backend import ResolvingBackend
from checks.http_timing import PhaseTimer

READ_SIZE = 64 * 1024  # bytes per socket read, as httpcore
MAX_HEAD = 100 * 1024  # largest response head accepted, as httpcore tells h11
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
# httpx.AsyncClient's default headers, except Connection: the connection is closed
# after one response, so say so (as Go's client does with keep-alives off).
CLIENT_HEADERS = {"Accept": "*/*", "Connection": "close"}


class Reply:
    """One response whose head has arrived; the body is streamed by ``aiter_raw``."""

    __slots__ = ("status_code", "headers", "url", "redirects", "_conn", "_reader", "_writer")

    def __init__(
        self,
        status_code: int,
        headers: httpx.Headers,
        url: httpx.URL,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.url = url
        self.redirects = 0
        self._conn = conn
        self._reader = reader
        self._writer = writer

    @property
    def encoding(self) -> str:
        """The body's text encoding as httpx's Response.encoding gives it (utf-8 default)."""
        return httpx.Response(self.status_code, headers=self.headers).encoding or "utf-8"

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it came off the wire (still content-encoded)."""
        conn = self._conn
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await self._reader.read(READ_SIZE))
                elif type(event) is h11.Data:
                    yield bytes(event.data)
                elif type(event) in (h11.EndOfMessage, h11.ConnectionClosed):
                    return
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    def aclose(self) -> None:
        # Abort rather than close: a probe has nothing left to send, and a graceful TLS
        # shutdown would keep running on the loop after the check has returned.
        self._writer.transport.abort()


class DirectClient:
    """What one http check needs to send its request: built once per check."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        family: int,
        method: str,
        headers: dict[str, str],
        content: bytes | None,
        sni_hostname: str | None,
        follow_redirects: bool,
        max_redirects: int,
    ) -> None:
        self._ssl = ssl_context
        self._backend = ResolvingBackend(family)
        self._method = method
        self._headers = CLIENT_HEADERS | headers
        self._content = content
        self._sni = sni_hostname
        self._follow = follow_redirects
        self._max_redirects = max_redirects
        self._first: tuple[str, httpx.URL, list[tuple[bytes, bytes]]] | None = None

    def first_request(self, url: str) -> tuple[httpx.URL, list[tuple[bytes, bytes]]]:
        """The URL parsed and the request headers httpx would send, kept per URL."""
        if self._first is None or self._first[0] != url:
            parsed = httpx.URL(url)
            request = httpx.Request(
                self._method, parsed, headers=self._headers, content=self._content
            )
            if parsed.username or parsed.password:  # httpx.AsyncClient's BasicAuth
                request = next(
                    httpx.BasicAuth(parsed.username, parsed.password).sync_auth_flow(request)
                )
            self._first = (url, parsed, request.headers.raw)
        return self._first[1], self._first[2]

    async def send(self, url: str, timer: PhaseTimer) -> Reply:
        """Fetch ``url``, following redirects like httpx.AsyncClient; raises httpx errors."""
        target, headers = self.first_request(url)
        method, content = self._method, self._content
        cookies: httpx.Cookies | None = None  # only a redirect chain's own cookies
        redirects = 0
        while True:
            reply = await self._exchange(method, target, headers, content, timer)
            if reply.status_code not in REDIRECTS or "location" not in reply.headers:
                reply.redirects = redirects
                return reply
            try:
                request = httpx.Request(method, target, headers=headers)
                if "set-cookie" in reply.headers:
                    cookies = cookies or httpx.Cookies()
                    cookies.extract_cookies(
                        httpx.Response(reply.status_code, headers=reply.headers, request=request)
                    )
                next_method = _redirect_method(method, reply.status_code)
                next_url = _redirect_url(target, reply.headers["location"])
            except BaseException:
                reply.aclose()
                raise
            if not self._follow:
                reply.redirects = redirects
                return reply
            reply.aclose()
            redirects += 1
            if redirects > self._max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.")
            next_headers = _redirect_headers(request, next_url, next_method)
            if next_method != method and next_method == "GET":
                content = None
            hop = httpx.Request(next_method, next_url, headers=next_headers, cookies=cookies)
            method, target, headers = next_method, next_url, hop.headers.raw

    async def _exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        content: bytes | None,
        timer: PhaseTimer,
    ) -> Reply:
        scheme = url.scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
                if scheme
                else "Request URL is missing an 'http://' or 'https://' protocol."
            )
        host = url.raw_host.decode("ascii")
        timer.started("connect_tcp")
        try:
            reader, writer = await self._backend.open(host, url.port or DEFAULT_PORTS[scheme])
        except httpcore.ConnectError as exc:  # also ResolveError: HttpCheck looks for it
            raise httpx.ConnectError(str(exc)) from exc
        timer.completed("connect_tcp")
        try:
            if scheme == "https":
                timer.started("start_tls")
                try:
                    await writer.start_tls(self._ssl, server_hostname=self._sni or host)
                except OSError as exc:  # ssl.SSLError is an OSError
                    raise httpx.ConnectError(str(exc)) from exc
                timer.completed("start_tls", writer)
            conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
            timer.started("send_request_headers")
            try:
                data = conn.send(h11.Request(method=method, target=url.raw_path, headers=headers))
                if content:
                    data += conn.send(h11.Data(data=content))
                data += conn.send(h11.EndOfMessage())
            except h11.LocalProtocolError as exc:  # e.g. a header value h11 refuses
                raise httpx.LocalProtocolError(str(exc)) from exc
            try:
                writer.write(data)
                await writer.drain()
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            timer.started("receive_response_headers")
            response = await _response_head(conn, reader)
            timer.completed("receive_response_headers")
            return Reply(
                response.status_code,
                httpx.Headers(response.headers.raw_items()),
                url,
                conn,
                reader,
                writer,
            )
        except BaseException:
            writer.transport.abort()
            raise


async def _response_head(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Response:
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(READ_SIZE)
                if not data and conn.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                conn.receive_data(data)
            elif type(event) is h11.Response:
                return event
            # an InformationalResponse (1xx) is skipped, as httpcore does
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


# The three rules below are httpx.AsyncClient's (_redirect_method, _redirect_url,
# _redirect_headers in httpx/_client.py), on public httpx types.


def _redirect_method(method: str, status: int) -> str:
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def _redirect_url(current: httpx.URL, location: str) -> httpx.URL:
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if url.scheme and not url.host:
        url = url.copy_with(host=current.host)
    if url.is_relative_url:
        url = current.join(url)
    if current.fragment and not url.fragment:
        url = url.copy_with(fragment=current.fragment)
    return url


def _redirect_headers(request: httpx.Request, url: httpx.URL, method: str) -> httpx.Headers:
    headers = httpx.Headers(request.headers)
    if not _same_origin(url, request.url):
        if not _is_https_upgrade(request.url, url):
            headers.pop("Authorization", None)
        headers["Host"] = url.netloc.decode("ascii")
    if method != request.method and method == "GET":
        headers.pop("Content-Length", None)
        headers.pop("Transfer-Encoding", None)
    headers.pop("Cookie", None)  # the chain's cookie jar decides
    return headers


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else DEFAULT_PORTS.get(url.scheme)


def _same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return url.scheme == other.scheme and url.host == other.host and _port(url) == _port(other)


def _is_https_upgrade(url: httpx.URL, location: httpx.URL) -> bool:
    return (
        url.host == location.host
        and url.scheme == "http"
        and _port(url) == 80
        and location.scheme == "https"
        and _port(location) == 443
    )
