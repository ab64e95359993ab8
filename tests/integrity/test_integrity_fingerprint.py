"""The scan fingerprint: an unchanged tree is recognised without loading its stats, and
nothing it skips can hide a change (checks/integrity/store.py scan_matches/save_scan)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from checks.integrity.baseline import Limits, Tree, create_baseline, verify
from checks.integrity.scan import fingerprint, scan
from checks.integrity.store import IntegrityStore
from checks.integrity.tables import MIGRATIONS
from monitor.kernel.database import Database, Migrations
from tests.moodle_double.sitedir import FakeSite

SITE = "moodle-test"


def tree_of(site: FakeSite) -> Tree:
    return Tree(SITE, str(site.root))


def matches_now(store: IntegrityStore, root: Path) -> bool:
    return store.scan_matches(SITE, str(root), fingerprint(scan(str(root)).files))


def test_an_unchanged_tree_matches_its_fingerprint_and_a_hidden_edit_is_still_found(
        site, state_dir, clock) -> None:
    tree = tree_of(site)
    target = site.root / "lib" / "weblib.php"
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        quiet = verify(store, tree, Limits(rolling=False), clock.now)
        assert matches_now(store, site.root)  # the next run skips loading the stats
        again = verify(store, tree, Limits(rolling=False), clock.now)
        assert again.diff == quiet.diff and again.diff.changed == 0
        full = store.load(SITE, tree.root, "observed", brief=True)
        assert again.observed == full  # the same records as loading every stat
        assert list(again.observed) == list(full)  # in the same (key) order
        # Same size, mtime put back: only ctime (and the content) differ now.
        before = target.stat()
        target.write_bytes(target.read_bytes().replace(b"<?php", b"<?PHP", 1))
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert not matches_now(store, site.root)
        out = verify(store, tree, Limits(rolling=False), clock.now)
    assert out.diff.modified == {"lib/weblib.php": ["content"]}


def test_a_removed_and_an_added_file_change_the_fingerprint(site, state_dir, clock) -> None:
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        assert matches_now(store, site.root)
        (site.root / "version.php").rename(site.root / "version2.php")
        assert not matches_now(store, site.root)
        out = verify(store, tree, Limits(rolling=False), clock.now)
    assert out.diff.removed == ["version.php"] and out.diff.added == ["version2.php"]


def test_a_row_written_by_another_writer_meanwhile_is_not_vouched_for(site, state_dir,
                                                                     clock) -> None:
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        (site.root / "README.txt").unlink()
        current = fingerprint(scan(str(site.root)).files)
        assert not store.scan_matches(SITE, tree.root, current)  # (reads the generation)
        with IntegrityStore.in_state_dir(state_dir) as other:  # e.g. `vigil integrity`
            rows = other.load(SITE, tree.root, "observed")
            other.write(SITE, tree.root, "observed",
                        {"version.php": rows["version.php"]._replace(sha256="0" * 64)})
        store.save_scan(SITE, tree.root, current)  # its last read predates that write
        assert not store.scan_matches(SITE, tree.root, current)
        out = verify(store, tree, Limits(), clock.now)  # full load, re-hash: row repaired
        assert out.stealth == ["version.php"] and out.diff.removed == ["README.txt"]
        assert store.scan_matches(SITE, tree.root, current)


def test_a_state_file_of_the_first_integrity_schema_gains_the_fingerprint(
        site, state_dir, clock) -> None:
    path = state_dir / "vigil.sqlite3"
    state_dir.mkdir()
    first = Migrations("integrity", MIGRATIONS.steps[:1], legacy=MIGRATIONS.legacy[:1])
    Database(path, [first]).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO integrity_trees (site, root) VALUES (?, ?)",
                   (SITE, os.fsencode(str(site.root))))
    with IntegrityStore(path) as store:
        create_baseline(store, tree_of(site), Limits(), clock.now, "test")
        assert matches_now(store, site.root)
    upgraded = Database(path, [])
    assert upgraded.version("integrity") == len(MIGRATIONS.steps)
    columns = {row[1] for row in upgraded.connection.execute(
        "PRAGMA table_info(integrity_trees)")}
    upgraded.close()
    assert {"scan_generation", "scan_fingerprint"} <= columns


def test_non_ascii_and_non_utf8_names_load_the_same_records_as_every_stat(
        site, state_dir, clock) -> None:
    # Their key order (bytes) is not str order: these take the load that decodes paths.
    (site.root / "lang" / "é.php").parent.mkdir(exist_ok=True)
    (site.root / "lang" / "é.php").write_text("<?php // é\n")
    (site.root / "lang" / "z.txt").write_text("z\n")
    os.close(os.open(os.fsencode(site.root / "lang") + b"/\xff.txt", os.O_CREAT | os.O_WRONLY))
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        assert matches_now(store, site.root)
        again = verify(store, tree, Limits(rolling=False), clock.now)
        full = store.load(SITE, tree.root, "observed", brief=True)
    assert again.observed == full and "lang/\udcff.txt" in full and "lang/é.php" in full
    assert all(rec.sha256 for rec in full.values() if rec.stat.kind == "file")
    assert list(again.observed) == list(full)  # key order, as the full load gives it


def saved_hashes(store: IntegrityStore) -> list[tuple[int, int]]:
    """(generation of the saved hashes, the tree's generation) of every tree."""
    return store._db.execute(
        "SELECT h.generation, t.generation FROM integrity_scan_hashes h "
        "JOIN integrity_trees t ON t.id = h.tree_id").fetchall()


def test_the_hashes_saved_with_the_fingerprint_give_every_rows_records(
        site, state_dir, clock) -> None:
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        verify(store, tree, Limits(rolling=False), clock.now)
        [(saved, now)] = saved_hashes(store)
        assert saved == now  # what the next run loads instead of the rows
        again = verify(store, tree, Limits(rolling=False), clock.now)
        full = store.load(SITE, tree.root, "observed", brief=True)
        assert again.observed == full and list(again.observed) == list(full)
        # A run that writes rows (a re-hash) saves the hashes of its new generation.
        clock.advance(3600)
        hashed = verify(store, tree, Limits(budget=10**9), clock.now)
        assert hashed.hashed_files and saved_hashes(store)[0][0] == saved_hashes(store)[0][1]
        next_run = verify(store, tree, Limits(rolling=False), clock.now)
        full = store.load(SITE, tree.root, "observed", brief=True)
    assert next_run.observed == full


def test_damaged_saved_hashes_fall_back_to_the_rows(site, state_dir, clock) -> None:
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        verify(store, tree, Limits(rolling=False), clock.now)
        full = store.load(SITE, tree.root, "observed", brief=True)
        for damaged in (b"\x00garbage", b'[["' + b"0" * 64 + b'"],[null]]',  # short
                        b'{"a": 1}', b"[1, 2, 3]"):
            store._db.execute("UPDATE integrity_scan_hashes SET hashes=?", (damaged,))
            again = verify(store, tree, Limits(rolling=False), clock.now)
            assert again.observed == full and again.diff.changed == 0
            shas, notes = json.loads(store._db.execute(  # saved anew by that run
                "SELECT hashes FROM integrity_scan_hashes").fetchone()[0])
            assert shas == [full[p].sha256 for p in sorted(full)] and len(notes) == len(full)


def test_a_state_file_of_the_second_integrity_schema_gains_the_saved_hashes(
        site, state_dir, clock) -> None:
    path = state_dir / "vigil.sqlite3"
    state_dir.mkdir()
    second = Migrations("integrity", MIGRATIONS.steps[:2], legacy=MIGRATIONS.legacy[:2])
    Database(path, [second]).close()
    tree = tree_of(site)
    with IntegrityStore(path) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        verify(store, tree, Limits(rolling=False), clock.now)
        assert len(saved_hashes(store)) == 1
        again = verify(store, tree, Limits(rolling=False), clock.now)
        assert again.observed == store.load(SITE, tree.root, "observed", brief=True)


def test_a_rolling_re_hash_finding_the_same_content_keeps_the_saved_comparison_and_scan(
        site, state_dir, clock, monkeypatch) -> None:
    # What the daemon does every run: re-hash a slice of an unchanged tree. The rows it
    # writes differ in hashed_at only, so nothing is compared or saved again.
    tree = tree_of(site)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        quiet = verify(store, tree, Limits(rolling=False), clock.now)
        compared: list[object] = []
        real = store.differing
        monkeypatch.setattr(store, "differing", lambda *a: compared.append(a) or real(*a))
        clock.advance(3600)
        out = verify(store, tree, Limits(budget=10**9), clock.now)
        assert out.hashed_files and not out.stealth and out.diff == quiet.diff
        assert compared == []  # the comparison saved by the run before was still valid
        assert matches_now(store, site.root)
        [(saved, now)] = saved_hashes(store)
        assert saved == now
        hashed_at = store.load(SITE, tree.root, "observed")["version.php"].hashed_at
        assert hashed_at == clock.now  # the re-hash itself is recorded
        again = verify(store, tree, Limits(rolling=False), clock.now)
        assert compared == [] and again.observed == store.load(SITE, tree.root, "observed",
                                                                 brief=True)


def test_a_re_hash_finding_other_content_under_the_same_stat_is_compared_anew(
        site, state_dir, clock, monkeypatch) -> None:
    import checks.integrity.baseline as baseline

    tree = tree_of(site)
    real = baseline.hash_many

    def content_changed_in_place(*args, **kwargs):  # (a write that kept every stat)
        got = real(*args, **kwargs)
        got["version.php"] = got["version.php"]._replace(sha256="0" * 64)
        return got

    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree, Limits(), clock.now, "test")
        verify(store, tree, Limits(rolling=False), clock.now)
        monkeypatch.setattr(baseline, "hash_many", content_changed_in_place)
        clock.advance(3600)
        out = verify(store, tree, Limits(budget=10**9), clock.now)
        assert out.stealth == ["version.php"]
        assert out.diff.modified == {"version.php": ["content"]}
        monkeypatch.setattr(baseline, "hash_many", real)
        after = verify(store, tree, Limits(rolling=False), clock.now)  # nothing vouched stale
    assert after.diff.modified == {"version.php": ["content"]}
