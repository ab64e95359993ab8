"""Fixtures for the alerting tests: a real state store, states, a real HTTP receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.app.store import StateStore
from monitor.kernel.result import Result, Status
from monitor.state.store import CheckState


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    db = StateStore(tmp_path / "state.sqlite")
    yield db
    db.close()


def make_state(
    status: Status, *, lms: str = "moodle-prod", check: str = "homepage",
    check_type: str = "http", consecutive_ok: int = 0, consecutive_fail: int = 0,
    summary: str | None = None, ran_at: float = 1000.0,
) -> CheckState:
    result = Result(status, summary or f"{status.name} summary", details={"code": 503})
    return CheckState(lms, check, check_type, result, ran_at, 0.1, consecutive_ok,
                      consecutive_fail, ran_at)


@pytest.fixture
def state_factory() -> Callable[..., CheckState]:
    return make_state


class RecordingNotifier:
    """Records what it was given; raises the queued errors first."""

    def __init__(self, errors: list[Exception] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.errors = list(errors or [])
        self.closed = False

    async def send(self, notification: dict[str, Any]) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(notification)

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def recording_notifier() -> type[RecordingNotifier]:
    return RecordingNotifier


# -- a real HTTP receiver -------------------------------------------------------
@dataclass
class Receiver:
    """What the test server answers and what it received."""

    url: str
    statuses: list[int] = field(default_factory=list)  # answers in order, then 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies the server accepted (answered 2xx)."""
        return [r["body"] for r in self.requests if 200 <= r["status"] < 300]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(body), "status": status})
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out on purpose leaves a broken pipe behind: expected.
        return None


@pytest.fixture
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    server = _QuietServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()
