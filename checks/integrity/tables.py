"""The integrity tables in Vigil's state DB: their schema and the SQL shared by the store.

The integrity domain owns these tables (baselines, observed states, manifests, runs,
cursor) and declares them here: ``MIGRATIONS`` runs through the kernel's ``Database``
(the daemon's store applies it with the other domains'; ``ensure_schema`` lets a one-shot
`vigil check` or `vigil integrity` create them first). checks/integrity/store.py is the
only module that reads and writes them, using the column list and statements below.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from monitor.kernel.database import Database, Migrations, StoreError

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
    # The fingerprint of a tree's last full scan (every path and stat) and the generation
    # its observed rows had once written: an equal scan at that generation needs no stats
    # loaded (store.scan_matches).
    """
    ALTER TABLE integrity_trees ADD COLUMN scan_generation INTEGER;
    ALTER TABLE integrity_trees ADD COLUMN scan_fingerprint BLOB;
    """,
    # The (sha256, note) of every observed row, in path order, as one JSON value, valid
    # at the generation it was saved at: an unchanged tree loads this instead of a row per
    # file (store.load_hashes). A table of its own: updating the tree's row (the cursor,
    # the generation) would rewrite the ~2 MB with it.
    """
    CREATE TABLE integrity_scan_hashes (
        tree_id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, hashes BLOB NOT NULL
    );
    """,
    # The last full walk made under inotify watches (checks/integrity/watch.py): the
    # instance's token, the root directory it walked (device:inode) and when.
    """
    ALTER TABLE integrity_trees ADD COLUMN watch_token TEXT;
    ALTER TABLE integrity_trees ADD COLUMN watch_root TEXT;
    ALTER TABLE integrity_trees ADD COLUMN walked_at REAL;
    """,
), legacy=(2, 0, 0))

COLUMNS = ("path, kind, size, mode, uid, gid, mtime_ns, ctime_ns, ino, link_target, "
            "sha256, hashed_at, note, accepted_at, accepted_by")


SOURCES = ("baseline", "observed", "release", "data")  # see checks/integrity/store.py's docstring
UPSERT = (f"INSERT OR REPLACE INTO integrity_files (tree_id, source, {COLUMNS}) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def upsert_twice(also: str) -> str:
    """UPSERT inserting a second row, the same but for its source (?NNN: bound once)."""
    if also not in SOURCES:  # spelled into the statement
        raise ValueError(f"unknown source {also!r}")
    same = ", ".join(f"?{n}" for n in range(3, 3 + len(COLUMNS.split(","))))
    return (f"INSERT OR REPLACE INTO integrity_files (tree_id, source, {COLUMNS}) "
            f"VALUES (?1, ?2, {same}), (?1, '{also}', {same})")


# Columns whose difference between two sources makes a row worth comparing.
COMPARED = ("kind", "size", "mode", "uid", "gid", "mtime_ns", "ctime_ns", "ino",
             "link_target", "sha256")
# The rows of one source (tree_id, source, other) with no row alike in COMPARED in the
# other: SQLite joins on the primary key, so an unchanged tree costs no Python objects.
DIFFERING = (
    f"SELECT {', '.join('x.' + c.strip() for c in COLUMNS.split(','))} FROM integrity_files x "
    "WHERE x.tree_id=? AND x.source=? AND NOT EXISTS (SELECT 1 FROM integrity_files y WHERE "
    f"y.tree_id=x.tree_id AND y.source=? AND y.path=x.path AND "
    f"{' AND '.join(f'y.{c} IS x.{c}' for c in COMPARED)})")


_SCHEMA_LOCK = threading.Lock()  # two checks of one process may open a new file at once
_SCHEMA_READY: set[tuple[Path, int]] = set()  # (path, inode): a replaced file is new


def _file_id(path: Path) -> tuple[Path, int]:
    try:
        return path, path.stat().st_ino
    except OSError:
        return path, -1


def ensure_schema(path: Path) -> None:
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
