"""The integrity store's log of runs (baselines, manifests, acceptances, verifications):
one row per run in integrity_runs, read back for the last baseline and for reports.
A part of IntegrityStore (store.py), kept apart to keep each module short."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from checks.integrity.records import Run, fs_text


class RunLog:
    # Provided by IntegrityStore: its connection, tree-id lookup and write transaction.
    _db: sqlite3.Connection
    _tree: Callable[[str, str], int]
    _tx: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def add_run(self, site: str, tree: str, kind: str, at: float, actor: str, *,
                files: int = 0, bytes_read: int = 0, added: int = 0, removed: int = 0,
                modified: int = 0, detail: Mapping[str, Any] | None = None) -> None:
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            db.execute(
                "INSERT INTO integrity_runs (tree_id, kind, at, actor, files, bytes_read, "
                "added, removed, modified, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tree_id, kind, at, actor, files, bytes_read, added, removed, modified,
                 json.dumps(dict(detail or {}), default=str)))

    def last_run(self, site: str, tree: str, *kinds: str) -> Run | None:
        marks = ", ".join("?" for _ in kinds)
        row = self._db.execute(
            f"SELECT kind, at, actor, files, detail FROM integrity_runs WHERE tree_id=? AND "
            f"kind IN ({marks}) ORDER BY at DESC, id DESC LIMIT 1",
            (self._tree(site, tree), *kinds)).fetchone()
        return Run(row[0], row[1], row[2], row[3], json.loads(row[4])) if row else None

    def runs_between(self, site: str, since: float, until: float) -> list[tuple[str, Run]]:
        """(root, run) of every run on any tree of ``site`` in [since, until), oldest first;
        the run's detail carries its added/removed/modified counts."""
        rows = self._db.execute(
            "SELECT t.root, r.kind, r.at, r.actor, r.files, r.detail, r.added, r.removed, "
            "r.modified FROM integrity_runs r JOIN integrity_trees t ON t.id = r.tree_id "
            "WHERE t.site=? AND r.at >= ? AND r.at < ? ORDER BY r.at, r.id",
            (site, since, until)).fetchall()
        return [(fs_text(row[0]) or "", Run(row[1], row[2], row[3], row[4], {
            **json.loads(row[5]), "added": row[6], "removed": row[7], "modified": row[8]}))
            for row in rows]
