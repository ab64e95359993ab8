"""`vigil run` with a check hung forever in a FIFO open(): /readyz names the hung family,
and SIGTERM still ends the process with exit code 0 within the unit's TimeoutStopSec
(issue #11: the shared pool's hung threads were joined at exit until systemd's SIGKILL)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "vigil.service"


def timeout_stop_sec() -> float:
    match = re.search(r"^TimeoutStopSec=(\d+)s?$", UNIT.read_text(encoding="utf-8"), re.M)
    assert match, "vigil.service sets no TimeoutStopSec"
    return float(match.group(1))


def test_sigterm_ends_a_daemon_whose_check_hangs_forever_in_a_fifo(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    os.mkfifo(code / "version.php")  # open() for reading blocks: nobody ever writes
    port = free_port()
    config = tmp_path / "vigil.toml"
    config.write_text(f"""
[state]
dir = "state"
[server]
port = {port}
[[lms]]
name = "site"
kind = "moodle"
url = "http://127.0.0.1:9/"
[lms.moodle]
dirroot = "{code}"
[lms.checks.branch]
type = "moodle_branch_support"
interval = "1s"
timeout = "500ms"
""")
    log = (tmp_path / "vigil.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "PYTHONPATH": str(ROOT)})
    try:
        def hung_family() -> list[str]:
            reply = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            problems: list[str] = [] if reply.status_code == 200 else reply.json()["problems"]
            return [p for p in problems if "blocking workers hung in moodle_branch_support"
                    in p]

        [problem] = wait_for(hung_family, 30, "/readyz to report the hung family")
        assert int(problem.split()[0]) >= 4  # the pool's four workers, at least

        proc.send_signal(signal.SIGTERM)
        # A liveness bound, not a timing: systemd would SIGKILL after TimeoutStopSec.
        assert proc.wait(timeout=min(30.0, timeout_stop_sec())) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert "Traceback" not in output
    assert "stopping" in output
