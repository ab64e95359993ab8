"""Per-phase timing for the `http` check, in blackbox_exporter's phases.

HttpCheck (checks/http.py) sends each request with ``extensions={"trace": timer.trace}``;
httpcore reports connect_tcp / start_tls / send_request / receive_response_headers
events to it. httpcore has no DNS event, so ``ResolvingBackend`` wraps the transport's
network backend: it resolves the host itself (timed as ``resolve``) and connects to the
resolved address, while the TLS SNI and the Host header keep the hostname (httpcore takes
those from the request URL, not from what the backend connected to).

Phases, as in blackbox_exporter's prober/http.go, summed over redirects:
resolve (name lookup), connect (TCP handshake), tls (TLS handshake),
processing (request sent until response headers received; blackbox measures to the first
byte, httpcore reports when the headers are parsed, which differs by a few microseconds),
transfer (reading the body; measured by the caller).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

PHASES = ("resolve", "connect", "tls", "processing", "transfer")

# The timer of the request in flight in this task; the backend reads it to add the
# resolve time. A context variable keeps concurrent checks sharing nothing by accident.
CURRENT_TIMER: ContextVar[PhaseTimer | None] = ContextVar("vigil_http_timer", default=None)

# What the probe was doing when an event started: used to say where a timeout hit.
_DOING = {
    "connect_tcp": "connecting",
    "start_tls": "during TLS handshake",
    "send_request_headers": "sending request",
    "send_request_body": "sending request",
    "receive_response_headers": "waiting for response headers",
    "receive_response_body": "reading body",
}


class ResolveError(httpcore.ConnectError):
    """The host name did not resolve; httpx surfaces it as an httpx.ConnectError."""


class PhaseTimer:
    """Collects one probe's phase durations and the TLS peer certificate's expiry."""

    __slots__ = ("durations", "doing", "cert_not_after", "_started")

    def __init__(self) -> None:
        self.durations: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.doing = "connecting"
        self.cert_not_after: float | None = None
        self._started: dict[str, float] = {}

    def add(self, phase: str, seconds: float) -> None:
        self.durations[phase] += max(seconds, 0.0)

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: events look like "connection.start_tls.complete"."""
        now = time.perf_counter()
        _, name, stage = event.split(".", 2)
        if stage == "started":
            self._started[name] = now
            self.doing = _DOING.get(name, self.doing)
            return
        if stage != "complete" or name not in self._started:
            return
        elapsed = now - self._started[name]
        if name == "connect_tcp":
            # The backend already booked the lookup that happened inside connect_tcp.
            self.add("connect", elapsed - self._started.pop("resolve_inside", 0.0))
        elif name == "start_tls":
            self.add("tls", elapsed)
            self.cert_not_after = _peer_cert_not_after(info.get("return_value"))
        elif name == "receive_response_headers":
            sent = self._started.get("send_request_headers", self._started[name])
            self.add("processing", now - sent)

    def booked_resolve(self, seconds: float) -> None:
        self.add("resolve", seconds)
        self._started["resolve_inside"] = self._started.get("resolve_inside", 0.0) + seconds


def _peer_cert_not_after(stream: Any) -> float | None:
    """Leaf certificate expiry from the TLS stream (cheap: the handshake already has it)."""
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if cert and "notAfter" in cert:
        return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    der = ssl_object.getpeercert(binary_form=True)  # unverified connections give no dict
    if not der:
        return None
    from cryptography import x509  # only needed when verify_tls is off

    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


class ResolvingBackend(httpcore.AsyncNetworkBackend):
    """Resolves host names itself so the lookup is timed apart from the TCP connect."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, family: int = socket.AF_UNSPEC) -> None:
        self._inner = inner
        self._family = family

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        timer = CURRENT_TIMER.get()
        start = time.perf_counter()
        if timer is not None:
            timer.doing = f"resolving {host}"
        addresses = await self._resolve(host, port, timeout)
        if timer is not None:
            timer.booked_resolve(time.perf_counter() - start)
            timer.doing = "connecting"
        error: httpcore.ConnectError | None = None
        for address in addresses:  # like Go's dialer: next address when one fails
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None  # _resolve never returns an empty list
        raise error

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, family=self._family,
                                               type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS: timeout resolving {host}") from None
        except socket.gaierror as exc:
            raise ResolveError(f"DNS: cannot resolve {host}: {exc.strerror}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise ResolveError(f"DNS: no address for {host}")
        return addresses

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def install_resolver(transport: httpx.AsyncHTTPTransport, family: int) -> bool:
    """Put a ResolvingBackend under an httpx transport; False if httpcore's layout changed.

    httpx does not expose httpcore's ``network_backend`` parameter, so this sets the
    pool's private ``_network_backend`` (httpcore 1.x reads it each time it opens a
    connection). If the attribute is missing the check still works, with the lookup
    time counted in ``connect`` and ``resolve`` reported as 0.
    """
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if pool is None or not isinstance(inner, httpcore.AsyncNetworkBackend):
        return False
    pool._network_backend = ResolvingBackend(inner, family)  # private attribute: see docstring
    return True
