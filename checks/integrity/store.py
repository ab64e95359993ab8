"""Integrity tables in Vigil's state DB: baselines, observed states, manifests, runs, cursor.

The integrity domain owns these tables and declares them here (MIGRATIONS, run through the
kernel's ``Database``); this module opens its own connection to the same SQLite file
(WAL lets the daemon's connection and this one work side by side) and keeps each
transaction short. Each watched tree (site: the LMS name, root: the scanned directory)
has an integrity_trees row; its files are keyed by (tree, source, path), source being
one of
- "baseline": the accepted state (what verification compares against);
- "observed": the last state seen, with the last hash, so a run re-hashes only files
  whose stat changed (plus the rolling slice);
- "release":  the expected manifest of the installed release (manifest.py);
- "data":     files of a data directory already sniffed for a PHP open tag.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from checks.integrity.scan import FileStat
from monitor.kernel.database import Database, Migrations, StoreError, write_transaction

# Paths are bytes (BLOB): file names need not be UTF-8. One row per watched tree (site,
# root) with its rolling re-hash position and its last comparison (reused while no file
# row changed); per tree the files of each source and the runs.
MIGRATIONS = Migrations("integrity", (
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
), legacy=(2,))

STATE_FILE = "vigil.sqlite3"  # the daemon's state file (monitor/app/daemon.py STATE_FILE)
_COLUMNS = ("path, kind, size, mode, uid, gid, mtime_ns, ctime_ns, ino, link_target, "
            "sha256, hashed_at, note, accepted_at, accepted_by")


SOURCES = ("baseline", "observed", "release", "data")  # see the module docstring
_UPSERT = (f"INSERT OR REPLACE INTO integrity_files (tree_id, source, {_COLUMNS}) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _upsert_twice(also: str) -> str:
    """_UPSERT inserting a second row, the same but for its source (?NNN: bound once)."""
    if also not in SOURCES:  # spelled into the statement
        raise ValueError(f"unknown source {also!r}")
    same = ", ".join(f"?{n}" for n in range(3, 3 + len(_COLUMNS.split(","))))
    return (f"INSERT OR REPLACE INTO integrity_files (tree_id, source, {_COLUMNS}) "
            f"VALUES (?1, ?2, {same}), (?1, '{also}', {same})")


# Columns whose difference between two sources makes a row worth comparing.
_COMPARED = ("kind", "size", "mode", "uid", "gid", "mtime_ns", "ctime_ns", "ino",
             "link_target", "sha256")


class Record(NamedTuple):
    stat: FileStat
    sha256: str | None = None
    hashed_at: float | None = None
    note: str | None = None  # "unreadable", or what a data file was found to be
    accepted_at: float | None = None  # set by `vigil integrity accept` (and in windows)
    accepted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    kind: str  # "baseline" | "accept" | "manifest" | "verify"
    at: float
    actor: str
    files: int
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cursor:
    position: str | None = None  # last path the rolling re-hash reached
    cycle_started: float | None = None
    last_cycle_at: float | None = None  # when a full re-hash last completed
    last_cycle_seconds: float | None = None


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _s(blob: bytes | None) -> str | None:
    return None if blob is None else os.fsdecode(blob)


class IntegrityStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _ensure_schema(self.path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")
        # As the daemon's own connection (monitor/app/store.py): in WAL mode a commit then
        # needs no fsync; a power loss may drop the last commits, never corrupt the file.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._ids: dict[tuple[str, str], int] = {}

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> IntegrityStore:
        return cls(Path(state_dir) / STATE_FILE)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IntegrityStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._db)

    def _tree(self, site: str, tree: str) -> int:
        """The id of a watched tree (its row is created on first use)."""
        key = (site, tree)
        if key not in self._ids:
            self._db.execute("INSERT OR IGNORE INTO integrity_trees (site, root) VALUES (?, ?)",
                             (site, _b(tree)))
            row = self._db.execute("SELECT id FROM integrity_trees WHERE site=? AND root=?",
                                   (site, _b(tree))).fetchone()
            self._ids[key] = int(row[0])
        return self._ids[key]

    # -- file rows ----------------------------------------------------------------------
    def load(self, site: str, tree: str, source: str, *,
             accepted_only: bool = False, brief: bool = False) -> dict[str, Record]:
        """The rows of one source; ``brief`` leaves out hashed_at and the acceptance
        (a third less to fetch: the observed rows are loaded on every run)."""
        where = " AND accepted_by IS NOT NULL" if accepted_only else ""
        columns = _COLUMNS.replace("hashed_at", "NULL").replace(
            "accepted_at, accepted_by", "NULL, NULL") if brief else _COLUMNS
        rows = self._db.execute(
            f"SELECT {columns} FROM integrity_files WHERE tree_id=? AND source=?" + where,
            (self._tree(site, tree), source))
        return _records(rows)

    def differing(self, site: str, tree: str, first: str, second: str,
                  ) -> tuple[dict[str, Record], dict[str, Record]]:
        """The rows of two sources that are not identical (or exist in one only): SQLite
        joins on the primary key, so an unchanged tree costs no Python objects."""
        tree_id = self._tree(site, tree)
        cols = ", ".join(f"x.{c.strip()}" for c in _COLUMNS.split(","))
        same = " AND ".join(f"y.{c} IS x.{c}" for c in _COMPARED)
        query = (f"SELECT {cols} FROM integrity_files x WHERE x.tree_id=? AND x.source=? "
                 f"AND NOT EXISTS (SELECT 1 FROM integrity_files y WHERE y.tree_id=x.tree_id "
                 f"AND y.source=? AND y.path=x.path AND {same})")
        return (_records(self._db.execute(query, (tree_id, first, second))),
                _records(self._db.execute(query, (tree_id, second, first))))

    def write(self, site: str, tree: str, source: str, records: Mapping[str, Record],
              *, delete: Iterable[str] = (), replace: bool = False,
              also: str | None = None) -> None:
        """Upsert ``records`` and delete ``delete`` (or every other row, with replace);
        ``also`` upserts the same records into a second source (one statement binds
        both rows: a baseline written with the observed rows costs no copy after)."""
        tree_id = self._tree(site, tree)
        delete = list(delete)
        if not (records or delete or replace):
            return
        with self._tx() as db:
            _bump(db, tree_id)
            if replace:
                db.execute("DELETE FROM integrity_files WHERE tree_id=? AND source=?",
                           (tree_id, source))
            db.executemany(
                "DELETE FROM integrity_files WHERE tree_id=? AND source=? AND path=?",
                ((tree_id, source, _b(p)) for p in delete))
            # in key order: appends to the B-tree, no random inserts
            db.executemany(_UPSERT if also is None else _upsert_twice(also),
                           _rows(tree_id, source, records))

    def has_rows(self, site: str, tree: str, source: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM integrity_files WHERE tree_id=? AND source=? LIMIT 1",
            (self._tree(site, tree), source)).fetchone() is not None

    def prune(self, site: str, tree: str, source: str, *, keep: str) -> None:
        """Delete the ``source`` rows of paths that have no ``keep`` row."""
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            _bump(db, tree_id)
            db.execute("DELETE FROM integrity_files AS x WHERE tree_id=? AND source=? AND "
                       "NOT EXISTS (SELECT 1 FROM integrity_files y WHERE y.tree_id=x.tree_id "
                       "AND y.source=? AND y.path=x.path)", (tree_id, source, keep))

    def copy(self, site: str, tree: str, source: str, target: str) -> None:
        """Replace the ``target`` rows with a copy of the ``source`` rows."""
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            _bump(db, tree_id)
            db.execute("DELETE FROM integrity_files WHERE tree_id=? AND source=?",
                       (tree_id, target))
            db.execute(f"INSERT INTO integrity_files (tree_id, source, {_COLUMNS}) "
                       f"SELECT tree_id, ?, {_COLUMNS} FROM integrity_files "
                       "WHERE tree_id=? AND source=?", (target, tree_id, source))

    # -- rolling re-hash position -------------------------------------------------------
    def cursor(self, site: str, tree: str) -> Cursor:
        row = self._db.execute(
            "SELECT position, cycle_started, last_cycle_at, last_cycle_seconds "
            "FROM integrity_trees WHERE id=?", (self._tree(site, tree),)).fetchone()
        return Cursor(_s(row[0]), *row[1:])

    def set_cursor(self, site: str, tree: str, cursor: Cursor) -> None:
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            db.execute("UPDATE integrity_trees SET position=?, cycle_started=?, "
                       "last_cycle_at=?, last_cycle_seconds=? WHERE id=?",
                       (_b(cursor.position), cursor.cycle_started, cursor.last_cycle_at,
                        cursor.last_cycle_seconds, tree_id))

    # -- the last comparison, valid while no row of the tree changed ---------------------
    def comparison(self, site: str, tree: str) -> tuple[int, dict[str, Any] | None]:
        """(generation, the comparison saved at this generation or None)."""
        row = self._db.execute(
            "SELECT generation, compared_generation, comparison FROM integrity_trees "
            "WHERE id=?", (self._tree(site, tree),)).fetchone()
        fresh = row[1] == row[0] and row[2] is not None
        return int(row[0]), json.loads(row[2]) if fresh else None

    def save_comparison(self, site: str, tree: str, generation: int,
                        comparison: Mapping[str, Any]) -> None:
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            db.execute("UPDATE integrity_trees SET compared_generation=?, comparison=? "
                       "WHERE id=? AND generation=?",
                       (generation, json.dumps(comparison), tree_id, generation))

    # -- runs ---------------------------------------------------------------------------
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


def _bump(db: sqlite3.Connection, tree_id: int) -> None:
    # Any change to a tree's files invalidates its cached comparison (comparison()).
    db.execute("UPDATE integrity_trees SET generation = generation + 1 WHERE id=?",
               (tree_id,))


def _rows(tree_id: int, source: str, records: Mapping[str, Record],
          ) -> Iterable[tuple[Any, ...]]:
    # Runs for every file of a tree at baseline time: os.fsencode() inlined.
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    for path, (st, *rest) in sorted(records.items()):
        link = st[8]
        yield (tree_id, source, path.encode(encoding, errors), *st[:8],
               None if link is None else link.encode(encoding, errors), *rest)


def _records(rows: Iterable[tuple[Any, ...]]) -> dict[str, Record]:
    # tuple.__new__ and a plain decode: this runs for every file of a tree on every run.
    new = tuple.__new__
    return {r[0].decode("utf-8", "surrogateescape"): new(Record, (
                new(FileStat, r[1:10] if r[9] is None else (*r[1:9], _s(r[9]))), *r[10:]))
            for r in rows}


_SCHEMA_LOCK = threading.Lock()  # two checks of one process may open a new file at once
_SCHEMA_READY: set[tuple[Path, int]] = set()  # (path, inode): a replaced file is new


def _file_id(path: Path) -> tuple[Path, int]:
    try:
        return path, path.stat().st_ino
    except OSError:
        return path, -1


def _ensure_schema(path: Path) -> None:
    """Create or upgrade the integrity tables of the state file, so a one-shot `vigil
    check` or `vigil integrity` works before the daemon ever ran. Once per process."""
    with _SCHEMA_LOCK:
        if _file_id(path) in _SCHEMA_READY:
            return
        for attempt in range(50):  # another process (the daemon) may be migrating it
            try:
                Database(path, [MIGRATIONS]).close()
                _SCHEMA_READY.add(_file_id(path))
                return
            except StoreError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)
