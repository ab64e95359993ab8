"""A loopback HTTP server for LMS stand-ins (tests/canvas_double, tests/openedx_double).

Only the plumbing: each double supplies ``route(method, path, headers) -> Reply``
transcribed from the LMS's source, and ``post_route(path, headers, body) -> Reply`` if it
takes POSTs (login forms). A path can be made slow; ``close()`` releases any request
still waiting, so no test waits for a sleeping handler.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # one Set-Cookie header each

    def with_cookies(self, *cookies: str) -> Reply:
        self.cookies.extend(cookies)
        return self

    @classmethod
    def json(cls, status: int, value: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(value).encode(), headers=dict(headers))

    @classmethod
    def html(cls, status: int, text: str, **headers: str) -> Reply:
        return cls(status, text.encode(), "text/html; charset=utf-8", dict(headers))


Route = Callable[[str, str, Mapping[str, str]], Reply]
PostRoute = Callable[[str, Mapping[str, str], bytes], Reply]


class DoubleServer:
    """Serves ``route`` on 127.0.0.1; ``slow[path] = True`` holds that path until close()."""

    def __init__(self, route: Route, post_route: PostRoute | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.slow: dict[str, bool] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def _answer(self, method: str) -> None:
                path = urlsplit(self.path).path
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length") or 0))
                server.requests.append((method, self.path, headers))
                if server.slow.get(path):
                    server._release.wait(30)  # until the test closes the server
                    return
                if method == "GET":
                    reply = route("GET", self.path, headers)
                elif post_route is not None:
                    reply = post_route(self.path, headers, body)
                else:
                    reply = Reply.html(405, "<html><title>405 Method Not Allowed</title></html>")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    for cookie in reply.cookies:
                        self.send_header("Set-Cookie", cookie)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the probe gave up first

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:  # HTTPS with the test's certificate (trustme)
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
