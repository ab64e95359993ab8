"""The durable outbox: every notification is a row before it is sent.

Data flow: router (router.py) -> ``OutboxStore.enqueue`` -> dispatcher (dispatcher.py)
sends what is due, marks it sent, retried or failed. Part of the alerting domain; its
table ``outbox`` is created by alerting's migrations (store.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from monitor.kernel.database import Database


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


class OutboxStore:
    """Queue, due list and delivery record of notifications."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.connection

    # -- outbox -----------------------------------------------------------------
    def enqueue(self, dedup_key: str, receiver: str, payload: dict[str, Any], now: float) -> bool:
        """Queue one notification; False when the same (dedup_key, receiver) is already queued."""
        with self.database.transaction() as db:
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

    def mark_sent(self, item_id: int, now: float) -> None:
        with self.database.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?", (now, item_id)
            )

    def mark_retry(self, item_id: int, next_attempt_at: float, error: str) -> None:
        with self.database.transaction() as db:
            db.execute(
                "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1, last_error = ?"
                " WHERE id = ?", (next_attempt_at, error, item_id)
            )

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.database.transaction() as db:
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
        with self.database.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0"
                " WHERE state = 'failed' AND (? IS NULL OR receiver = ?)",
                (now, receiver, receiver))
        return cursor.rowcount

    def requeue_item(self, item_id: int, now: float) -> bool:
        """One failed notification pending again, due now (the console's retry button);
        False when no failed notification has that id."""
        with self.database.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0"
                " WHERE state = 'failed' AND id = ?", (now, item_id))
        return cursor.rowcount == 1

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        counts = {"pending": 0, "sent": 0, "failed": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def prune_outbox(self, older_than: float, keep: Collection[int] = ()) -> int:
        """Delete delivered notifications created before ``older_than``, except the ids in
        ``keep``; failed ones stay."""
        with self.database.transaction() as db:
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


def _outbox_from_row(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(row["id"], row["dedup_key"], row["receiver"], json.loads(row["payload"]),
                      row["created_at"], row["next_attempt_at"], row["attempts"], row["state"],
                      row["last_error"])
