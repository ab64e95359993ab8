"""The state store: current check states, bounded history, alerts and the outbox.

One SQLite file (WAL) under the state directory. Every writer in the daemon goes
through this class; the metrics collector and the HTTP API read from it. Writes are
small single-row statements, so they run on the event loop thread.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.base import Result, Sample, Status

# Each entry upgrades the schema by one version; never edit a released entry, append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE check_state (
        lms TEXT NOT NULL, check_name TEXT NOT NULL, check_type TEXT NOT NULL,
        status INTEGER NOT NULL, summary TEXT NOT NULL,
        samples TEXT NOT NULL, details TEXT NOT NULL,
        ran_at REAL NOT NULL, duration REAL NOT NULL,
        consecutive_ok INTEGER NOT NULL, consecutive_fail INTEGER NOT NULL,
        last_change REAL NOT NULL,
        PRIMARY KEY (lms, check_name)
    );
    CREATE TABLE check_history (
        id INTEGER PRIMARY KEY, lms TEXT NOT NULL, check_name TEXT NOT NULL,
        ran_at REAL NOT NULL, status INTEGER NOT NULL, summary TEXT NOT NULL,
        duration REAL NOT NULL
    );
    CREATE INDEX check_history_by_check ON check_history (lms, check_name, ran_at);
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY, lms TEXT NOT NULL, check_name TEXT NOT NULL,
        state TEXT NOT NULL, status INTEGER NOT NULL, summary TEXT NOT NULL,
        labels TEXT NOT NULL, started_at REAL, resolved_at REAL,
        transition INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE alert_transitions (
        id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, transition INTEGER NOT NULL,
        kind TEXT NOT NULL, at REAL NOT NULL, summary TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, dedup_key TEXT NOT NULL, receiver TEXT NOT NULL,
        payload TEXT NOT NULL, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT, sent_at REAL,
        UNIQUE (dedup_key, receiver)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    """,
    # File integrity (checks/integrity/store.py): one row per watched tree (site, root)
    # with its rolling re-hash position and its last comparison (reused while no file row
    # changed); per tree the files of each source (the accepted baseline, the last
    # observed state, the release manifest, sniffed data files) and the runs.
    # Paths are bytes (BLOB): file names need not be UTF-8.
    """
    CREATE TABLE integrity_trees (
        id INTEGER PRIMARY KEY, site TEXT NOT NULL, root BLOB NOT NULL,
        position BLOB, cycle_started REAL, last_cycle_at REAL, last_cycle_seconds REAL,
        generation INTEGER NOT NULL DEFAULT 0, compared_generation INTEGER,
        comparison TEXT,
        UNIQUE (site, root)
    );
    CREATE TABLE integrity_files (
        tree_id INTEGER NOT NULL, source TEXT NOT NULL, path BLOB NOT NULL,
        kind TEXT NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
        uid INTEGER NOT NULL, gid INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, link_target BLOB,
        sha256 TEXT, hashed_at REAL, note TEXT, accepted_at REAL, accepted_by TEXT,
        PRIMARY KEY (tree_id, source, path)
    ) WITHOUT ROWID;
    CREATE TABLE integrity_runs (
        id INTEGER PRIMARY KEY, tree_id INTEGER NOT NULL, kind TEXT NOT NULL,
        at REAL NOT NULL, actor TEXT NOT NULL, files INTEGER NOT NULL DEFAULT 0,
        bytes_read INTEGER NOT NULL DEFAULT 0, added INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0, modified INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX integrity_runs_by_tree ON integrity_runs (tree_id, kind, at);
    """,
    # Alert policy (alerts/engine.py, alerts/service.py): severity, flapping, holds and
    # acknowledgements on each alert; every event (firing, resolved, flapping, ...) is a
    # row of alert_transitions that waits for the router ('pending') with a snapshot of
    # the alert (payload); rows written before this migration were already queued.
    """
    ALTER TABLE alerts ADD COLUMN severity TEXT NOT NULL DEFAULT 'warning';
    ALTER TABLE alerts ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN held TEXT;
    ALTER TABLE alerts ADD COLUMN ack_by TEXT;
    ALTER TABLE alerts ADD COLUMN ack_comment TEXT;
    ALTER TABLE alerts ADD COLUMN ack_at REAL;
    ALTER TABLE alerts ADD COLUMN ack_sticky INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE alerts ADD COLUMN ack_expires_at REAL;
    ALTER TABLE alert_transitions ADD COLUMN dedup_key TEXT;
    ALTER TABLE alert_transitions ADD COLUMN severity TEXT;
    ALTER TABLE alert_transitions ADD COLUMN route_state TEXT NOT NULL DEFAULT 'routed';
    ALTER TABLE alert_transitions ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX alert_transitions_by_route_state ON alert_transitions (route_state, id);
    CREATE UNIQUE INDEX alert_transitions_by_dedup_key ON alert_transitions (dedup_key);
    CREATE INDEX alert_transitions_by_fingerprint ON alert_transitions (fingerprint, transition);
    CREATE INDEX alerts_by_held ON alerts (held);
    """,
    # Routing (alerts/router.py, alerts/router_store.py): notification groups waiting for
    # their group_wait or group_interval and the alerts in each (latest event, last event
    # sent); what each receiver was told about each alert (so a resolved goes only where
    # the firing went); escalation progress per firing alert; events held back by a
    # maintenance window (to notify when it ends); the health of each receiver.
    """
    CREATE TABLE notification_groups (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, route TEXT NOT NULL,
        labels TEXT NOT NULL, created_at REAL NOT NULL, last_flushed_at REAL,
        flushes INTEGER NOT NULL DEFAULT 0, reminders INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (group_key, receiver)
    );
    CREATE TABLE notification_group_alerts (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, fingerprint TEXT NOT NULL,
        instance INTEGER NOT NULL, event_id INTEGER NOT NULL, notified_event_id INTEGER,
        PRIMARY KEY (group_key, receiver, fingerprint, instance)
    );
    CREATE INDEX notification_group_alerts_by_alert ON notification_group_alerts (fingerprint);
    CREATE TABLE notification_log (
        fingerprint TEXT NOT NULL, receiver TEXT NOT NULL, fired_transition INTEGER NOT NULL,
        open INTEGER NOT NULL, last_kind TEXT NOT NULL, last_sent_at REAL NOT NULL,
        PRIMARY KEY (fingerprint, receiver)
    );
    CREATE TABLE notification_escalations (
        fingerprint TEXT PRIMARY KEY, transition INTEGER NOT NULL, event_id INTEGER NOT NULL,
        first_notified_at REAL NOT NULL, level INTEGER NOT NULL DEFAULT 0, escalated_at REAL
    );
    CREATE TABLE notification_suppressed (
        event_id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, transition INTEGER NOT NULL,
        reason TEXT NOT NULL, at REAL NOT NULL, until REAL, released_at REAL
    );
    CREATE TABLE receiver_health (
        receiver TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT, since REAL NOT NULL
    );
    CREATE TABLE vigil_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Maintenance windows (alerts/maintenance/): the windows from config, API and CLI
    # (times are local wall-clock in the window's IANA timezone) and, per occurrence,
    # what Vigil did about it (notices, LMS maintenance mode, snapshot, report).
    """
    CREATE TABLE maintenance_windows (
        id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        kind TEXT NOT NULL, timezone TEXT NOT NULL, starts_at TEXT, ends_at TEXT,
        rrule TEXT, duration REAL, matchers TEXT NOT NULL, actions TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL, created_at REAL NOT NULL,
        updated_at REAL NOT NULL, ended_at REAL, source TEXT NOT NULL,
        forced INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE maintenance_occurrences (
        window_id INTEGER NOT NULL, starts_at REAL NOT NULL, ends_at REAL,
        state TEXT NOT NULL, snapshot TEXT, report TEXT, actions_log TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (window_id, starts_at)
    );
    """,
    # Predictions and SLOs (alerts/history.py, predict.py, slo.py): the history of the
    # gauges that predictive rules watch (labels: the sample's labels as sorted JSON),
    # and per LMS and minute the good/total availability probes that burn-rate windows sum.
    """
    CREATE TABLE sample_history (
        lms TEXT NOT NULL, check_name TEXT NOT NULL, metric TEXT NOT NULL,
        labels TEXT NOT NULL, at REAL NOT NULL, value REAL NOT NULL
    );
    CREATE INDEX sample_history_by_metric ON sample_history (lms, metric, at);
    CREATE INDEX sample_history_by_age ON sample_history (at);
    CREATE TABLE slo_minutes (
        lms TEXT NOT NULL, minute INTEGER NOT NULL, good INTEGER NOT NULL,
        total INTEGER NOT NULL,
        PRIMARY KEY (lms, minute)
    ) WITHOUT ROWID;
    """,
)


@dataclass(frozen=True, slots=True)
class CheckState:
    lms: str
    check: str
    check_type: str
    result: Result
    ran_at: float
    duration: float
    consecutive_ok: int
    consecutive_fail: int
    last_change: float


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


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedup_key: str
    receiver: str
    payload: dict[str, Any]
    created_at: float
    next_attempt_at: float
    attempts: int
    state: str
    last_error: str | None


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


UNCHECKED = object()  # save_alert without a compare-and-set


class AlertChanged(Exception):
    """The alert row changed between reading it and saving a decision made from it."""


class StoreError(Exception):
    """The state file cannot be opened or is newer than this Vigil understands."""


class StateStore:
    def __init__(self, path: Path | str, *, history_limit: int = 500) -> None:
        self.path = Path(path)
        self.history_limit = history_limit
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()
        self._installation_id = self._load_installation_id()

    # -- schema -----------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"state database {self.path} has schema version {current}, "
                f"newer than this Vigil supports ({len(MIGRATIONS)}); upgrade Vigil"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._tx():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={version}")

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._db)

    def close(self) -> None:
        self._db.close()

    @property
    def installation_id(self) -> str:
        """A random id made once per state database. Mixed into notification keys, so a
        re-installed Vigil (fingerprints and transition numbers start again) or a second
        one watching the same names never repeats a key a receiver already deduplicated."""
        return self._installation_id

    def _load_installation_id(self) -> str:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO vigil_meta VALUES ('installation_id', ?)",
                       (uuid.uuid4().hex,))
            row = db.execute("SELECT value FROM vigil_meta WHERE key = 'installation_id'"
                             ).fetchone()
        return str(row[0])

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for modules that keep their own tables here (reads; and
        writes inside ``transaction()``). Rows are ``sqlite3.Row``."""
        return self._db

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT for modules that own tables in this file."""
        return self._tx()

    def is_writable(self) -> bool:
        """For /readyz: a write transaction can be taken."""
        try:
            with self._tx() as db:
                db.execute("UPDATE check_state SET lms = lms WHERE 0")
            return True
        except sqlite3.Error:
            return False

    # -- check results ----------------------------------------------------------
    def record_result(
        self, lms: str, check: str, check_type: str, result: Result, ran_at: float, duration: float
    ) -> CheckState:
        """Store a result as the current state, append it to history, return the new state."""
        previous = self.get_state(lms, check)
        ok = result.status == Status.OK
        consecutive_ok = (previous.consecutive_ok + 1 if previous else 1) if ok else 0
        consecutive_fail = 0 if ok else (previous.consecutive_fail + 1 if previous else 1)
        changed = previous is None or previous.result.status != result.status
        last_change = ran_at if changed or previous is None else previous.last_change
        samples = json.dumps([[s.name, s.value, dict(s.labels)] for s in result.samples])
        details = json.dumps(dict(result.details), default=str)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO check_state VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (lms, check, check_type, int(result.status), result.summary, samples, details,
                 ran_at, duration, consecutive_ok, consecutive_fail, last_change),
            )
            db.execute(
                "INSERT INTO check_history (lms, check_name, ran_at, status, summary, duration)"
                " VALUES (?,?,?,?,?,?)",
                (lms, check, ran_at, int(result.status), result.summary, duration),
            )
            db.execute(
                "DELETE FROM check_history WHERE lms = ? AND check_name = ? AND id <= ("
                " SELECT id FROM check_history WHERE lms = ? AND check_name = ?"
                " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (lms, check, lms, check, self.history_limit),
            )
        return CheckState(lms, check, check_type, result, ran_at, duration,
                          consecutive_ok, consecutive_fail, last_change)

    def get_state(self, lms: str, check: str) -> CheckState | None:
        row = self._db.execute(
            "SELECT * FROM check_state WHERE lms = ? AND check_name = ?", (lms, check)
        ).fetchone()
        return _state_from_row(row) if row else None

    def states(self) -> list[CheckState]:
        rows = self._db.execute("SELECT * FROM check_state ORDER BY lms, check_name")
        return [_state_from_row(row) for row in rows]

    def forget_checks_except(self, keep: set[tuple[str, str]]) -> int:
        """Drop current state of checks no longer configured (after a reload)."""
        gone = [(s.lms, s.check) for s in self.states() if (s.lms, s.check) not in keep]
        with self._tx() as db:
            db.executemany("DELETE FROM check_state WHERE lms = ? AND check_name = ?", gone)
        return len(gone)

    def history(self, lms: str, check: str, limit: int = 100) -> list[tuple[float, Status, str]]:
        rows = self._db.execute(
            "SELECT ran_at, status, summary FROM check_history WHERE lms = ? AND check_name = ?"
            " ORDER BY id DESC LIMIT ?", (lms, check, limit)
        )
        return [(r["ran_at"], Status(r["status"]), r["summary"]) for r in rows]

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
        with self._tx() as db:
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

    # -- outbox -----------------------------------------------------------------
    def enqueue(self, dedup_key: str, receiver: str, payload: dict[str, Any], now: float) -> bool:
        """Queue one notification; False when the same (dedup_key, receiver) is already queued."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox (dedup_key, receiver, payload, created_at,"
                " next_attempt_at) VALUES (?,?,?,?,?)",
                (dedup_key, receiver, json.dumps(payload), now, now),
            )
        return cursor.rowcount == 1

    def due(self, now: float, limit: int = 100) -> list[OutboxItem]:
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at, id LIMIT ?", (now, limit)
        )
        return [_outbox_from_row(row) for row in rows]

    def next_due_at(self) -> float | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        return row[0]

    def mark_sent(self, item_id: int, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?", (now, item_id)
            )

    def mark_retry(self, item_id: int, next_attempt_at: float, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1, last_error = ?"
                " WHERE id = ?", (next_attempt_at, error, item_id)
            )

    def mark_failed(self, item_id: int, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?"
                " WHERE id = ?", (error, item_id)
            )

    def outbox_items(self, state: str | None = None) -> list[OutboxItem]:
        if state is None:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM outbox WHERE state = ? ORDER BY id", (state,))
        return [_outbox_from_row(row) for row in rows]

    def requeue_failed(self, now: float, receiver: str | None = None) -> int:
        """Give notifications that failed permanently another go (after the admin fixed
        the receiver): pending again, due now, attempts reset. Returns how many."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0"
                " WHERE state = 'failed' AND (? IS NULL OR receiver = ?)",
                (now, receiver, receiver))
        return cursor.rowcount

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        counts = {"pending": 0, "sent": 0, "failed": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def prune_outbox(self, older_than: float, keep: Collection[int] = ()) -> int:
        """Delete delivered notifications created before ``older_than``, except the ids in
        ``keep``; failed ones stay."""
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE state = 'sent' AND created_at < ?"
                " AND id NOT IN (SELECT value FROM json_each(?))",
                (older_than, json.dumps(sorted(keep))),
            )
        return cursor.rowcount

    def latest_sent_alerts(
        self, fingerprints: Collection[str], receivers: Collection[str] | None = None
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """The newest delivered snapshot of each of these alerts per receiver (all
        receivers when None), as (outbox id, receiver, alert snapshot), oldest row first.

        SQLite picks the rows (json_each over each payload's alerts), so a start or a
        reload reads one row per (receiver, alert), not every notification ever sent.
        """
        if not fingerprints or (receivers is not None and not receivers):
            return []
        rows = self._db.execute(
            "SELECT id, receiver, alert FROM ("
            " SELECT o.id, o.receiver, a.value AS alert, ROW_NUMBER() OVER ("
            "  PARTITION BY o.receiver, json_extract(a.value, '$.fingerprint')"
            "  ORDER BY o.id DESC) AS age"
            " FROM outbox AS o, json_each(o.payload, '$.alerts') AS a"
            " WHERE o.state = 'sent'"
            "  AND (?1 IS NULL OR o.receiver IN (SELECT value FROM json_each(?1)))"
            "  AND json_extract(a.value, '$.fingerprint') IN (SELECT value FROM json_each(?2))"
            ") WHERE age = 1 ORDER BY id",
            (None if receivers is None else json.dumps(sorted(receivers)),
             json.dumps(sorted(fingerprints))),
        )
        return [(row["id"], row["receiver"], json.loads(row["alert"])) for row in rows]


def _state_from_row(row: sqlite3.Row) -> CheckState:
    samples = tuple(Sample(n, v, labels) for n, v, labels in json.loads(row["samples"]))
    result = Result(Status(row["status"]), row["summary"], samples, json.loads(row["details"]))
    return CheckState(row["lms"], row["check_name"], row["check_type"], result, row["ran_at"],
                      row["duration"], row["consecutive_ok"], row["consecutive_fail"],
                      row["last_change"])


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


def _outbox_from_row(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(row["id"], row["dedup_key"], row["receiver"], json.loads(row["payload"]),
                      row["created_at"], row["next_attempt_at"], row["attempts"], row["state"],
                      row["last_error"])
