"""`vigil run` as a real process: API, reload on SIGHUP, stop on SIGTERM, alerts delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import TargetServer, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def write_config(path: Path, api_port: int, target: TargetServer, hook: TargetServer,
                 extra: str = "") -> None:
    path.write_text(f"""
[state]
dir = "state"
[server]
port = {api_port}
[alerts]
failure_threshold = 2
success_threshold = 1
[alerts.retry]
initial_backoff = "200ms"
max_backoff = "1s"
[[alerts.receivers]]
name = "log"
type = "log"
[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "{hook.url}/hook"
[[lms]]
name = "site"
url = "{target.url}"
[lms.checks.http]
interval = "1s"
timeout = "900ms"
keyword = ["logintoken"]
[lms.checks.refused]
type = "tcp"
host = "127.0.0.1"
port = {free_port()}
interval = "1s"
timeout = "900ms"
[lms.checks.nxdomain]
type = "http"
url = "http://does-not-exist.invalid/"
interval = "1s"
timeout = "900ms"
{extra}
""")


class Vigil:
    def __init__(self, config: Path, api_port: int) -> None:
        self.log = (config.parent / "vigil.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run", "-c", str(config)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.api = f"http://127.0.0.1:{api_port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.api + path, timeout=5)

    def checks(self) -> dict[str, dict]:
        return {c["check"]: c for c in self.get("/api/v1/checks").json()["checks"]}

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


@pytest.fixture
def servers() -> Iterator[tuple[TargetServer, TargetServer]]:
    target, hook = TargetServer(), TargetServer()
    yield target, hook
    target.close()
    hook.close()


@pytest.fixture
def vigil(tmp_path: Path, servers: tuple[TargetServer, TargetServer]) -> Iterator[Vigil]:
    port = free_port()
    write_config(tmp_path / "vigil.toml", port, *servers)
    daemon = Vigil(tmp_path / "vigil.toml", port)
    try:
        wait_for(lambda: daemon.get("/readyz").status_code == 200, 20, "vigil /readyz")
        yield daemon
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        daemon.log.close()


def test_daemon_reports_bad_targets_and_keeps_running(vigil: Vigil) -> None:
    checks = wait_for(lambda: (c := vigil.checks()) and len(c) == 3 and c, 15, "three results")
    assert checks["http"]["status"] == "OK"
    assert checks["refused"]["status"] == "CRITICAL"
    assert "refused" in checks["refused"]["summary"].lower()
    assert checks["nxdomain"]["status"] == "CRITICAL"
    assert vigil.get("/healthz").json()["status"] == "ok"
    assert vigil.proc.poll() is None


def test_alerts_fire_and_reach_a_webhook_that_fails_then_recovers(
    vigil: Vigil, servers: tuple[TargetServer, TargetServer]
) -> None:
    target, hook = servers
    hook.status = 500
    target.body = b"<html>It works!</html>"  # wrong content: no login form
    alerts = wait_for(lambda: [a for a in vigil.get("/api/v1/alerts").json()["alerts"]
                               if a["check"] == "http"], 20, "an http alert")
    assert alerts[0]["state"] == "firing"
    wait_for(lambda: len(hook.requests) >= 2, 20, "webhook retries")
    hook.status = 200
    def delivered_http_firing() -> list:
        return [a for body in hook.json_bodies(answered=200) for a in body["alerts"]
                if a["labels"].get("check") == "http" and a["status"] == "firing"]

    assert wait_for(delivered_http_firing, 30, "delivery after the receiver recovered")
    metrics = vigil.get("/metrics").text
    assert 'vigil_notifications_total{outcome="retry",receiver="hook"}' in metrics
    target.body = b"<html><input name='logintoken'></html>"
    wait_for(lambda: not [a for a in vigil.get("/api/v1/alerts").json()["alerts"]
                          if a["check"] == "http"], 20, "the http alert to resolve")
    wait_for(lambda: any(b["status"] == "resolved" for b in hook.json_bodies()), 20,
             "the resolved notification")


def test_sighup_applies_a_valid_config_and_rejects_an_invalid_one(
    vigil: Vigil, tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(config.read_text() + "\n[lms.checks.oops]\ntype = \"http\"\ntimeout = -1\n")
    vigil.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload rejected" in vigil.output(), 10, "rejection in the log")
    assert "lms[0].checks.oops.timeout: must be > 0" in vigil.output()
    assert vigil.proc.poll() is None
    assert vigil.get("/readyz").status_code == 200

    config.write_text(config.read_text().replace("timeout = -1", 'timeout = "500ms"\n'
                                                 'interval = "1s"'))
    vigil.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "oops" in vigil.checks(), 15, "the new check to run")
    assert "1 added, 0 removed, 0 changed, 3 unchanged" in vigil.output()


def test_sigterm_stops_within_ten_seconds(vigil: Vigil) -> None:
    wait_for(lambda: len(vigil.checks()) == 3, 15, "first results")
    started = time.monotonic()
    vigil.proc.send_signal(signal.SIGTERM)
    assert vigil.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
