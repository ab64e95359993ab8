"""The SQLite state file every domain keeps its tables in, with per-domain migrations.

One file (WAL) under the state directory. Each domain (check state, alerting,
maintenance, integrity) declares its tables as a ``Migrations`` list and wraps this
``Database`` in its own repository; nobody else touches those tables. The shell opens the
file once with every domain's migrations; a tool that needs one domain (``vigil
integrity``) opens it with that domain's alone, and the others are left as they are.

Versions are kept per domain in ``schema_versions``. Files written before the split
carried one linear ``PRAGMA user_version`` (1..6); each domain names, in ``legacy``,
the old version that created each of its steps, so such a file upgrades in place. New
files set ``user_version`` to ``LAYOUT_MARK`` so that an older Vigil refuses them with
"newer than this Vigil supports" instead of re-creating tables. Part of the kernel:
imports nothing of Vigil.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.kernel.writes import WriteHealth, savepoint, write_transaction

__all__ = ["Database", "Migrations", "StoreError", "CorruptDatabase", "WriteHealth",
           "check_intact", "move_aside", "write_transaction"]

LAYOUT_MARK = 1000  # PRAGMA user_version of a per-domain file; old layouts used 1..6
_LEGACY = "_legacy_user_version"  # schema_versions row: the single-file version upgraded


@dataclass(frozen=True, slots=True)
class Migrations:
    """One domain's schema: each step upgrades it by one version (append, never edit)."""

    domain: str
    steps: tuple[str, ...]
    # For each step, the linear user_version of the old single-file layout that made the
    # same change (0: the step is new since the split). Lets old files upgrade in place.
    legacy: tuple[int, ...] = ()

    def version_in_legacy_file(self, user_version: int) -> int:
        """How many of this domain's steps a file of the old layout already has."""
        done = 0
        for old in self.legacy:
            if not old or old > user_version:
                break
            done += 1
        return done


class StoreError(Exception):
    """The state file cannot be opened or is newer than this Vigil understands."""


class CorruptDatabase(StoreError):
    """The file is not an intact SQLite database (garbage, truncated, damaged pages)."""


