"""A state file that is not an intact database is moved aside and rebuilt; one Vigil may
not touch gives a clear StoreError and stays where it is."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from monitor.app.store import DOMAINS, StateStore
from monitor.kernel.database import CorruptDatabase, Database, StoreError, check_intact
from monitor.kernel.result import Result, Status

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def written_store(path: Path) -> None:
    store = StateStore(path)
    for i in range(400):  # several pages of rows
        store.record_result("m", f"c{i}", "http", Result(Status.OK, "x" * 200), float(i), 0.1)
    store.database.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def recover(path: Path) -> tuple[Database, Path | None]:
    return Database.open_recovering(path, DOMAINS, NOW)


def test_garbage_is_moved_aside_with_a_timestamp_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    path.write_bytes(b"this is not a database\n" * 100)
    database, moved = recover(path)
    assert moved == tmp_path / "vigil.sqlite3.corrupt-20270115T080000Z"
    assert moved.read_bytes().startswith(b"this is not a database")  # nothing lost
    assert database.version("alerting") is not None and database.is_writable()


def test_a_truncated_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    written_store(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 3)
    with pytest.raises(CorruptDatabase):
        check_intact(path)
    database, moved = recover(path)
    assert moved is not None and moved.exists()
    assert database.connection.execute("SELECT COUNT(*) FROM check_state").fetchone()[0] == 0


def test_one_damaged_page_is_found_by_the_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    written_store(path)
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as f:  # scribble over a page in the middle of the table's b-tree
        f.seek(page * 8)
        f.write(os.urandom(page))
    database, moved = recover(path)
    assert moved is not None
    assert database.is_writable()


def test_an_intact_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    written_store(path)
    database, moved = recover(path)
    assert moved is None
    assert database.connection.execute("SELECT COUNT(*) FROM check_state").fetchone()[0] == 400


def test_a_file_on_a_read_only_mount_is_an_error_and_stays(tmp_path: Path) -> None:
    where = tmp_path / "ro"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root (the test command runs as root, as CI does): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    path = where / "vigil.sqlite3"
    try:
        written_store(path)
        size = path.stat().st_size
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        with pytest.raises(StoreError) as raised:
            recover(path)
        assert not isinstance(raised.value, CorruptDatabase)
        assert "read" in str(raised.value) and str(path) in str(raised.value)
        assert path.stat().st_size == size and not list(where.glob("*.corrupt-*"))
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_directory_where_the_file_should_be_is_an_error_not_corruption(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    path.mkdir()
    with pytest.raises(StoreError) as raised:
        recover(path)
    assert not isinstance(raised.value, CorruptDatabase)
    assert path.is_dir()


def test_failed_writes_are_counted_and_a_success_clears_them(tmp_path: Path) -> None:
    database = Database(tmp_path / "vigil.sqlite3", DOMAINS)
    with pytest.raises(sqlite3.IntegrityError), database.transaction() as db:
        db.execute("INSERT INTO vigil_meta VALUES ('installation_id', 'again')")
    assert (database.writes.failures_total, database.writes.consecutive_failures) == (1, 1)
    assert "UNIQUE" in (database.writes.last_error or "")
    assert not database.is_writable()  # /readyz: the last write failed
    with database.transaction() as db:
        db.execute("INSERT INTO vigil_meta VALUES ('x', 'y')")
    assert (database.writes.failures_total, database.writes.failing) == (1, False)
    assert database.is_writable()
