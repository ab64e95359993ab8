"""The daemon wiring of the maintenance lifecycle: a [[maintenance]] window from the config
switches the fake Moodle site's maintenance mode as soon as the daemon starts inside it,
and the scheduled moodle_maintenance check sees the window (no alert)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.app.config import parse_config
from monitor.app.daemon import Daemon
from monitor.kernel.result import Status
from tests.conftest import FakeClock
from tests.moodle_double.sitedir import make_site

START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def _config(tmp_path: Path, php: Path, dirroot: Path, dataroot: Path) -> str:
    return f"""
[state]
dir = "{tmp_path / 'state'}"
[server]
enabled = false
[[lms]]
name = "campus"
kind = "moodle"
[lms.moodle]
dirroot = "{dirroot}"
dataroot = "{dataroot}"
[lms.moodle.cli]
php = "{php}"
timeout = 10
[lms.checks.moodle_maintenance]
interval = 3600
[[maintenance]]
name = "Moodle upgrade"
lms = "campus"
timezone = "Europe/Berlin"
start = "2027-01-15T08:30:00"
end = "2027-01-15T10:00:00"
[maintenance.actions]
lms_maintenance_mode = true
"""


async def test_the_daemon_runs_the_lifecycle_and_tells_checks_about_windows(
        tmp_path: Path) -> None:
    site = make_site(tmp_path, "4.5")
    config = parse_config(_config(tmp_path, site.php, site.root, site.dataroot))
    clock = FakeClock(START + 60)  # 09:01 Berlin: inside the window
    daemon = Daemon(config, clock=clock)
    await daemon.start()
    try:
        for _ in range(100):  # the first step runs right away, the CLI in a thread
            if (site.dataroot / "climaintenance.html").exists():
                break
            await asyncio.sleep(0.05)
        assert (site.dataroot / "climaintenance.html").exists()
        results = await daemon.scheduler.run_now(["campus/moodle_maintenance"])
        result = results["campus/moodle_maintenance"]
        assert result.status == Status.OK
        assert "covered by a Vigil maintenance window" in result.summary
    finally:
        daemon.request_stop()
        await daemon.stop()

