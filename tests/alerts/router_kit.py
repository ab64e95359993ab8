"""Test support for the router: writes alert and event rows as AlertService does.

The rows follow the engine -> router contract (team brief): an alerts row per alert and
one alert_transitions row per event with route_state 'pending', a dedup key and the
alert snapshot as payload. Writing them directly keeps the router's tests independent
of the engine's internals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from alerts.config import AlertingConfig
from monitor.app.store import StateStore


@dataclass
class _Alert:
    lms: str
    check: str
    labels: dict[str, str]
    severity: str
    transition: int = 0
    started_at: float | None = None
    firing: bool = False
    flapping: bool = False
    kinds: dict[str, int] = field(default_factory=dict)


class AlertWriter:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.alerts: dict[str, _Alert] = {}

    @staticmethod
    def fingerprint(lms: str, check: str) -> str:
        return hashlib.sha256(f"{lms}\0{check}".encode()).hexdigest()[:16]

    def fire(self, lms: str, at: float, *, check: str = "database", severity: str = "critical",
             labels: dict[str, str] | None = None, route_state: str = "pending") -> int:
        fp = self.fingerprint(lms, check)
        alert = self.alerts.setdefault(fp, _Alert(lms, check, dict(labels or {}), severity))
        alert.labels, alert.severity = dict(labels or alert.labels), severity
        alert.transition += 1
        alert.started_at, alert.firing = at, True
        return self._write(fp, "firing", at, route_state)

    def resolve(self, lms: str, at: float, *, check: str = "database") -> int:
        fp = self.fingerprint(lms, check)
        alert = self.alerts[fp]
        alert.transition += 1
        alert.firing = False
        return self._write(fp, "resolved", at, "pending")

    def event(self, kind: str, lms: str, at: float, *, check: str = "database",
              ack_by: str | None = None, severity: str | None = None) -> int:
        """Another event kind ('acknowledged', 'severity', ...) of a firing alert."""
        fp = self.fingerprint(lms, check)
        if severity:
            self.alerts[fp].severity = severity
        return self._write(fp, kind, at, "pending", ack_by=ack_by)

    def flap(self, lms: str, at: float, *, check: str = "database", flapping: bool = True,
             severity: str = "critical") -> int:
        """A 'flapping' (or, with flapping=False, 'flapping_end') event; the alert's own
        state stays as it is, as the engine leaves it while the check flaps."""
        fp = self.fingerprint(lms, check)
        alert = self.alerts.setdefault(fp, _Alert(lms, check, {}, severity))
        alert.flapping = flapping
        if alert.started_at is None:
            alert.started_at = at
        return self._write(fp, "flapping" if flapping else "flapping_end", at, "pending")

    def ack(self, lms: str, at: float, *, check: str = "database", by: str = "alice") -> int:
        return self.event("acknowledged", lms, at, check=check, ack_by=by)

    def _write(self, fp: str, kind: str, at: float, route_state: str, *,
               ack_by: str | None = None) -> int:
        alert = self.alerts[fp]
        if kind in ("firing", "resolved"):
            dedup = f"{fp}:{alert.transition}"
        else:
            alert.kinds[kind] = alert.kinds.get(kind, 0) + 1
            dedup = f"{fp}:{alert.transition}:{kind}{alert.kinds[kind]}"
        labels = {**alert.labels, "lms": alert.lms, "check": alert.check, "check_type": "http",
                  "severity": alert.severity}
        ended = None if alert.firing else at
        open_ = alert.firing or alert.flapping  # alerts/snapshot.py: flapping is a problem
        acknowledged = {"by": ack_by, "comment": "on it", "at": at} if ack_by else None
        snapshot: dict[str, Any] = {
            "kind": kind, "status": "firing" if open_ else "resolved",
            "lms": alert.lms, "check": alert.check, "check_type": "http",
            "severity": alert.severity, "check_status": "CRITICAL",
            "summary": "HTTP 503" if alert.firing else "HTTP 200 in 0.2s", "problem": "HTTP 503",
            "started_at": alert.started_at, "ended_at": ended,
            "duration_seconds": (at - alert.started_at) if alert.started_at is not None else None,
            "labels": labels, "details": {}, "fingerprint": fp, "transition": alert.transition,
            "dedup_key": dedup, "runbook": "Check the database server.", "flapping": alert.flapping,
            "acknowledged": acknowledged, "held_reason": None, "links": {},
        }
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO alerts (fingerprint, lms, check_name, state, status,"
                " summary, labels, started_at, resolved_at, transition, severity, ack_by, ack_at,"
                " flapping) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (fp, alert.lms, alert.check, "firing" if alert.firing else "ok",
                 2 if alert.firing else 0, snapshot["summary"], json.dumps(alert.labels),
                 alert.started_at, ended, alert.transition, alert.severity,
                 ack_by if alert.firing else None, at if ack_by and alert.firing else None,
                 int(alert.flapping)),
            )
            cursor = db.execute(
                "INSERT INTO alert_transitions (fingerprint, transition, kind, at, summary,"
                " dedup_key, severity, route_state, payload) VALUES (?,?,?,?,?,?,?,?,?)",
                (fp, alert.transition, kind, at, snapshot["summary"], dedup, alert.severity,
                 route_state, json.dumps(snapshot)),
            )
        return int(cursor.lastrowid or 0)

    def clear_ack(self, lms: str, *, check: str = "database") -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE alerts SET ack_at = NULL, ack_by = NULL WHERE fingerprint = ?",
                       (self.fingerprint(lms, check),))


def config(**alerts: Any) -> AlertingConfig:
    """An [alerts] table; receivers default to two log receivers, 'ops' and 'pager'."""
    alerts.setdefault("receivers", [{"type": "log", "name": "ops"},
                                    {"type": "log", "name": "pager"}])
    return AlertingConfig.model_validate(alerts)


def outbox(store: StateStore) -> list[tuple[str, dict[str, Any]]]:
    """(receiver, payload) of every queued notification, in queue order."""
    return [(item.receiver, item.payload) for item in store.outbox_items()]


def route_states(store: StateStore) -> list[str]:
    rows = store.db.execute("SELECT route_state FROM alert_transitions ORDER BY id")
    return [row[0] for row in rows]


def alert_keys(payload: dict[str, Any]) -> list[str]:
    return [alert["dedup_key"] for alert in payload["alerts"]]
