"""Real processes for the fleet tests: Alertmanager instances clustered on loopback,
Vigil daemons (``vigil run`` subprocesses) and a webhook receiver that records posts."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port, wait_for
from tests.test_daemon_process import Vigil as DaemonVigil

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def need_alertmanager() -> None:
    if not Path(ALERTMANAGER).exists():
        pytest.fail("prometheus-alertmanager not installed: run scripts/test.sh, which installs it",
                    pytrace=False)


class Alertmanager:
    """One Alertmanager; ``peers``: the cluster addresses of the others."""

    def __init__(self, work: Path, config: str, peers: list[str] | None = None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        (work / "alertmanager.yml").write_text(config)
        self.port, self.cluster_port = free_port(), free_port()
        self.cluster_address = f"127.0.0.1:{self.cluster_port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (work / "alertmanager.log").open("w")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={work / 'alertmanager.yml'}",
             f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--cluster.listen-address={self.cluster_address}",
             f"--cluster.advertise-address={self.cluster_address}",
             # Loopback gossip settles in well under a second with these; the second
             # instance waits 3 s for the first one's notification log before sending.
             "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s",
             "--cluster.peer-timeout=3s",
             *(f"--cluster.peer={peer}" for peer in peers or [])],
            stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for(lambda: httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200, 30,
                 f"alertmanager on {self.port} ready")

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def peers(self) -> int:
        return len(self.get("/api/v2/status")["cluster"].get("peers") or [])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Webhook:
    """The receiver behind Alertmanager: records every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with hook._lock:
                    hook.posts.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def firing_for(self, lms: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.posts if p.get("status") == "firing"
                    and any(a["labels"].get("lms") == lms for a in p.get("alerts", []))]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Vigil(DaemonVigil):
    """``vigil run`` as a subprocess with its own config and state directory."""

    def __init__(self, work: Path, config: str, *args: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (work / "vigil.toml").write_text(config.replace("{port}", str(self.port))
                                         .replace("{state}", str(work / "state")))
        super().__init__(work / "vigil.toml", self.port, *args)

    def ready(self) -> bool:
        # /healthz, not /readyz: on a loaded machine a 1 s check may skip a run, which
        # /readyz reports for five minutes; the test needs the API up, nothing more.
        return httpx.get(self.api + "/healthz", timeout=2).status_code == 200

    def metrics(self) -> str:
        return httpx.get(self.api + "/metrics", timeout=5).text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
