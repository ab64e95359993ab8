"""The check-state domain: each check's current state and its bounded history.

Data flow: runner -> ``CheckStateStore.record_result`` -> listeners (alerting) and the
metrics exporter, which reads ``states()`` at scrape time. Owns the tables
``check_state`` and ``check_history`` in the state file (kernel ``Database``); no other
module reads or writes them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from monitor.kernel.database import Database, Migrations
from monitor.kernel.result import Result, Sample, Status

MIGRATIONS = Migrations("check_state", (
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
    """,
), legacy=(1,))


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


class CheckStateStore:
    """Current state and history of every (LMS, check)."""

    def __init__(self, database: Database, *, history_limit: int = 500) -> None:
        self.database = database
        self.history_limit = history_limit
        self._db = database.connection
        # Every check's current state, read from the file once and then kept in step with
        # each write (this repository is the only writer of check_state): a run needs no
        # SELECT and JSON decode of its previous state, a scrape none of all of them.
        self._current: dict[tuple[str, str], CheckState] | None = None
        self._history_count: dict[tuple[str, str], int] = {}  # rows, counted once a check
        database.on_rollback(self._drop_cache)

    # -- check results ----------------------------------------------------------
    def record_result(
        self, lms: str, check: str, check_type: str, result: Result, ran_at: float, duration: float
    ) -> CheckState:
        """Store a result as the current state, append it to history, return the new state."""
        current = self._cached()
        previous = current.get((lms, check))
        ok = result.status == Status.OK
        consecutive_ok = (previous.consecutive_ok + 1 if previous else 1) if ok else 0
        consecutive_fail = 0 if ok else (previous.consecutive_fail + 1 if previous else 1)
        changed = previous is None or previous.result.status != result.status
        last_change = ran_at if changed or previous is None else previous.last_change
        samples = json.dumps([[s.name, s.value, dict(s.labels)] for s in result.samples])
        details = json.dumps(dict(result.details), default=str)
        kept = self._history_rows(lms, check) + 1  # with the row inserted below
        with self.database.transaction() as db:
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
            if kept == self.history_limit + 1:  # steady state: drop the oldest row alone,
                db.execute(  # found at the start of the index (ORDER BY id would sort)
                    "DELETE FROM check_history WHERE id = (SELECT id FROM check_history"
                    " WHERE lms = ? AND check_name = ? ORDER BY ran_at, id LIMIT 1)",
                    (lms, check))
            elif kept > self.history_limit:  # the limit was lowered: trim to it
                db.execute(
                    "DELETE FROM check_history WHERE lms = ? AND check_name = ? AND id <= ("
                    " SELECT id FROM check_history WHERE lms = ? AND check_name = ?"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (lms, check, lms, check, self.history_limit),
                )
        self._history_count[(lms, check)] = min(kept, self.history_limit)
        state = CheckState(lms, check, check_type, result, ran_at, duration,
                           consecutive_ok, consecutive_fail, last_change)
        # Cached with the details a read of the file gives back (default=str above), so
        # the cache and the file never disagree about a value's type.
        current[(lms, check)] = CheckState(
            lms, check, check_type,
            Result(result.status, result.summary, result.samples, json.loads(details)),
            ran_at, duration, consecutive_ok, consecutive_fail, last_change)
        return state

    def get_state(self, lms: str, check: str) -> CheckState | None:
        return self._cached().get((lms, check))

    def states(self) -> list[CheckState]:
        """Every current state, ordered by LMS and check name."""
        current = self._cached()
        return [current[key] for key in sorted(current)]

    def _cached(self) -> dict[tuple[str, str], CheckState]:
        if self._current is None:
            rows = self._db.execute("SELECT * FROM check_state")
            self._current = {(row["lms"], row["check_name"]): _state_from_row(row)
                             for row in rows}
        return self._current

    def _history_rows(self, lms: str, check: str) -> int:
        count = self._history_count.get((lms, check))
        if count is None:
            count = int(self._db.execute(
                "SELECT COUNT(*) FROM check_history WHERE lms = ? AND check_name = ?",
                (lms, check)).fetchone()[0])
        return count

    def _drop_cache(self) -> None:
        """A batch was rolled back: what it wrote is gone, so read the file again."""
        self._current = None
        self._history_count.clear()

    def forget_checks_except(self, keep: set[tuple[str, str]]) -> int:
        """Drop current state of checks no longer configured (after a reload)."""
        gone = [(s.lms, s.check) for s in self.states() if (s.lms, s.check) not in keep]
        with self.database.transaction() as db:
            db.executemany("DELETE FROM check_state WHERE lms = ? AND check_name = ?", gone)
        for key in gone:
            self._cached().pop(key, None)
        return len(gone)

    def check_types(self, lms: str) -> dict[str, str]:
        """Check name -> check type of every check of one LMS that has a state."""
        rows = self._db.execute(
            "SELECT check_name, check_type FROM check_state WHERE lms = ?", (lms,))
        return {row[0]: row[1] for row in rows}

    def latest_of_type(self, lms: str, check_type: str) -> CheckState | None:
        """The most recently run check of this type on one LMS."""
        row = self._db.execute(
            "SELECT * FROM check_state WHERE lms = ? AND check_type = ?"
            " ORDER BY ran_at DESC LIMIT 1", (lms, check_type)).fetchone()
        return _state_from_row(row) if row else None

    def history(self, lms: str, check: str, limit: int = 100) -> list[tuple[float, Status, str]]:
        rows = self._db.execute(
            "SELECT ran_at, status, summary FROM check_history WHERE lms = ? AND check_name = ?"
            " ORDER BY id DESC LIMIT ?", (lms, check, limit)
        )
        return [(r["ran_at"], Status(r["status"]), r["summary"]) for r in rows]


def _state_from_row(row: sqlite3.Row) -> CheckState:
    samples = tuple(Sample(n, v, labels) for n, v, labels in json.loads(row["samples"]))
    result = Result(Status(row["status"]), row["summary"], samples, json.loads(row["details"]))
    return CheckState(row["lms"], row["check_name"], row["check_type"], result, row["ran_at"],
                      row["duration"], row["consecutive_ok"], row["consecutive_fail"],
                      row["last_change"])
