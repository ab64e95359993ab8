"""How writes to the state file are wrapped and counted (used by kernel/database.py).

``write_transaction`` is one BEGIN IMMEDIATE ... COMMIT; ``savepoint`` is one write
inside a larger transaction (``Database.batch``); ``WriteHealth`` is what /readyz, the
metrics and the self-alerts read about failed writes. Part of the kernel.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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


@dataclass(slots=True)
class WriteHealth:
    """How writes to the state file fare: read by /readyz, the metrics and self-alerts.

    A full disk or a damaged page fails every write while reads still work, so a probe
    that only reads would call the daemon healthy while it saves nothing."""

    failures_total: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


@contextmanager
def savepoint(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """SAVEPOINT ... RELEASE inside an open transaction; on any error only this part is
    undone and the enclosing transaction goes on."""
    db.execute("SAVEPOINT vigil_write")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK TO vigil_write")
        db.execute("RELEASE vigil_write")
        raise
    db.execute("RELEASE vigil_write")
