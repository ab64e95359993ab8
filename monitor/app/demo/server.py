"""Serves the demo LMS (monitor/app/demo/lms.py) on real sockets, with faults switched live.

Used by ``vigil demo`` (monitor/app/demo/command.py) and by tests that need a real Moodle-like HTTP
server on loopback (tests/test_demo_lms.py, the Moodle availability probe's tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from monitor.app.demo.faults import FaultController, FaultSchedule
from monitor.app.demo.lms import DemoSite, create_app
from monitor.app.demo.sink import WebhookSink, create_control_app
from monitor.app.demo.tls import write_demo_certificate

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn swaps SIGINT/SIGTERM handlers while it serves and restores them when it
        # stops; listeners stopped and started out of order (the "down" fault) would
        # leave stale handlers. Signals belong to the process that embeds the demo.
        yield


@dataclass
class _Listener:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int


class DemoServer:
    """Serves the demo LMS on real sockets in the running event loop.

    Listeners: the LMS over HTTP (``url``), optionally over HTTPS with a short-lived
    certificate (``https_url``, when ``tls_dir`` is given), and a control listener
    (``control_url``, ``webhook_url``) that stays up during "down" so alerts about the
    outage still reach the webhook sink.
    """

    def __init__(self, site: DemoSite | None = None, *, faults: FaultController | None = None,
                 tls_dir: Path | None = None, cert_days: float = 14.0) -> None:
        self.site = site or DemoSite()
        self.faults = faults or FaultController()
        self.sink = WebhookSink()
        self.app = create_app(self.site, self.faults, self.sink)
        self.control_app = create_control_app(self.sink, self.set_fault)
        self.certificate = write_demo_certificate(tls_dir, days=cert_days) if tls_dir else None
        self._host = "127.0.0.1"
        self._listeners: dict[str, _Listener] = {}
        self._ports: dict[str, int] = {}
        self._reopened: set[str] = set()
        self._lock = asyncio.Lock()

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, https_port: int = 0,
                    control_port: int = 0) -> None:
        """Bind and serve; port 0 picks a free port (read it back from ``url``)."""
        self._host = host
        self._ports = {"http": port, "https": https_port, "control": control_port}
        await self._open("control")
        if self.faults.fault != "down":
            await self._open_lms()

    @property
    def url(self) -> str:
        return self._url("http", "http")

    @property
    def https_url(self) -> str | None:
        return self._url("https", "https") if self.certificate else None

    @property
    def control_url(self) -> str:
        return self._url("http", "control")

    @property
    def webhook_url(self) -> str:
        return f"{self.control_url}/_demo/webhook"

    async def set_fault(self, name: str) -> None:
        """Switch fault; "down" closes the LMS listeners, leaving it reopens them."""
        FaultController(name)  # validate before changing anything
        async with self._lock:
            previous = self.faults.fault
            if name == previous:
                return
            if name == "down":
                self.faults.fault = name
                await asyncio.gather(self._close("http"), self._close("https"))
            else:
                if previous == "down" and "control" in self._listeners:
                    await self._open_lms()
                self.faults.fault = name
            log.info("demo LMS fault: %s -> %s", previous, name)

    async def run_schedule(self, schedule: FaultSchedule, *,
                           clock: Callable[[], float] = time.monotonic,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Follow ``schedule`` until cancelled; the clock and sleep are injectable."""
        start = clock()
        while True:
            elapsed = clock() - start
            await self.set_fault(schedule.fault_at(elapsed))
            await sleep(schedule.seconds_until_change(elapsed))

    async def stop(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._close(kind) for kind in list(self._listeners)))

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _url(self, scheme: str, kind: str) -> str:
        if kind not in self._ports:
            raise RuntimeError("DemoServer.start() has not run")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self._ports[kind]}"

    async def _open_lms(self) -> None:
        await self._open("http")
        if self.certificate:
            await self._open("https")

    async def _open(self, kind: str) -> None:
        cert = self.certificate if kind == "https" else None
        config = uvicorn.Config(
            self.control_app if kind == "control" else self.app, lifespan="off",
            log_config=None, log_level="warning", access_log=False, timeout_graceful_shutdown=1,
            ssl_certfile=cert.cert_file if cert else None,
            ssl_keyfile=cert.key_file if cert else None)
        server = _QuietServer(config)
        # Retry only when reopening after "down": the old socket may still be closing.
        sock = await _bind(self._host, self._ports[kind], retry=kind in self._reopened)
        self._reopened.add(kind)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-lms-{kind}")
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the start-up
                raise RuntimeError(f"demo LMS {kind} listener stopped during start-up")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self._ports[kind] = port  # a restart after "down" reuses the port clients know
        self._listeners[kind] = _Listener(server, task, port)

    async def _close(self, kind: str) -> None:
        listener = self._listeners.pop(kind, None)
        if listener is None:
            return
        # An outage, not a graceful stop: do not wait for open requests to finish.
        listener.server.should_exit = listener.server.force_exit = True
        try:
            await asyncio.wait_for(listener.task, timeout=5)
        except TimeoutError:
            log.warning("demo LMS %s listener did not stop within 5 s", kind)


async def _bind(host: str, port: int, *, retry: bool) -> socket.socket:
    """A bound TCP socket; binding it ourselves keeps uvicorn's sys.exit() on errors out."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(50 if retry else 1):
        if attempt:
            await asyncio.sleep(0.1)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error
