"""The I/O budget: a full re-hash spread over runs, priorities, deadlines, lazy baselines."""

from __future__ import annotations

import itertools
from pathlib import Path

from integrity_helpers import assert_catalogued, context, sample

from checks.integrity.baseline import Limits, Tree, create_baseline, verify
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.hashing import Deadline, hash_file
from checks.integrity.store import IntegrityStore
from monitor.kernel.result import Status


def flat_tree(root: Path, count: int = 10, size: int = 1000) -> Tree:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"f{i:02}.js").write_bytes(bytes([i]) * size)
    return Tree("site", str(root))


def test_a_full_rehash_completes_over_ceil_tree_over_budget_runs(tmp_path: Path) -> None:
    tree = flat_tree(tmp_path / "code")
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, Limits(), 0.0, "test")
        hashed_per_run = []
        for run in range(1, 5):
            out = verify(store, tree, Limits(budget=3000), float(run))
            hashed_per_run.append(out.hashed_files)
            assert out.diff.changed == 0
            if run < 4:
                assert out.cursor.last_cycle_at is None or out.cursor.last_cycle_at == 0.0
        assert hashed_per_run == [3, 3, 3, 1]
        assert out.cursor.last_cycle_at == 4.0 and out.cursor.last_cycle_seconds == 4.0
        observed = store.load("site", tree.root, "observed")
        assert sorted(r.hashed_at for r in observed.values()) == [1.0] * 3 + [2.0] * 3 + [
            3.0] * 3 + [4.0]
        # the next cycle starts from the beginning again
        assert verify(store, tree, Limits(budget=3000), 5.0).hashed_files == 3


def test_the_check_reports_the_rehash_period_from_its_budget(site, state_dir, clock) -> None:
    import asyncio

    spec = CodeIntegritySpec.model_validate({"type": "code_integrity", "io_budget": 10,
                                             "interval": 60, "timeout": 30})
    check = CodeIntegrityCheck(spec)
    first = assert_catalogued(asyncio.run(check.run(context(site, state_dir, clock))))
    assert first.status == Status.OK and "to hash in later runs (I/O budget)" in first.summary
    total = sample(first, "lms_integrity_bytes")
    assert total and sample(first, "lms_integrity_rehash_period_seconds") == 60 * -(
        -total // 600)
    assert sample(first, "lms_integrity_read_bytes") <= 600


def test_a_lazy_baseline_takes_hashes_as_runs_reach_the_files(tmp_path: Path) -> None:
    tree = flat_tree(tmp_path / "code")
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        first = verify(store, tree, Limits(budget=4000), 0.0)
        assert first.created and first.hashed_files == 4 and len(first.deferred) == 6
        baseline = store.load("site", tree.root, "baseline")
        assert sum(1 for r in baseline.values() if r.sha256) == 4
        verify(store, tree, Limits(budget=4000), 1.0)
        verify(store, tree, Limits(budget=4000), 2.0)
        baseline = store.load("site", tree.root, "baseline")
        assert all(r.sha256 for r in baseline.values())
        # a file changed before its first hash is still seen as modified (size changed)
        (tmp_path / "code" / "f00.js").write_bytes(b"changed")
        assert verify(store, tree, Limits(budget=4000), 3.0).diff.modified == {
            "f00.js": ["content", "mtime"]}


def test_changed_files_come_first_smallest_first(tmp_path: Path) -> None:
    tree = flat_tree(tmp_path / "code")
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, Limits(), 0.0, "test")
        (tmp_path / "code" / "big.php").write_bytes(b"<?php " + b"x" * 5000)
        (tmp_path / "code" / "small.php").write_bytes(b"<?php 1;")
        out = verify(store, tree, Limits(budget=3000), 1.0)
        assert out.observed["small.php"].sha256 is not None
        assert out.too_large == ["big.php"]  # larger than any run's budget
        assert out.diff.added == ["big.php", "small.php"]
        assert out.hashed_files == 1 + 2  # small.php, then a slice of two unchanged files


def test_a_content_change_without_a_stat_change_is_found_by_the_rolling_rehash(
        tmp_path: Path) -> None:
    """Simulated by rewriting the stored hashes: a block-level edit, or a clock set back
    to hide ctime, leaves the stat alone; only re-reading finds it."""
    tree = flat_tree(tmp_path / "code")
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, Limits(), 0.0, "test")
        for source in ("baseline", "observed"):
            rows = store.load("site", tree.root, source)
            store.write("site", tree.root, source,
                        {"f05.js": rows["f05.js"]._replace(sha256="0" * 64)})
        quiet = verify(store, tree, Limits(rolling=False), 1.0)
        assert quiet.stealth == [] and quiet.diff.changed == 0
        out = verify(store, tree, Limits(), 2.0)
        assert out.stealth == ["f05.js"]
        assert out.diff.modified == {"f05.js": ["content"]}


def test_a_deadline_stops_hashing_and_the_rest_waits(tmp_path: Path) -> None:
    tree = flat_tree(tmp_path / "code")
    ticks = itertools.count()
    deadline = Deadline(lambda: float(next(ticks)), 4.0)  # time moves one tick per look
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, Limits(), 0.0, "test")
        out = verify(store, tree, Limits(deadline=deadline), 1.0)
        assert 0 < out.hashed_files < 10
        assert out.cursor.last_cycle_at is None or out.cursor.last_cycle_at == 0.0
        position = out.cursor.position
        assert position is not None
        nxt = verify(store, tree, Limits(), 2.0)
        assert nxt.hashed_files == 10 - sorted(out.observed).index(position) - 1
        assert nxt.cursor.last_cycle_at == 2.0


def test_hashing_streams_in_chunks_and_stops_at_a_deadline(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)
    ticks = itertools.count()
    got = hash_file(str(big), deadline=Deadline(lambda: float(next(ticks)), 2.0))
    assert got.problem == "deadline" and got.sha256 is None
    assert got.read == 3 << 20  # three 1 MiB chunks, then the deadline
