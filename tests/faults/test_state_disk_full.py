"""The state directory's disk fills up under a running daemon: /readyz says why it is not
ready, on-call hears it without the state file, and it recovers by itself when there is
room again. A real `vigil run` on a real (tiny) tmpfs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import TargetServer, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "state"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root (the test command runs as root, as CI does): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    yield where
    subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def hook_text(hook: TargetServer) -> str:
    return b"".join(r["body"] for r in hook.requests).decode(errors="replace")


def test_a_full_state_disk_is_not_ready_is_told_and_recovers(small_disk: Path,
                                                             tmp_path: Path) -> None:
    target, hook = TargetServer(), TargetServer()
    port = free_port()
    config = tmp_path / "vigil.toml"
    config.write_text(f"""
[state]
dir = "{small_disk}"
[server]
port = {port}
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
""")
    log = (tmp_path / "vigil.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    api = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(api + "/readyz").status_code == 200, 20, "ready")
        filler = fill(small_disk)
        wait_for(lambda: httpx.get(api + "/readyz").status_code == 503, 20, "not ready")
        answer = httpx.get(api + "/readyz")
        assert "write(s) failed" in answer.text and "full" in answer.text
        wait_for(lambda: "Vigil cannot save its state" in hook_text(hook)
                 or "cannot write its state database" in hook_text(hook), 20,
                 "on-call told without the state file")
        metrics = httpx.get(api + "/metrics").text  # still serving while blind, and says so
        assert "vigil_state_writes_failing 1.0" in metrics
        assert "vigil_state_write_failures_total 0.0" not in metrics
        filler.unlink()
        wait_for(lambda: httpx.get(api + "/readyz").status_code == 200, 20, "ready again")
        wait_for(lambda: "saves to" in hook_text(hook), 30, "the recovery delivered")
        before = httpx.get(api + "/api/v1/checks").json()["checks"][0]["ran_at"]
        wait_for(lambda: httpx.get(api + "/api/v1/checks").json()["checks"][0]["ran_at"]
                 > before, 10, "results saved again")
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        log.seek(0)
        output = log.read()
        log.close()
        target.close()
        hook.close()
    assert "Traceback" not in output
    assert output.count("could not record the result") == 1  # told once, not every second
