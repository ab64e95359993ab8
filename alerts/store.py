"""The alerting domain's records: alerts, their event rows, and the alerting schema.

Data flow: AlertService decides (engine.py) -> ``AlertStore.save_alert`` writes the
alert and its events in one transaction -> the router reads pending events. Owns the
alerting tables of the state file (kernel ``Database``, schema in schema.py): alerts,
alert_transitions, outbox (outbox_store.py), the routing tables (router_store.py), receiver_health
(receiver_health.py), sample_history and slo_minutes (history.py). Those modules are
alerting's own and share ``AlertStore.db``; no module outside alerts/ touches them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from alerts.outbox_store import OutboxStore
from monitor.kernel.database import Database
from monitor.kernel.result import Status
from monitor.state.store import CheckStateStore


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert per (lms, check). ``transition`` counts firing/resolved flips (dedup key)."""

    fingerprint: str
    lms: str
    check: str
    state: str  # "ok" | "firing"
    status: Status
    summary: str
    labels: Mapping[str, str]
    started_at: float | None
    resolved_at: float | None
    transition: int
    severity: str = "warning"  # info | warning | critical | page
    flapping: bool = False
    # Why this alert's events wait instead of being routed, e.g. "dependency:lms/http".
    held: str | None = None
    ack_by: str | None = None
    ack_comment: str | None = None
    ack_at: float | None = None
    ack_sticky: bool = True  # sticky: until OK; else until the check status changes
    ack_expires_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        return self.ack_by is not None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One row of alert_transitions to write with an alert (the B -> router contract).

    ``kind`` is firing | resolved | flapping | flapping_end | acknowledged |
    unacknowledged | ack_expired | severity; ``route_state`` is 'pending',
    'held:<reason>' or 'suppressed:<reason>'. save_alert fills the dedup key.
    """

    kind: str
    summary: str
    severity: str
    route_state: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    fingerprint: str
    transition: int
    kind: str
    at: float
    summary: str
    dedup_key: str | None
    severity: str | None
    route_state: str
    payload: dict[str, Any]


UNCHECKED = object()  # save_alert without a compare-and-set


class AlertChanged(Exception):
    """The alert row changed between reading it and saving a decision made from it."""


class AlertStore:
    """Alerts and their event rows; the connection alerting's own modules share."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.connection

    @property
    def db(self) -> sqlite3.Connection:
        """For alerting's own modules (router_store, history, receiver_health): reads
        here, writes inside ``transaction()``. Rows are ``sqlite3.Row``."""
        return self._db

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.database.transaction()

    @property
    def installation_id(self) -> str:
        """A random id made once per state database. Mixed into notification keys, so a
        re-installed Vigil (fingerprints and transition numbers start again) or a second
        one watching the same names never repeats a key a receiver already deduplicated."""
        return self.database.installation_id

    # -- alerts -----------------------------------------------------------------
    def get_alert(self, fingerprint: str) -> AlertRecord | None:
        row = self._db.execute(
            "SELECT * FROM alerts WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return _alert_from_row(row) if row else None

    def firing_alerts(self) -> list[AlertRecord]:
        rows = self._db.execute("SELECT * FROM alerts WHERE state = 'firing' ORDER BY started_at")
        return [_alert_from_row(row) for row in rows]

    def save_alert(
        self, alert: AlertRecord, events: Sequence[AlertEvent] = (), at: float = 0.0,
        *, held_rows_to: str | None = None, expected: AlertRecord | None | object = UNCHECKED,
    ) -> list[str]:
        """Save an alert and, in the same transaction, its event rows; return their keys.

        One transaction means a crash can never record a transition without queuing its
        events for the router, nor queue an event for a transition that was not recorded.
        ``held_rows_to`` moves this alert's earlier 'held:*' rows to a new route state
        (released: 'pending'; the child resolved first: 'suppressed:dependency'; or held
        under another reason). 'firing'/'resolved' keys are ``fp:transition`` and a replay
        of the same transition writes nothing; other kinds get ``fp:transition:<kind><n>``.
        ``expected`` is the record the caller decided from: if another writer (the CLI
        acknowledging beside the daemon) changed the row meanwhile, AlertChanged is raised
        and nothing is written, so neither write silently undoes the other.
        """
        keys: list[str] = []
        with self.database.transaction() as db:
            if expected is not UNCHECKED:
                row = db.execute("SELECT * FROM alerts WHERE fingerprint = ?",
                                 (alert.fingerprint,)).fetchone()
                if (_alert_from_row(row) if row else None) != expected:
                    raise AlertChanged(alert.fingerprint)
            db.execute(
                "INSERT OR REPLACE INTO alerts (fingerprint, lms, check_name, state, status,"
                " summary, labels, started_at, resolved_at, transition, severity, flapping,"
                " held, ack_by, ack_comment, ack_at, ack_sticky, ack_expires_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (alert.fingerprint, alert.lms, alert.check, alert.state, int(alert.status),
                 alert.summary, json.dumps(dict(alert.labels)), alert.started_at,
                 alert.resolved_at, alert.transition, alert.severity, int(alert.flapping),
                 alert.held, alert.ack_by, alert.ack_comment, alert.ack_at,
                 int(alert.ack_sticky), alert.ack_expires_at),
            )
            if held_rows_to is not None:
                db.execute(
                    "UPDATE alert_transitions SET route_state = ? WHERE fingerprint = ?"
                    " AND route_state LIKE 'held:%'", (held_rows_to, alert.fingerprint))
            for event in events:
                key = self._event_key(db, alert, event.kind)
                payload = {**dict(event.payload), "dedup_key": key}
                cursor = db.execute(
                    "INSERT OR IGNORE INTO alert_transitions (fingerprint, transition, kind, at,"
                    " summary, dedup_key, severity, route_state, payload)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (alert.fingerprint, alert.transition, event.kind, at, event.summary, key,
                     event.severity, event.route_state, json.dumps(payload, default=str)),
                )
                if cursor.rowcount == 1:
                    keys.append(key)
        return keys

    @staticmethod
    def _event_key(db: sqlite3.Connection, alert: AlertRecord, kind: str) -> str:
        base = f"{alert.fingerprint}:{alert.transition}"
        if kind in ("firing", "resolved"):
            return base
        # Counted inside the write transaction, so n is unique and deterministic.
        row = db.execute(
            "SELECT COUNT(*) FROM alert_transitions WHERE fingerprint = ? AND transition = ?"
            " AND kind = ?", (alert.fingerprint, alert.transition, kind)).fetchone()
        return f"{base}:{kind}{int(row[0]) + 1}"

    def transitions(self, fingerprint: str) -> list[tuple[int, str, float, str]]:
        rows = self._db.execute(
            "SELECT transition, kind, at, summary FROM alert_transitions WHERE fingerprint = ?"
            " ORDER BY id", (fingerprint,)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def alert_events(self, fingerprint: str) -> list[EventRow]:
        """Every event row of one alert, oldest first (payload included)."""
        rows = self._db.execute(
            "SELECT * FROM alert_transitions WHERE fingerprint = ? ORDER BY id", (fingerprint,))
        return [_event_from_row(row) for row in rows]

    def prune_events(self, older_than: float) -> int:
        """Delete event rows written before ``older_than`` that nothing reads any more;
        return how many. Kept: events not routed yet (pending, held), every event of an
        alert's current transition (``_event_key`` counts them), the newest of each kind
        per alert (``last_event``), and events routing still points at (groups,
        escalations, suppressed events not yet settled). Settled suppressions go too."""
        with self.database.transaction() as db:
            cursor = db.execute(
                "DELETE FROM alert_transitions AS t WHERE t.at < ?1"
                " AND t.route_state <> 'pending' AND t.route_state NOT LIKE 'held:%'"
                " AND NOT EXISTS (SELECT 1 FROM alerts AS a WHERE a.fingerprint = t.fingerprint"
                "  AND a.transition = t.transition)"
                " AND t.id NOT IN (SELECT MAX(id) FROM alert_transitions"
                "  GROUP BY fingerprint, kind)"
                " AND t.id NOT IN (SELECT event_id FROM notification_group_alerts"
                "  UNION SELECT notified_event_id FROM notification_group_alerts"
                "   WHERE notified_event_id IS NOT NULL"
                "  UNION SELECT event_id FROM notification_escalations"
                "  UNION SELECT event_id FROM notification_suppressed)", (older_than,))
            db.execute("DELETE FROM notification_suppressed WHERE released_at IS NOT NULL"
                       " AND at < ?", (older_than,))
        return cursor.rowcount

    def last_event(self, fingerprint: str, kinds: Sequence[str]) -> EventRow | None:
        marks = ",".join("?" * len(kinds))
        row = self._db.execute(
            f"SELECT * FROM alert_transitions WHERE fingerprint = ? AND kind IN ({marks})"
            " ORDER BY id DESC LIMIT 1", (fingerprint, *kinds)).fetchone()
        return _event_from_row(row) if row else None

    def alerts_held_by(self, reason: str | None = None) -> list[AlertRecord]:
        """Alerts held for ``reason`` (any held alert when None)."""
        if reason is None:
            rows = self._db.execute("SELECT * FROM alerts WHERE held IS NOT NULL")
        else:
            rows = self._db.execute("SELECT * FROM alerts WHERE held = ?", (reason,))
        return [_alert_from_row(row) for row in rows]

    def acked_alerts(self) -> list[AlertRecord]:
        rows = self._db.execute("SELECT * FROM alerts WHERE ack_by IS NOT NULL")
        return [_alert_from_row(row) for row in rows]

    def all_alerts(self) -> list[AlertRecord]:
        rows = self._db.execute("SELECT * FROM alerts ORDER BY lms, check_name")
        return [_alert_from_row(row) for row in rows]


def _alert_from_row(row: sqlite3.Row) -> AlertRecord:
    return AlertRecord(row["fingerprint"], row["lms"], row["check_name"], row["state"],
                       Status(row["status"]), row["summary"], json.loads(row["labels"]),
                       row["started_at"], row["resolved_at"], row["transition"],
                       row["severity"], bool(row["flapping"]), row["held"], row["ack_by"],
                       row["ack_comment"], row["ack_at"], bool(row["ack_sticky"]),
                       row["ack_expires_at"])


def _event_from_row(row: sqlite3.Row) -> EventRow:
    return EventRow(row["id"], row["fingerprint"], row["transition"], row["kind"], row["at"],
                    row["summary"], row["dedup_key"], row["severity"], row["route_state"],
                    json.loads(row["payload"]))


class AlertingState(CheckStateStore, AlertStore, OutboxStore):
    """What alerting works on, over one state file: the check states it judges (through
    the check-state domain's repository), its alerts and events, and its outbox."""

    def __init__(self, database: Database, *, history_limit: int = 500) -> None:
        CheckStateStore.__init__(self, database, history_limit=history_limit)
        AlertStore.__init__(self, database)
        OutboxStore.__init__(self, database)
