"""A result stored but not judged (the process died between the two transactions) is
judged when the daemon starts again; a state judged already is not judged twice."""

from __future__ import annotations

from pathlib import Path

from monitor.app.config import parse_config
from monitor.app.daemon import Daemon
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.result import Result, Status
from tests.conftest import FakeClock

NOW = 1_800_000_000.0


def _config(tmp_path: Path) -> str:
    return f"""
[state]
dir = "{tmp_path / 'state'}"
[server]
enabled = false
[alerts]
failure_threshold = 1
[[lms]]
name = "campus"
url = "http://127.0.0.1:9/"
[lms.checks.http]
interval = 3600
"""


async def test_a_stored_failure_that_was_never_judged_fires_at_start(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    store = StateStore(tmp_path / "state" / STATE_FILE)
    store.record_result("campus", "http", "http", Result(Status.CRITICAL, "HTTP 503"),
                        NOW - 30, 0.1)  # ... and the process was killed here
    store.close()
    for restart in range(2):
        daemon = Daemon(config, clock=FakeClock(NOW + restart))
        await daemon.start()
        try:
            firing = daemon.store.firing_alerts()
            assert [(a.lms, a.check, a.summary) for a in firing] == [
                ("campus", "http", "HTTP 503")]
            events = daemon.store.alert_events(firing[0].fingerprint)
            assert [e.kind for e in events] == ["firing"]  # the second start adds nothing
        finally:
            await daemon.stop()
