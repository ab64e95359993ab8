"""A local stand-in for Moodle's update feed (https://download.moodle.org/api/1.3/updates.php)
on 127.0.0.1, for the update probe's tests.

It answers a form POST as the real feed does, in the shape Moodle's checker validates
(moodle/moodle public/lib/classes/update/checker.php validate_response(), body as in
public/lib/tests/fixtures/testable_update_checker.php): {status: "OK", provider, apiver:
"1.3", timegenerated, forversion, forbranch, ticket, updates: {core: [...], <component>:
[...]}}, each update {version, release, maturity, url, download, downloadmd5[, requires]}.
Core updates are the known releases above the POSTed ``version``; plugin updates the known
versions above each POSTed ``component@version``. Every request's form is recorded.

``mode`` breaks it on purpose: "garbage" (not JSON), "http500", "slow" (answers after
``delay`` seconds), "apiver" (apiver 1.2), "status" (status "ERROR"), "branch" (an answer
for another branch), "empty" (an empty body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

PROVIDER = "https://download.moodle.org/api/1.3/updates.php"


def core_release(version: float, release: str, maturity: int = 200) -> dict[str, Any]:
    """One core entry as the feed lists it (download URL shaped like download.moodle.org's)."""
    branch = release.split(" ")[0].rstrip("+")
    major = "".join(f"{int(p):02d}" if i else p for i, p in enumerate(branch.split(".")[:2]))
    return {"version": version, "release": release, "maturity": maturity,
            "url": "https://download.moodle.org",
            "download": f"https://download.moodle.org/download.php/direct/stable{major}/"
                        f"moodle-{branch}.zip",
            "downloadmd5": "0123456789abcdef0123456789abcdef"}


def plugin_release(version: int, release: str, requires: int = 2024100700,
                   maturity: int = 200) -> dict[str, Any]:
    return {"version": version, "release": release, "maturity": maturity, "requires": requires,
            "url": "https://moodle.org/plugins/", "download":
            f"https://moodle.org/plugins/download.php/{version}/plugin.zip",
            "downloadmd5": "fedcba9876543210fedcba9876543210"}


@dataclass
class FeedServer:
    core: list[dict[str, Any]] = field(default_factory=list)
    plugins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mode: str = "ok"
    delay: float = 5.0
    requests: list[dict[str, str]] = field(default_factory=list)
    ticket: str = "f3b1c0ffee"
    url: str = ""
    _release: threading.Event = field(default_factory=threading.Event)

    def answer(self, form: dict[str, str]) -> dict[str, Any]:
        version = float(form.get("version", "0"))
        updates: dict[str, list[dict[str, Any]]] = {}
        core = [r for r in self.core if r["version"] > version]
        if core:
            updates["core"] = core
        for item in filter(None, form.get("plugins", "").split(",")):
            component, _, installed = item.partition("@")
            offered = [r for r in self.plugins.get(component, [])
                       if r["version"] > float(installed or 0)]
            if offered:
                updates[component] = offered
        branch = form.get("branch", "")
        return {"status": "ERROR" if self.mode == "status" else "OK", "provider": PROVIDER,
                "apiver": "1.2" if self.mode == "apiver" else "1.3",
                "timegenerated": int(time.time()), "forversion": form.get("version"),
                "forbranch": "3.9" if self.mode == "branch" else branch,
                "ticket": self.ticket, "updates": updates or []}

    def body(self, form: dict[str, str]) -> tuple[int, bytes]:
        if self.mode == "http500":
            return 500, b"<h1>Internal Server Error</h1>"
        if self.mode == "garbage":
            return 200, b"<html><body>Proxy login required \xff\xfe</body></html>"
        if self.mode == "empty":
            return 200, b""
        if self.mode == "slow":
            self._release.wait(self.delay)
        return 200, json.dumps(self.answer(form)).encode()


def _handler(feed: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            feed.requests.append(form)
            status, body = feed.body(form)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_feed(feed: FeedServer) -> Iterator[FeedServer]:
    """Serve ``feed`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(feed))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    feed.url = f"http://127.0.0.1:{server.server_address[1]}/api/1.3/updates.php"
    try:
        yield feed
    finally:
        feed._release.set()  # a "slow" answer still waiting ends now
        server.shutdown()
        server.server_close()
