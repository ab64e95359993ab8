"""alerts/incidents.py over hand-written event rows: what counts as an incident."""

from __future__ import annotations

from alerts.incidents import incidents_of, mean
from alerts.store import AlertRecord, EventRow
from monitor.kernel.result import Status

ALERT = AlertRecord("fp", "prod", "cron", "ok", Status.OK, "", {}, None, None, 6)


def _row(n: int, transition: int, kind: str, at: float, route: str = "routed",
         by: str | None = None) -> EventRow:
    payload = {"acknowledged": {"by": by}} if by else {}
    return EventRow(n, "fp", transition, kind, at, f"{kind} {n}", None, "critical", route,
                    payload)


def test_an_alert_held_behind_its_parent_is_not_a_second_incident():
    rows = [_row(1, 1, "firing", 100, "suppressed:dependency"), _row(2, 2, "resolved", 160),
            _row(3, 3, "firing", 200, "suppressed:maintenance:w1"),
            _row(4, 3, "acknowledged", 230, by="dana"), _row(5, 4, "resolved", 500),
            _row(6, 5, "firing", 900), _row(7, 6, "resolved", 2000)]
    found = incidents_of(ALERT, rows, since=0, until=1000)
    assert [(i.fired_at, i.time_to_ack, i.acked_by, i.time_to_resolve, i.in_maintenance)
            for i in found] == [(200, 30, "dana", 300, True), (900, None, None, None, False)]


def test_a_firing_before_the_period_is_not_counted_even_if_it_resolves_inside():
    rows = [_row(1, 1, "firing", 50), _row(2, 2, "resolved", 150)]
    assert incidents_of(ALERT, rows, since=100, until=1000) == []


def test_mean_ignores_unknown_values_and_is_none_without_any():
    assert mean([None, 10.0, 20.0]) == 15.0 and mean([None]) is None and mean([]) is None
