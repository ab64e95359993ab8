"""Seed the SLO minute history directly: months of probes without running a check.

Test-only: the daemon records one probe at a time (alerts/history.py ``History.record``);
tests need whole periods of (minute, good, total) rows at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerts.history import History


def add_minutes(history: History, lms: str, minutes: Iterable[tuple[int, int, int]]) -> None:
    """Bulk (minute, good, total) rows, added to what is there."""
    with history.store.transaction() as db:
        db.executemany(
            "INSERT INTO slo_minutes (lms, minute, good, total) VALUES (?,?,?,?)"
            " ON CONFLICT (lms, minute) DO UPDATE SET good = good + excluded.good,"
            " total = total + excluded.total", ((lms, *m) for m in minutes)
        )
