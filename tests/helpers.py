"""Helpers for tests that run real processes: free ports, waiting, a tiny HTTP target."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until ``predicate`` returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                         f"(last error: {last_error})")


class TargetServer:
    """A local web server whose response the test can change while it runs."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"<html><form id='login'><input name='logintoken' value='x'></form></html>"
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                status = server.status
                server.requests.append({"path": self.path, "body": payload, "answered": status})
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def json_bodies(self, answered: int | None = None) -> list[Any]:
        """Bodies received, optionally only those the server answered with ``answered``."""
        return [json.loads(r["body"]) for r in self.requests
                if r["body"] and answered in (None, r["answered"])]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
