"""The alert snapshot's ``status`` (alerts/snapshot.py), the field routers and notifiers
read to tell a problem from its end. Table-driven over the alert's state and flag."""

from __future__ import annotations

import pytest

from alerts.messages import Renderer
from alerts.snapshot import build_snapshot
from alerts.store import AlertRecord
from monitor.kernel.result import Status

T0 = 1_800_000_000.0


def _alert(state: str, flapping: bool) -> AlertRecord:
    return AlertRecord(
        fingerprint="0123456789abcdef", lms="moodle-prod", check="http", state=state,
        status=Status.CRITICAL if state == "firing" else Status.OK, summary="HTTP 503",
        labels={}, started_at=T0, resolved_at=None if state == "firing" else T0 + 60,
        transition=1 if state == "firing" else 0, severity="critical", flapping=flapping)


@pytest.mark.parametrize(("kind", "state", "flapping", "status"), [
    ("firing", "firing", False, "firing"),
    ("resolved", "ok", False, "resolved"),
    # Flapping before (or without) ever firing is still a problem to tell.
    ("flapping", "ok", True, "firing"),
    ("flapping", "firing", True, "firing"),
    # The end of flapping follows where the alert ended up.
    ("flapping_end", "ok", False, "resolved"),
    ("flapping_end", "firing", False, "firing"),
])
def test_status_is_firing_while_the_alert_fires_or_flaps(
    kind: str, state: str, flapping: bool, status: str
) -> None:
    snapshot = build_snapshot(kind, _alert(state, flapping), T0 + 120, check_type="http",
                              state=None, renderer=Renderer())
    assert (snapshot["kind"], snapshot["status"], snapshot["flapping"]) == (kind, status,
                                                                            flapping)
    # An open problem has no end time; an ended one keeps the alert's.
    assert snapshot["ended_at"] == (None if status == "firing" else T0 + 60)
