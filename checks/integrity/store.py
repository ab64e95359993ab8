"""Reads and writes of the integrity tables: baselines, observed states, runs, cursor.

The integrity domain owns these tables and declares them in checks/integrity/tables.py
(MIGRATIONS, run through the kernel's ``Database``); this module opens its own connection
to the same SQLite file (WAL: the daemon's connection and this one work side by side) and
keeps each transaction short. Each watched tree (site: the LMS name, root: the scanned
directory) has an integrity_trees row; its files are keyed by (tree, source, path), source
being "baseline" (the accepted state, what verification compares against), "observed"
(the last state seen, with the last hash: a run re-hashes only files whose stat changed,
plus the rolling slice), "release" (the installed release's manifest: manifest.py) or
"data" (files of a data directory already sniffed for a PHP open tag). Beside them,
integrity_scan_hashes keeps the (sha256, note) of a tree's observed rows as one value,
saved with the scan fingerprint: what an unchanged tree loads (load_hashes).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from checks.integrity.records import (
    Cursor,
    Record,
    fs_text,
    pack_hashes,
    records_of,
    rows_of,
    unpack_hashes,
)
from checks.integrity.runlog import RunLog
from checks.integrity.scan import FileStat
from checks.integrity.tables import COLUMNS, DIFFERING, UPSERT, ensure_schema, upsert_twice
from monitor.kernel.database import write_transaction

STATE_FILE = "vigil.sqlite3"  # the daemon's state file (monitor/app/daemon.py STATE_FILE)


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


class IntegrityStore(RunLog):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        ensure_schema(self.path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")
        # As the daemon's own connection (monitor/app/store.py): in WAL mode a commit then
        # needs no fsync; a power loss may drop the last commits, never corrupt the file.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._ids: dict[tuple[str, str], int] = {}
        self._generations: dict[int, int] = {}  # of each tree, as this store last saw it
        self._scans: dict[int, tuple[int | None, bytes | None]] = {}  # as scan_matches read
        self._hashed: dict[int, int | None] = {}  # generation of the saved hashes, as read

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
        columns = COLUMNS.replace("hashed_at", "NULL").replace(
            "accepted_at, accepted_by", "NULL, NULL") if brief else COLUMNS
        rows = self._db.execute(
            f"SELECT {columns} FROM integrity_files WHERE tree_id=? AND source=?" + where,
            (self._tree(site, tree), source))
        return records_of(rows)

    # -- the last scan's fingerprint, valid while no row of the tree changed -------------
    def scan_matches(self, site: str, tree: str, fingerprint: bytes) -> bool:
        """Whether ``fingerprint`` is the one saved at the tree's current generation: then
        the observed rows hold exactly that scan's paths and stats (save_scan)."""
        row = self._read_scan(self._tree(site, tree))
        return row[1] == row[0] and row[2] == fingerprint

    def quiet_scan(self, site: str, tree: str, token: str, root: str, since: float,
                   ) -> bytes | None:
        """The saved scan's fingerprint, if the observed rows still hold that scan and it
        was a full walk under the watches of ``token``, of the directory ``root``, after
        ``since`` (checks/integrity/watch.py); else None."""
        row = self._read_scan(self._tree(site, tree))
        generation, scanned, fingerprint, *armed = row
        if scanned != generation or armed[1:3] != [token, root] or (armed[3] or 0) <= since:
            return None
        return fingerprint  # type: ignore[no-any-return]

    def arm(self, site: str, tree: str, token: str | None, root: str | None,
            at: float) -> None:
        """Record a full walk made under the watches of ``token`` (None: not usable)."""
        with self._tx() as db:
            db.execute("UPDATE integrity_trees SET watch_token=?, watch_root=?, walked_at=? "
                       "WHERE id=?", (token, root, at, self._tree(site, tree)))

    def _read_scan(self, tree_id: int) -> tuple[Any, ...]:
        row = self._db.execute(
            "SELECT t.generation, t.scan_generation, t.scan_fingerprint, h.generation, "
            "t.watch_token, t.watch_root, t.walked_at "
            "FROM integrity_trees t LEFT JOIN integrity_scan_hashes h ON h.tree_id = t.id "
            "WHERE t.id=?", (tree_id,)).fetchone()
        self._generations[tree_id] = row[0]
        self._scans[tree_id] = (row[1], row[2])
        self._hashed[tree_id] = row[3]
        return tuple(row)

    def save_scan(self, site: str, tree: str, fingerprint: bytes,
                  observed: Mapping[str, Record] | None = None) -> bool:
        """Record that the observed rows now hold exactly the scan of ``fingerprint``:
        only if no other writer changed a row of the tree since this store's last write
        (or since scan_matches read the generation, if it wrote nothing). ``observed``,
        the records of those rows (the run's), also saves their hashes for load_hashes."""
        tree_id = self._tree(site, tree)
        generation = self._generations.get(tree_id)
        if observed is not None and not all(map(str.isascii, observed)):
            observed = None  # (load_hashes takes the rows of such a tree: see there)
        if self._scans.get(tree_id) == (generation, fingerprint) and (
                observed is None or self._hashed.get(tree_id) == generation):
            return True  # saved already, nothing written since
        with self._tx() as db:
            saved = db.execute("UPDATE integrity_trees SET scan_generation=generation, "
                               "scan_fingerprint=? WHERE id=? AND generation=?",
                               (fingerprint, tree_id, generation)).rowcount
            if saved and observed is not None:
                # UPDATE, not REPLACE: a row of the same size is overwritten in place, and
                # SQLite writes only the pages whose bytes differ (a run that re-hashed
                # unchanged files: one page, not the ~500 of the value).
                hashes = (generation, pack_hashes(observed), tree_id)
                if not db.execute("UPDATE integrity_scan_hashes SET generation=?, hashes=? "
                                  "WHERE tree_id=?", hashes).rowcount:
                    db.execute("INSERT INTO integrity_scan_hashes (generation, hashes, "
                               "tree_id) VALUES (?, ?, ?)", hashes)
                self._hashed[tree_id] = generation
        return bool(saved)

    def load_hashes(self, site: str, tree: str, files: Mapping[str, FileStat],
                    ) -> dict[str, Record] | None:
        """The observed rows as ``load(brief=True)``, their stats taken from ``files``, a
        scan that scan_matches() found equal to them (None if a row has no file there):
        from the hashes save_scan() kept at that generation, else from the rows."""
        tree_id, new, order = self._tree(site, tree), tuple.__new__, sorted(files)
        pairs: Iterable[tuple[str, Any]]
        ascii, generation = all(map(str.isascii, order)), self._generations.get(tree_id)
        if ascii and self._hashed.get(tree_id) == generation:  # one value: a third of the time
            row = self._db.execute("SELECT hashes FROM integrity_scan_hashes WHERE tree_id=? "
                                   "AND generation=?", (tree_id, generation)).fetchone()
            got = None if row is None else unpack_hashes(row[0], files, order)
            if got is not None:
                return got
            self._hashed[tree_id] = None  # damaged or gone: the rows are still there; save anew
        if ascii:  # rows = ``files`` (fingerprint); key order (path
            # BLOB: memcmp) is str order for ASCII: no path decoded (half the cost).
            rows = self._db.execute("SELECT NULL, sha256, note FROM integrity_files WHERE "
                                    "tree_id=? AND source='observed' ORDER BY path",
                                    (tree_id,)).fetchall()
            pairs = zip(order, rows, strict=False) if len(rows) == len(order) else ()
        else:
            pairs = ((r[0].decode("utf-8", "surrogateescape"), r) for r in self._db.execute(
                "SELECT path, sha256, note FROM integrity_files "
                "WHERE tree_id=? AND source='observed'", (tree_id,)))
        try:
            got = {p: new(Record, (files[p], r[1], None, r[2], None, None)) for p, r in pairs}
        except KeyError:
            return None
        return got if len(got) == len(files) else None

    def differing(self, site: str, tree: str, first: str, second: str,
                  ) -> tuple[dict[str, Record], dict[str, Record]]:
        """The rows of two sources that are not identical (or exist in one only)."""
        tree_id = self._tree(site, tree)
        return (records_of(self._db.execute(DIFFERING, (tree_id, first, second))),
                records_of(self._db.execute(DIFFERING, (tree_id, second, first))))

    def write(self, site: str, tree: str, source: str, records: Mapping[str, Record],
              *, delete: Iterable[str] = (), replace: bool = False,
              also: str | None = None, hashed_at_only: bool = False) -> None:
        """Upsert ``records`` and delete ``delete`` (or every other row, with replace);
        ``also`` upserts the same records into a second source (one statement binds
        both rows: a baseline written with the observed rows costs no copy after).
        ``hashed_at_only``: the records differ from their rows in hashed_at alone, which
        the comparison, scan fingerprint and saved hashes do not read: they stay valid."""
        tree_id = self._tree(site, tree)
        delete = list(delete)
        if not (records or delete or replace):
            return
        with self._tx() as db:
            generation = self._generations[tree_id] = _bump(db, tree_id)
            if hashed_at_only and not (delete or replace or also):
                self._carry(db, tree_id, generation - 1)
            if replace:
                db.execute("DELETE FROM integrity_files WHERE tree_id=? AND source=?",
                           (tree_id, source))
            db.executemany(
                "DELETE FROM integrity_files WHERE tree_id=? AND source=? AND path=?",
                ((tree_id, source, _b(p)) for p in delete))
            # in key order: appends to the B-tree, no random inserts
            db.executemany(UPSERT if also is None else upsert_twice(also),
                           rows_of(tree_id, source, records))

    def _carry(self, db: sqlite3.Connection, tree_id: int, was: int) -> None:
        # What was valid at the generation before (read in this transaction: no writer
        # came between) is valid at this one, ``was + 1``; so are this store's notes of it.
        sql = "UPDATE integrity_trees SET {0}=generation WHERE id=? AND {0}=?"
        db.execute(sql.format("compared_generation"), (tree_id, was))
        if db.execute(sql.format("scan_generation"), (tree_id, was)).rowcount and (
                scan := self._scans.get(tree_id)) and scan[0] == was:
            self._scans[tree_id] = (was + 1, scan[1])
        if db.execute("UPDATE integrity_scan_hashes SET generation=? WHERE tree_id=? AND "
                      "generation=?", (was + 1, tree_id, was)).rowcount and (
                self._hashed.get(tree_id) == was):
            self._hashed[tree_id] = was + 1

    def has_rows(self, site: str, tree: str, source: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM integrity_files WHERE tree_id=? AND source=? LIMIT 1",
            (self._tree(site, tree), source)).fetchone() is not None

    def prune(self, site: str, tree: str, source: str, *, keep: str) -> None:
        """Delete the ``source`` rows of paths that have no ``keep`` row."""
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            self._generations[tree_id] = _bump(db, tree_id)
            db.execute("DELETE FROM integrity_files AS x WHERE tree_id=? AND source=? AND "
                       "NOT EXISTS (SELECT 1 FROM integrity_files y WHERE y.tree_id=x.tree_id "
                       "AND y.source=? AND y.path=x.path)", (tree_id, source, keep))

    def copy(self, site: str, tree: str, source: str, target: str) -> None:
        """Replace the ``target`` rows with a copy of the ``source`` rows."""
        tree_id = self._tree(site, tree)
        with self._tx() as db:
            self._generations[tree_id] = _bump(db, tree_id)
            db.execute("DELETE FROM integrity_files WHERE tree_id=? AND source=?",
                       (tree_id, target))
            db.execute(f"INSERT INTO integrity_files (tree_id, source, {COLUMNS}) "
                       f"SELECT tree_id, ?, {COLUMNS} FROM integrity_files "
                       "WHERE tree_id=? AND source=?", (target, tree_id, source))

    # -- rolling re-hash position -------------------------------------------------------
    def cursor(self, site: str, tree: str) -> Cursor:
        row = self._db.execute(
            "SELECT position, cycle_started, last_cycle_at, last_cycle_seconds "
            "FROM integrity_trees WHERE id=?", (self._tree(site, tree),)).fetchone()
        return Cursor(fs_text(row[0]), *row[1:])

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


def _bump(db: sqlite3.Connection, tree_id: int) -> int:
    # Any change to a tree's files invalidates its cached comparison (comparison()) and
    # its scan fingerprint (scan_matches()).
    return int(db.execute("UPDATE integrity_trees SET generation = generation + 1 "
                          "WHERE id=? RETURNING generation", (tree_id,)).fetchone()[0])
