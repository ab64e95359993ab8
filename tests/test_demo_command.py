"""`vigil demo` starts the demo LMS and the daemon, checks run, and it stops cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.app.demo.command import demo_config_text
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_demo_config_is_the_documented_example() -> None:
    assert demo_config_text() == (ROOT / "examples" / "demo.toml").read_text()


def test_demo_runs_checks_and_stops_after_its_duration(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--state-dir", str(tmp_path / "state"),
         "--port", str(port), "--duration", "8"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"http://127.0.0.1:{port}/metrics" in proc.stdout
    assert "fault schedule" in proc.stdout
    assert "Demo stopped" in proc.stdout
    assert (tmp_path / "state" / "vigil.sqlite3").exists()
    assert "Traceback" not in proc.stderr
