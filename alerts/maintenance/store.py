"""Maintenance windows and their occurrences: the maintenance domain's tables and repository.

The book (alerts/maintenance/book.py) is the only user of WindowStore; lifecycle.py
records what it did per occurrence through the occurrence helpers at the bottom. A
window keeps its spec as the admin wrote it (local times, rrule text, matchers) so that
the calendar feed and ``vigil maintenance show`` give it back unchanged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from alerts.maintenance.model import WindowSpec
from monitor.kernel.database import Database, Migrations

log = logging.getLogger(__name__)

# The windows from config, API and CLI (times are local wall-clock in the window's IANA
# timezone) and, per occurrence, what Vigil did about it (notices, LMS maintenance mode,
# snapshot, report).
MIGRATIONS = Migrations("maintenance", (
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
), legacy=(5,))

SOURCES = ("config", "api", "cli")


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    uid: str
    spec: WindowSpec
    source: str  # "config" | "api" | "cli"
    created_at: float
    updated_at: float
    ended_at: float | None  # set by `end`; a window from the config gone from it is ended too
    forced: bool  # scheduled over an exam conflict with force

    def as_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id, "uid": self.uid, "name": spec.name, "kind": spec.kind,
            "timezone": spec.timezone,
            "start": spec.start.isoformat() if spec.start else None,
            "end": spec.end.isoformat() if spec.end else None,
            "duration_seconds": spec.length(), "rrule": spec.rrule,
            "matchers": list(spec.matchers), "actions": spec.actions.model_dump(),
            "comment": spec.comment, "created_by": spec.created_by, "source": self.source,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "ended_at": self.ended_at, "forced": self.forced,
        }


class WindowStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.writes = 0  # bumped on every write through this object (see signature)

    def insert(self, uid: str, spec: WindowSpec, source: str, now: float,
               forced: bool = False) -> int:
        with self.database.transaction() as db:
            cursor = db.execute(
                "INSERT INTO maintenance_windows (uid, name, kind, timezone, starts_at, ends_at,"
                " rrule, duration, matchers, actions, comment, created_by, created_at,"
                " updated_at, source, forced) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uid, *_spec_columns(spec), now, now, source, int(forced)))
        self.writes += 1
        return int(cursor.lastrowid or 0)

    def update(self, window_id: int, spec: WindowSpec, now: float, *,
               forced: bool | None = None, ended_at: float | None = None,
               reopen: bool = False) -> None:
        with self.database.transaction() as db:
            db.execute(
                "UPDATE maintenance_windows SET name=?, kind=?, timezone=?, starts_at=?,"
                " ends_at=?, rrule=?, duration=?, matchers=?, actions=?, comment=?,"
                " created_by=?, updated_at=?, forced=COALESCE(?, forced),"
                " ended_at=CASE WHEN ? THEN NULL ELSE COALESCE(?, ended_at) END WHERE id=?",
                (*_spec_columns(spec), now, None if forced is None else int(forced),
                 int(reopen), ended_at, window_id))
        self.writes += 1

    def end(self, window_id: int, now: float) -> None:
        with self.database.transaction() as db:
            db.execute("UPDATE maintenance_windows SET ended_at=?, updated_at=? WHERE id=?"
                       " AND ended_at IS NULL", (now, now, window_id))
        self.writes += 1

    def get(self, window_id: int) -> Window | None:
        row = self.database.connection.execute(
            "SELECT * FROM maintenance_windows WHERE id=?", (window_id,)).fetchone()
        return _window(row) if row else None

    def by_uid(self, uid: str) -> Window | None:
        row = self.database.connection.execute(
            "SELECT * FROM maintenance_windows WHERE uid=?", (uid,)).fetchone()
        return _window(row) if row else None

    def id_of(self, uid: str) -> int | None:
        """The row id of ``uid``, also for a row that no longer validates."""
        row = self.database.connection.execute(
            "SELECT id FROM maintenance_windows WHERE uid=?", (uid,)).fetchone()
        return int(row[0]) if row else None

    def all(self) -> list[Window]:
        rows = self.database.connection.execute("SELECT * FROM maintenance_windows ORDER BY id")
        return [window for window in map(_window, rows) if window is not None]

    def signature(self) -> tuple[Any, ...]:
        """Changes whenever any window is added, edited or ended: by this connection
        (``writes``) or by another process (SQLite's data_version counts their commits)."""
        version = self.database.connection.execute("PRAGMA data_version").fetchone()[0]
        return (self.writes, version)


def _spec_columns(spec: WindowSpec) -> tuple[Any, ...]:
    return (spec.name, spec.kind, spec.timezone,
            spec.start.isoformat() if spec.start else None,
            spec.end.isoformat() if spec.end else None,
            spec.rrule, spec.duration, json.dumps(list(spec.matchers)),
            spec.actions.model_dump_json(), spec.comment, spec.created_by)


def _window(row: sqlite3.Row) -> Window | None:
    """The stored window, or None for a row that today's rules refuse (stored before a
    bound existed, e.g. a duration of 1e308 or an RRULE starting every 10 s): such a
    window is left out everywhere, so it covers nothing, and said so in the log."""
    try:
        spec = WindowSpec.model_validate({
            "name": row["name"], "kind": row["kind"], "timezone": row["timezone"],
            "start": row["starts_at"], "end": row["ends_at"], "duration": row["duration"],
            "rrule": row["rrule"], "matchers": json.loads(row["matchers"]),
            "actions": json.loads(row["actions"]), "comment": row["comment"],
            "created_by": row["created_by"]})
    except (ValidationError, ValueError) as exc:
        log.warning("maintenance window %s (%r) is ignored: it breaks a rule added since it "
                    "was stored; add it again. %s", row["id"], row["name"],
                    str(exc).replace("\n", " "))
        return None
    return Window(row["id"], row["uid"], spec, row["source"], row["created_at"],
                  row["updated_at"], row["ended_at"], bool(row["forced"]))


# -- per-occurrence record (written by lifecycle.py) ----------------------------------------
@dataclass(frozen=True, slots=True)
class OccurrenceRecord:
    window_id: int
    starts_at: float
    ends_at: float | None
    state: str  # lifecycle's own states, e.g. "notified" | "started" | "ended" | "reported"
    snapshot: Any  # JSON value or None
    report: Any
    actions_log: list[Any]


def get_occurrence(database: Database, window_id: int, starts_at: float
                   ) -> OccurrenceRecord | None:
    row = database.connection.execute("SELECT * FROM maintenance_occurrences WHERE window_id=? AND"
                           " starts_at=?", (window_id, starts_at)).fetchone()
    if row is None:
        return None
    return OccurrenceRecord(row["window_id"], row["starts_at"], row["ends_at"], row["state"],
                            _load(row["snapshot"]), _load(row["report"]),
                            json.loads(row["actions_log"]))


def save_occurrence(database: Database, record: OccurrenceRecord) -> None:
    """Insert or replace the record of one occurrence (one transaction)."""
    with database.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO maintenance_occurrences (window_id, starts_at, ends_at,"
            " state, snapshot, report, actions_log) VALUES (?,?,?,?,?,?,?)",
            (record.window_id, record.starts_at, record.ends_at, record.state,
             None if record.snapshot is None else json.dumps(record.snapshot, default=str),
             None if record.report is None else json.dumps(record.report, default=str),
             json.dumps(record.actions_log, default=str)))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def unfinished_occurrences(database: Database, finished: tuple[str, ...]
                           ) -> list[tuple[int, float]]:
    """(window id, start) of every occurrence whose state is not one of ``finished``."""
    rows = database.connection.execute(
        "SELECT window_id, starts_at FROM maintenance_occurrences WHERE state NOT IN"
        f" ({','.join('?' * len(finished))}) ORDER BY starts_at", finished).fetchall()
    return [(int(row[0]), float(row[1])) for row in rows]


def occurrences_of(database: Database, window_id: int, limit: int = 20
                   ) -> list[OccurrenceRecord]:
    """The recorded occurrences of one window, newest first (the console's report page)."""
    rows = database.connection.execute(
        "SELECT * FROM maintenance_occurrences WHERE window_id=? ORDER BY starts_at DESC"
        " LIMIT ?", (window_id, limit)).fetchall()
    return [OccurrenceRecord(row["window_id"], row["starts_at"], row["ends_at"], row["state"],
                             _load(row["snapshot"]), _load(row["report"]),
                             json.loads(row["actions_log"])) for row in rows]
