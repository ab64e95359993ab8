"""Incidents for reports: each time an alert fired, with when it was acknowledged and resolved.

Read from the event rows the alert service writes (alerts/store.py ``alert_events``): a
'firing' event opens transition ``t``, the 'acknowledged' events of the same transition
say who took it, and the 'resolved' event of transition ``t + 1`` closes it (engine.py
``_fire``/``_resolve`` each add one). A firing held behind a parent that was down and
never notified (route state 'suppressed:dependency', alerts/holds.py) is part of the
parent's incident and not counted again; one inside a maintenance window
('suppressed:maintenance:<uid>', alerts/router_ingest.py) is counted and marked, since
the problem was real even if nobody was paged. Pure: the stakeholder report
(monitor/app/report/) passes the rows and the period in; MTTA and MTTR are plain means
over the incidents that were acknowledged / resolved within the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.holds import SUPPRESSED_DEPENDENCY
from alerts.store import AlertRecord, EventRow


@dataclass(frozen=True, slots=True)
class Incident:
    lms: str
    check: str
    severity: str
    summary: str
    fired_at: float
    acked_at: float | None
    acked_by: str | None
    resolved_at: float | None
    in_maintenance: bool = False  # fired inside a maintenance window: not notified

    @property
    def time_to_ack(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.fired_at

    @property
    def time_to_resolve(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.fired_at


def incidents_of(alert: AlertRecord, events: Iterable[EventRow], since: float,
                 until: float) -> list[Incident]:
    """The incidents of one alert that fired in [since, until); acks and resolutions
    after ``until`` are not known yet at the end of the period, so they are left out."""
    rows = [e for e in events if e.at < until]
    found = []
    for fired in (e for e in rows if e.kind == "firing" and since <= e.at
                  and e.route_state != SUPPRESSED_DEPENDENCY):
        ack = next((e for e in rows if e.kind == "acknowledged"
                    and e.transition == fired.transition), None)
        resolved = next((e for e in rows if e.kind == "resolved"
                         and e.transition == fired.transition + 1), None)
        found.append(Incident(
            alert.lms, alert.check, fired.severity or alert.severity, fired.summary, fired.at,
            ack.at if ack else None, _acked_by(ack) if ack else None,
            resolved.at if resolved else None,
            fired.route_state.startswith("suppressed:maintenance")))
    return found


def _acked_by(event: EventRow) -> str | None:
    ack = event.payload.get("acknowledged")  # snapshot.ack_json
    return str(ack["by"]) if isinstance(ack, dict) and ack.get("by") else None


def mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None
