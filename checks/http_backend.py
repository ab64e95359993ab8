"""The network layer under the `http` check (checks/http_direct.py, and httpx's transport).

checks/http_direct.py, or httpx -> httpcore pool -> ``ResolvingBackend`` (this module) -> asyncio.
Two jobs:
- Resolve the host name itself, so the lookup is timed apart from the TCP connect
  (blackbox_exporter's ``resolve`` phase); it then connects to the resolved address while
  the TLS SNI and the Host header keep the hostname (httpcore takes those from the URL).
- Talk to asyncio streams directly instead of through anyio (httpcore's default): the
  same behaviour for a one-request connection at ~20% less CPU per plain-HTTP probe,
  which matters for the CPU-per-1000-checks benchmark against blackbox_exporter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from typing import Any

import httpcore
import httpx

from checks.http_timing import CURRENT_TIMER


class ResolveError(httpcore.ConnectError):
    """The host name did not resolve; httpx surfaces it as an httpx.ConnectError."""


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (later TLS) connection as httpcore wants it, on asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        # Abort rather than close: a probe has nothing left to send, and a graceful TLS
        # shutdown would keep running on the loop after the check has returned.
        self._writer.transport.abort()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # ssl.SSLError is an OSError
            await self.aclose()
            raise httpcore.ConnectError(exc) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # asked before reusing a pooled connection: never here
            return self._reader.at_eof()
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        return self._writer.get_extra_info(name)  # ssl_object, socket, ...


class ResolvingBackend(httpcore.AsyncNetworkBackend):
    """Resolves host names itself (timed), then connects with asyncio."""

    def __init__(self, family: int = socket.AF_UNSPEC) -> None:
        self._family = family

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        reader, writer = await self.open(host, port, timeout, local_address)
        return AsyncioStream(reader, writer)

    async def open(self, host: str, port: int, timeout: float | None = None,
                   local_address: str | None = None,
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Resolve (booked on the probe's PhaseTimer) and connect; httpcore errors.

        ``timeout`` None: no timer of its own (checks/http_direct.py bounds the whole
        probe instead, which spares an asyncio.timeout per step)."""
        timer = CURRENT_TIMER.get()
        start = time.perf_counter()
        if timer is not None:
            timer.doing = f"resolving {host}"
        addresses = await self._resolve(host, port, timeout)
        if timer is not None:
            timer.booked_resolve(time.perf_counter() - start)
            timer.doing = "connecting"
        error: Exception | None = None
        local = (local_address, 0) if local_address else None
        for address in addresses:  # like Go's dialer: next address when one fails
            try:
                if timeout is None:
                    return await asyncio.open_connection(address, port, local_addr=local)
                async with asyncio.timeout(timeout):
                    return await asyncio.open_connection(address, port, local_addr=local)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(exc) from exc
            except OSError as exc:
                error = exc
        raise httpcore.ConnectError(error) from error

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):  # rare: names are looked up, IPs are not
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
        raise httpcore.ConnectError("unix sockets are not probed by the http check")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def install_backend(transport: httpx.AsyncHTTPTransport, family: int) -> bool:
    """Put a ResolvingBackend under an httpx transport; False if httpcore's layout changed.

    httpx does not expose httpcore's ``network_backend`` parameter, so this sets the
    pool's private ``_network_backend`` (httpcore 1.x reads it each time it opens a
    connection). If the attribute is missing the check still works on httpcore's own
    backend, with the lookup time counted in ``connect`` and ``resolve`` reported as 0.
    """
    pool = getattr(transport, "_pool", None)
    if pool is None or not isinstance(getattr(pool, "_network_backend", None),
                                      httpcore.AsyncNetworkBackend):
        return False
    pool._network_backend = ResolvingBackend(family)  # private attribute: see docstring
    return True
