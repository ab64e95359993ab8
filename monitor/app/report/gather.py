"""What the report says about one LMS over [since, until), read through each domain's
repository: availability against the SLO (alerting's slo_minutes via ``History``),
incidents with their acknowledgement and resolution (alert events, alerts/incidents.py),
and the maintenance windows held (the maintenance book and its occurrence records).
The check-based sections (patch level, backups, integrity, usage) are in gather_checks.py.
Returns plain dicts and lists: the templates (render.py) only format them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from alerts.history import History
from alerts.incidents import Incident, incidents_of, mean
from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.store import get_occurrence
from alerts.slo import resolve_target
from monitor.app.report.gather_checks import backups, integrity, patch_level, usage
from monitor.app.store import StateStore
from monitor.kernel.clock import Clock

if TYPE_CHECKING:
    from monitor.app.config import LmsConfig, VigilConfig

NOT_HELD = ("missed", "cancelled")  # lifecycle states of occurrences that did not happen


class _Fixed:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def gather(config: VigilConfig, store: StateStore, lms: str, since: float, until: float,
           now: float, *, timezone: str = "UTC") -> dict[str, Any]:
    site = next(s for s in config.lms if s.name == lms)
    report: dict[str, Any] = {
        "lms": lms, "since": since, "until": until, "generated_at": now,
        "timezone": timezone, "kind": site.kind,
        "availability": availability(config, store, site, since, until),
        "maintenance": maintenance(config, store, lms, since, until, now),
        "patch_level": patch_level(store, lms, since, until),
        "backups": backups(store, lms, since, until),
        "integrity": integrity(config, store, lms, since, until),
        "usage": usage(store, lms, since, until, timezone),
    }
    report.update(incidents(store, lms, since, until))
    return report


def availability(config: VigilConfig, store: StateStore, site: LmsConfig, since: float,
                 until: float) -> dict[str, Any] | None:
    """Share of the availability check's probes that were OK; None without an SLO."""
    checks = {name: spec.type for name, spec in site.checks.items() if spec.enabled}
    target = resolve_target(config.alerts.slo, site.name, checks)
    if target is None:
        return None
    good, total, bad_minutes = History(store).probe_totals(site.name, since, until)
    ratio = good / total if total else None
    allowed = round(1 - target.objective, 12)  # as alerts/slo.py burn_rate
    return {
        "check": target.check, "objective": target.objective, "good": good, "total": total,
        "ratio": ratio, "bad_minutes": bad_minutes,
        "met": None if ratio is None else ratio >= target.objective,
        # Of the errors the objective allows over this period, how many were spent.
        "budget_spent": None if ratio is None else (1 - ratio) / allowed,
    }


def incidents(store: StateStore, lms: str, since: float, until: float) -> dict[str, Any]:
    found: list[Incident] = []
    for alert in store.all_alerts():
        if alert.lms == lms:
            found += incidents_of(alert, store.alert_events(alert.fingerprint), since, until)
    found.sort(key=lambda i: (i.fired_at, i.check))
    rows = [{**asdict(i), "time_to_ack": i.time_to_ack, "time_to_resolve": i.time_to_resolve}
            for i in found]
    return {
        "incidents": rows, "incident_count": len(found),
        "acknowledged_count": sum(i.acked_at is not None for i in found),
        "resolved_count": sum(i.resolved_at is not None for i in found),
        "mtta": mean([i.time_to_ack for i in found]),
        "mttr": mean([i.time_to_resolve for i in found]),
    }


def maintenance(config: VigilConfig, store: StateStore, lms: str, since: float, until: float,
                now: float) -> dict[str, Any]:
    """Occurrences of windows that may cover this LMS (book.lms_scope) in the period."""
    book = MaintenanceBook(store.database, _clock(now))
    book.set_targets({site.name: [
        {**site.labels, **spec.labels, "lms": site.name, "check": name,
         "check_type": spec.type} for name, spec in site.checks.items()]
        for site in config.lms})
    rows = []
    for occurrence in book.occurrences_between(since, until):
        if occurrence.start >= min(until, now):
            continue  # not begun by the end of the period
        window = book.get(occurrence.window_id)
        if lms not in book.lms_scope(window.spec):
            continue
        record = get_occurrence(store.database, occurrence.window_id, occurrence.start)
        state = record.state if record else None
        report = record.report if record and isinstance(record.report, dict) else {}
        rows.append({"name": occurrence.name, "start": occurrence.start,
                     "end": occurrence.end, "kind": occurrence.kind, "state": state,
                     "held": state not in NOT_HELD, "outcome": report.get("outcome"),
                     "comment": window.spec.comment})
    return {"occurrences": rows, "held": sum(r["held"] for r in rows)}


def _clock(now: float) -> Clock:
    return _Fixed(now)
