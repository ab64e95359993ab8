"""`vigil run` as a real process with ``[report]``: the daemon files the report of the
period that just ended (here hourly, so the test need not wait for a Monday)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TargetServer, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[state]
dir = "state"
[server]
port = {port}
[[lms]]
name = "site"
url = "{url}"
[lms.checks.http]
interval = "5s"
timeout = "2s"
[report]
every = "1h"
directory = "{out}"
"""


@pytest.mark.integration
def test_the_daemon_files_the_report_of_the_period_that_ended(tmp_path):
    target, out = TargetServer(), tmp_path / "reports"
    config = tmp_path / "vigil.toml"
    config.write_text(CONFIG.format(port=free_port(), url=target.url, out=out))
    log = (tmp_path / "vigil.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        [report] = wait_for(lambda: list(out.glob("site-*.html")), 60, "the report file")
        html = report.read_text(encoding="utf-8")
        assert "<h1>Vigil report: site</h1>" in html and "<h2>Availability</h2>" in html
        assert proc.poll() is None  # still running
        assert not list(out.glob("*.part"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        target.close()
    assert "Traceback" not in (tmp_path / "vigil.log").read_text()