def check_intact(path: Path) -> None:
    """Raise CorruptDatabase unless ``path`` (if it exists) passes ``PRAGMA quick_check``.

    Errors of access (permissions, a read-only or full disk) are not corruption: they raise
    StoreError, and the file is left as it is.
    """
    if not path.exists():
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open state database {path}: {exc}") from exc
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            raise CorruptDatabase(f"state database {path} is damaged: {exc}") from exc
        raise StoreError(f"cannot read state database {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabase(f"state database {path} is damaged: {exc}") from exc
    finally:
        db.close()
    if [tuple(row) for row in rows] != [("ok",)]:
        first = "; ".join(str(row[0]) for row in rows[:3])
        raise CorruptDatabase(f"state database {path} failed its integrity check: {first}")


def move_aside(path: Path, now: float) -> Path:
    """Rename a damaged state file (and its WAL and shared-memory files) out of the way,
    stamped with the time, so nothing in it is lost and a new file can be made."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{target}{suffix}")
    return target


def _damaged(exc: sqlite3.Error) -> bool:
    return "malformed" in str(exc) or "not a database" in str(exc)


class Database:
    """The open state file. Repositories read through ``connection`` and write in
    ``transaction``; every write's outcome is counted in ``writes``."""

    @classmethod
    def open_recovering(cls, path: Path, migrations: Sequence[Migrations], now: float
                        ) -> tuple[Database, Path | None]:
        """Open the state file; a damaged one is moved aside and a new one made.

        Returns the database and where the damaged file went (None: it was intact). A file
        that cannot be read at all for lack of access still raises StoreError.
        """
        moved: Path | None = None
        try:
            check_intact(path)
        except CorruptDatabase:
            moved = move_aside(path, now)
        try:
            return cls(path, migrations), moved
        except CorruptDatabase:  # damaged in a way only the migrations' reads found
            if moved is not None:
                raise
        moved = move_aside(path, now)
        return cls(path, migrations), moved

    def __init__(self, path: Path | str, migrations: Sequence[Migrations]) -> None:
        self.path = Path(path)
        self.writes = WriteHealth()
        # While ``batch()`` is open (in this thread), ``transaction()`` is a savepoint of
        # it: many small writes, one commit (the runner records a tick's results so).
        self._batch_thread: int | None = None
        self._rollback_hooks: list[Callable[[], None]] = []
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._prepare()
            for domain in migrations:
                self._migrate(domain)
            self.installation_id = self._load_installation_id()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _damaged(exc):
                raise StoreError(f"cannot open state database {path}: {exc}") from exc
            raise CorruptDatabase(f"state database {path} is damaged: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc

    # -- schema -----------------------------------------------------------------
    def _prepare(self) -> None:
        """Create the version table; remember the old linear version of a legacy file."""
        user_version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if user_version > LAYOUT_MARK:
            raise StoreError(
                f"state database {self.path} has layout {user_version}, newer than this "
                f"Vigil supports ({LAYOUT_MARK}); upgrade Vigil")
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_versions ("
                       "domain TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS vigil_meta ("
                       "key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            if user_version != LAYOUT_MARK:
                db.execute("INSERT OR IGNORE INTO schema_versions VALUES (?, ?)",
                           (_LEGACY, user_version))
                db.execute(f"PRAGMA user_version={LAYOUT_MARK}")

    def version(self, domain: str) -> int | None:
        row = self._db.execute("SELECT version FROM schema_versions WHERE domain = ?",
                               (domain,)).fetchone()
        return None if row is None else int(row[0])

    def _migrate(self, domain: Migrations) -> None:
        current = self.version(domain.domain)
        if current is None:
            current = domain.version_in_legacy_file(self.version(_LEGACY) or 0)
        if current > len(domain.steps):
            raise StoreError(
                f"state database {self.path} has {domain.domain} schema version {current}, "
                f"newer than this Vigil supports ({len(domain.steps)}); upgrade Vigil")
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO schema_versions VALUES (?, ?)",
                       (domain.domain, current))
        for version, script in enumerate(domain.steps[current:], start=current + 1):
            with self.transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("UPDATE schema_versions SET version = ? WHERE domain = ?",
                           (version, domain.domain))

    def _load_installation_id(self) -> str:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO vigil_meta VALUES ('installation_id', ?)",
                       (uuid.uuid4().hex,))
            row = db.execute("SELECT value FROM vigil_meta WHERE key = 'installation_id'"
                             ).fetchone()
        return str(row[0])

    # -- access -----------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """For a domain repository's reads (rows are ``sqlite3.Row``); writes go through
        ``transaction()``. Repositories keep it to themselves."""
        return self._db

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any error; counted in ``writes``.

        Inside ``batch()`` (same thread) it is a savepoint: undone alone on an error,
        committed with the batch."""
        if self._batch_thread is not None and self._batch_thread == threading.get_ident():
            return self._savepoint()
        return self._counted()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction around many ``transaction()`` blocks: one commit (and one
        WAL append of each touched page) for a whole tick's results instead of one each.

        If the batch cannot even begin (the file is locked by another writer past the busy
        timeout), the blocks inside run as separate transactions, as without a batch. A
        failed COMMIT loses the batch: counted in ``writes``, the rollback hooks run (a
        repository drops what it cached of the lost writes) and the error is raised."""
        if self._batch_thread is not None:  # nested: the outer batch commits
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            yield
            return
        self._batch_thread = threading.get_ident()
        try:
            yield
        except BaseException:
            self._batch_thread = None
            self._rollback()
            raise
        self._batch_thread = None
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc)
            self._rollback()
            raise
        self.writes.consecutive_failures = 0

    def on_rollback(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when a batch is rolled back (what it wrote is gone)."""
        self._rollback_hooks.append(hook)

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        for hook in self._rollback_hooks:
            hook()

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        try:
            with savepoint(self._db) as db:
                yield db
        except sqlite3.Error as exc:
            self._failed(exc)
            raise

    def _failed(self, exc: sqlite3.Error) -> None:
        self.writes.failures_total += 1
        self.writes.consecutive_failures += 1
        self.writes.last_error = str(exc)

    @contextmanager
    def _counted(self) -> Iterator[sqlite3.Connection]:
        try:
            with write_transaction(self._db) as db:
                yield db
        except sqlite3.Error as exc:
            self._failed(exc)
            raise
        self.writes.consecutive_failures = 0

    def is_writable(self) -> bool:
        """For /readyz: the last write succeeded and a write transaction can be taken
        (a full disk lets this empty one through, so the first test matters)."""
        if self.writes.failing:
            return False
        try:
            with write_transaction(self._db) as db:
                db.execute("UPDATE vigil_meta SET value = value WHERE key = 'installation_id'")
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        self._db.close()
