"""Run an ASGI app with uvicorn inside the current event loop, without uvicorn's own
signal handling (the daemon owns SIGTERM/SIGHUP)."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
HEADER_TIMEOUT = 10.0  # a client has this long to send a request's headers
MAX_CONNECTIONS = 256  # Prometheus, a few browsers and the CLI need a handful


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers and a cap
    on open connections, so clients that open sockets and drip bytes (slowloris) are
    dropped instead of being held forever."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            log.warning("refusing a connection: %d open", len(self.connections))
            transport.close()
            return
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        waiting_on = self.cycle
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()

        def expire() -> None:
            if self.cycle is waiting_on and not self.transport.is_closing():
                self.transport.close()  # no new request started in time

        self._header_deadline = self.loop.call_later(HEADER_TIMEOUT, expire)


class EmbeddedServer:
    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", log_config=None, log_level="warning",
            access_log=False, timeout_graceful_shutdown=2, http=BoundedH11Protocol,
            # No WebSocket route exists: without this, uvicorn loads websockets or wsproto
            # whenever one is installed (~1.5 MB RSS) to upgrade requests nothing answers.
            ws="none",
        )
        self._server = uvicorn.Server(self._config)
        self.host, self.port = host, port
        self._started = False

    async def start(self) -> None:
        """Bind and listen; raises OSError (e.g. port in use) so start-up can report it."""
        self._config.load()
        self._server.lifespan = self._config.lifespan_class(self._config)
        # uvicorn exits the process on bind errors; bind ourselves so a busy port is an
        # OSError the caller reports.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        await self._server.startup(sockets=[sock])
        self._started = True
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if not self._started:  # start() failed (e.g. port in use): nothing to shut down
            return
        self._started = False
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._server.shutdown(), timeout=5)
        except (TimeoutError, RuntimeError) as exc:
            log.warning("HTTP server did not shut down cleanly: %s", exc)
