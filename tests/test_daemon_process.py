"""`vigil run` as a real process: API, reload on SIGHUP, stop on SIGTERM, alerts delivered."""

from __future__ import annotations

import json
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
# Short grouping so the test waits seconds, not the production minute.
[alerts.route]
group_wait = "1s"
group_interval = "2s"
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
    def __init__(self, config: Path, api_port: int, *args: str) -> None:
        self.log = (config.parent / "vigil.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), *args],
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
    # Alerts of one LMS are grouped: the body stays "firing" while its other checks fail.
    wait_for(lambda: any(a["status"] == "resolved" and a["labels"].get("check") == "http"
                         for b in hook.json_bodies() for a in b["alerts"]), 20,
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


def test_a_busy_api_port_is_a_clear_error_not_a_traceback(
    tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        write_config(tmp_path / "vigil.toml", port, *servers)
        proc = subprocess.run([sys.executable, "-m", "monitor", "run", "-c",
                               str(tmp_path / "vigil.toml")], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
    assert proc.returncode == 1
    assert "cannot start" in proc.stderr and "Address already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_config_file_exits_2_with_its_name(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor", "run", "-c",
                           str(tmp_path / "nope.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert "nope.toml" in proc.stderr and "file not found" in proc.stderr


def test_daemon_speaks_sd_notify_ready_watchdog_and_stopping(
    tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    import socket

    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(sock_path))
        listener.settimeout(15)
        port = free_port()
        write_config(tmp_path / "vigil.toml", port, *servers)
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c",
                                 str(tmp_path / "vigil.toml")], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seen: list[str] = []

            def receive_until(field: str) -> None:
                while not any(field in message for message in seen):
                    seen.append(listener.recv(4096).decode())

            receive_until("READY=1")
            receive_until("WATCHDOG=1")
            proc.send_signal(signal.SIGTERM)
            receive_until("STOPPING=1")
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_check_command_prints_nagios_output_and_exit_code(
    tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    write_config(tmp_path / "vigil.toml", free_port(), *servers)

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", "check", "-c",
                               str(tmp_path / "vigil.toml"), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    ok = check("--lms", "site", "--check", "http")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("VIGIL OK - site/http: HTTP 200")
    assert "'site/http/lms_http_duration_seconds{phase:connect}'=" in ok.stdout
    refused = check("--check", "refused")
    assert refused.returncode == 2 and refused.stdout.startswith("VIGIL CRITICAL - site/refused")
    everything = check("--format", "json")
    assert everything.returncode == 2
    assert {c["check"] for c in json.loads(everything.stdout)} == {
        "site/http", "site/refused", "site/nxdomain"}
    nothing = check("--lms", "nope")
    assert nothing.returncode == 3 and "no checks matched" in nothing.stdout


def test_a_damaged_state_file_is_moved_aside_and_the_daemon_starts(
    tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "vigil.sqlite3").write_bytes(b"\x00garbage, not SQLite\n" * 50)
    port = free_port()
    write_config(tmp_path / "vigil.toml", port, *servers)
    daemon = Vigil(tmp_path / "vigil.toml", port)
    try:
        wait_for(lambda: daemon.get("/readyz").status_code == 200, 20, "vigil /readyz")
        moved = list(state.glob("vigil.sqlite3.corrupt-*"))
        assert len(moved) == 1 and moved[0].read_bytes().startswith(b"\x00garbage")
        wait_for(lambda: "rebuilt its state database" in b"".join(
            r["body"] for r in servers[1].requests).decode(errors="replace"), 20,
                 "the webhook told of the rebuilt state file")
        assert "damaged" in daemon.output() and "Traceback" not in daemon.output()
    finally:
        daemon.proc.kill()
        daemon.proc.wait()
        daemon.log.close()


def test_a_state_file_that_cannot_be_opened_is_one_line_and_exit_4(
    tmp_path: Path, servers: tuple[TargetServer, TargetServer]
) -> None:
    (tmp_path / "state" / "vigil.sqlite3").mkdir(parents=True)  # a directory in its place
    write_config(tmp_path / "vigil.toml", free_port(), *servers)
    proc = subprocess.run([sys.executable, "-m", "monitor", "run", "-c",
                           str(tmp_path / "vigil.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 4
    assert "cannot start: cannot open state database" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "state" / "vigil.sqlite3").is_dir()


def test_the_daemon_guards_its_http_server(vigil: Vigil) -> None:
    rebound = httpx.get(vigil.api + "/api/v1/checks", headers={"Host": "evil.example"})
    assert rebound.status_code == 421
    huge = httpx.post(vigil.api + "/maintenance", content=b"x" * 2_000_000,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    page = vigil.get("/")
    assert page.headers["x-frame-options"] == "DENY"
