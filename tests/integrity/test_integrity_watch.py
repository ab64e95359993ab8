"""Skipping the walk while inotify reports no change (checks/integrity/watch.py): a run
after a full walk under watches skips the walk only when nothing was reported, the root is
the same directory, and the walk is recent; every kind of change makes the next run walk
and report it. Real inotify on a real tree (Vigil runs on Linux)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from integrity_helpers import context

from checks.integrity import baseline, codetree, watch
from checks.integrity.baseline import Limits, Outcome, Tree, verify
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec, judge
from checks.integrity.store import IntegrityStore
from checks.integrity.watch import Hints, Watching, open_instance
from monitor.kernel.result import Status

SITE = "moodle-test"
HOUR = 3600.0


@pytest.fixture
def instance():
    fd = open_instance()
    assert fd is not None
    yield fd
    os.close(fd)


@pytest.fixture
def walks(monkeypatch) -> list[str]:
    """The roots baseline.verify() walked."""
    seen: list[str] = []
    real = baseline.scan

    def counting(root: str, *args, **kwargs):
        seen.append(root)
        return real(root, *args, **kwargs)

    monkeypatch.setattr(baseline, "scan", counting)
    return seen


def run(store: IntegrityStore, root: Path, fd: int, now: float, token: str = "daemon-1",
        every: float = HOUR) -> Outcome:
    return verify(store, Tree(SITE, str(root)), Limits(rolling=False), now,
                  watching=Watching(Hints(fd), token, every))


def test_a_run_with_nothing_reported_skips_the_walk_and_a_change_makes_it_walk(
        site, state_dir, clock, instance, walks) -> None:
    target = site.root / "lib" / "weblib.php"
    with IntegrityStore.in_state_dir(state_dir) as store:
        first = run(store, site.root, instance, clock.now)
        assert first.created and first.walked
        clock.advance(300)
        quiet = run(store, site.root, instance, clock.now)
        assert not quiet.walked and len(walks) == 1
        assert quiet.diff.changed == 0
        assert quiet.observed == store.load(SITE, str(site.root), "observed", brief=True)
        target.write_text(target.read_text() + "\n// changed\n")
        clock.advance(300)
        changed = run(store, site.root, instance, clock.now)
        assert changed.walked and len(walks) == 2
        assert "content" in changed.diff.modified["lib/weblib.php"]
        clock.advance(300)
        still = run(store, site.root, instance, clock.now)  # skipped, the change still told
        assert not still.walked and still.diff.modified == changed.diff.modified


def _add_in_new_directory(root: Path) -> None:
    (root / "local" / "new" / "deep").mkdir(parents=True)
    (root / "local" / "new" / "deep" / "x.txt").write_text("x")


def _replace_by_rename(root: Path) -> None:
    tmp = root / "lib" / "weblib.php.tmp"
    tmp.write_text("<?php // replaced\n")
    tmp.replace(root / "lib" / "weblib.php")


def _times_put_back(root: Path) -> None:
    # Same size and mtime put back: the stat differs in ctime only.
    target = root / "lib" / "weblib.php"
    before = target.stat()
    target.write_bytes(target.read_bytes().replace(b"<?php", b"<?PHP", 1))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))


CHANGES: dict[str, tuple[Callable[[Path], None], Callable[[Outcome], bool]]] = {
    "content": (lambda r: (r / "version.php").write_text("<?php $x = 1;\n"),
                lambda o: "version.php" in o.diff.modified),
    "mode": (lambda r: (r / "version.php").chmod(0o600),
             lambda o: o.diff.modified.get("version.php") == ["mode"]),
    "removed": (lambda r: (r / "version.php").unlink(),
                lambda o: o.diff.removed == ["version.php"]),
    "renamed": (lambda r: (r / "version.php").rename(r / "version2.php"),
                lambda o: o.diff.removed == ["version.php"] and o.diff.added == ["version2.php"]),
    "replaced by a rename": (_replace_by_rename,
                             lambda o: "lib/weblib.php" in o.diff.modified),
    "added in a new directory": (_add_in_new_directory,
                                 lambda o: o.diff.added == ["local/new/deep/x.txt"]),
    "mtime put back": (_times_put_back, lambda o: "lib/weblib.php" in o.diff.modified),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_kind_of_change_makes_the_next_run_walk_and_report_it(
        change, site, state_dir, clock, instance) -> None:
    make, reported = CHANGES[change]
    with IntegrityStore.in_state_dir(state_dir) as store:
        run(store, site.root, instance, clock.now)
        clock.advance(300)
        assert not run(store, site.root, instance, clock.now).walked  # armed
        make(site.root)
        clock.advance(300)
        out = run(store, site.root, instance, clock.now)
    assert out.walked and reported(out), out.diff


def test_a_full_walk_comes_after_full_walk_every_and_from_a_new_instance(
        site, state_dir, clock, instance) -> None:
    with IntegrityStore.in_state_dir(state_dir) as store:
        run(store, site.root, instance, clock.now)
        clock.advance(HOUR - 1)
        assert not run(store, site.root, instance, clock.now).walked
        clock.advance(2)  # an hour since the walk: walk again, then skip again
        assert run(store, site.root, instance, clock.now).walked
        assert not run(store, site.root, instance, clock.now).walked
        other = open_instance()  # a restarted daemon: its watches saw nothing yet
        try:
            assert run(store, site.root, other, clock.now, token="daemon-2").walked
            assert not run(store, site.root, other, clock.now, token="daemon-2").walked
        finally:
            os.close(other)


def test_a_switched_root_symlink_makes_the_run_walk(site, tmp_path, state_dir, clock,
                                                    instance) -> None:
    release = tmp_path / "release-2"
    shutil.copytree(site.root, release, symlinks=True)
    (release / "version.php").write_text("<?php $release = 2;\n")
    current = tmp_path / "current"
    current.symlink_to(site.root)
    with IntegrityStore.in_state_dir(state_dir) as store:
        run(store, current, instance, clock.now)
        assert not run(store, current, instance, clock.now).walked
        tmp_link = tmp_path / "current.tmp"
        tmp_link.symlink_to(release)
        tmp_link.replace(current)  # a deploy: nothing changed inside the watched tree
        out = run(store, current, instance, clock.now)
    assert out.walked and "version.php" in out.diff.modified


def test_reports_cleared_by_a_run_that_died_still_make_the_next_run_walk(
        site, state_dir, clock, instance) -> None:
    with IntegrityStore.in_state_dir(state_dir) as store:
        run(store, site.root, instance, clock.now)
        (site.root / "version.php").write_text("<?php $x = 2;\n")
        # A run reads the reports, then is killed before its walk is saved.
        dying = Watching(Hints(instance), "daemon-1", HOUR)
        assert dying.quiet(store, SITE, str(site.root), clock.now) is None
        assert not Hints(instance).pending()  # cleared
        out = run(store, site.root, instance, clock.now)
    assert out.walked and "version.php" in out.diff.modified


class WatchLimit:
    """libc whose inotify_add_watch fails as the kernel does at fs.inotify.max_user_watches
    (a global limit: lowering it here would starve every other process of the host)."""

    def __init__(self, allowed: int, error: int = errno.ENOSPC) -> None:
        self.allowed = allowed
        self.error = error

    def inotify_add_watch(self, fd: int, path: bytes, mask: int) -> int:
        if self.allowed == 0:
            ctypes.set_errno(self.error)
            return -1
        self.allowed -= 1
        return 1


def test_a_walk_whose_watches_were_not_all_added_is_never_skipped_and_says_why(
        site, state_dir, clock, instance, monkeypatch) -> None:
    monkeypatch.setattr(watch, "_libc", lambda: WatchLimit(allowed=2))
    with IntegrityStore.in_state_dir(state_dir) as store:
        for _ in range(3):
            out = run(store, site.root, instance, clock.now)
            assert out.walked
            assert "inotify's watch limit was reached (fs.inotify.max_user_watches = " in (
                out.walks_every_run)
    result = judge(CodeIntegritySpec.model_validate({"type": "code_integrity"}), out,
                   clock.now, covered=False)
    assert result.details["walk"].startswith(
        "full; every run walks while this lasts: inotify's watch limit was reached")


def test_a_directory_gone_before_its_watch_was_added_makes_only_the_next_run_walk(
        site, state_dir, clock, instance, monkeypatch) -> None:
    monkeypatch.setattr(watch, "_libc", lambda: WatchLimit(allowed=2, error=errno.ENOENT))
    with IntegrityStore.in_state_dir(state_dir) as store:
        out = run(store, site.root, instance, clock.now)
        assert out.walked and out.walks_every_run == ""  # (passing: not "every run")
        monkeypatch.undo()
        assert run(store, site.root, instance, clock.now).walked  # not armed by that walk
        assert not run(store, site.root, instance, clock.now).walked


async def test_a_check_without_an_inotify_instance_walks_every_run_and_says_why(
        site, state_dir, clock, monkeypatch) -> None:
    def none_left() -> None:
        ctypes.set_errno(errno.EMFILE)  # as inotify_init1 at fs.inotify.max_user_instances

    monkeypatch.setattr(codetree, "open_instance", none_left)
    check = CodeIntegrityCheck(CodeIntegritySpec.model_validate({"type": "code_integrity"}))
    for _ in range(2):
        result = await check.run(context(site, state_dir, clock))
        assert result.details["walk"].startswith(
            "full; every run walks while this lasts: no inotify instance left: "
            "fs.inotify.max_user_instances = ")
        clock.advance(300)


def test_a_tree_holding_a_special_file_is_walked_every_run(site, state_dir, clock,
                                                           instance) -> None:
    os.mkfifo(site.root / "lib" / "pipe")
    with IntegrityStore.in_state_dir(state_dir) as store:
        for _ in range(3):
            out = run(store, site.root, instance, clock.now)
            assert out.walked and out.scan.special == [("lib/pipe", "fifo")]
            assert out.walks_every_run == ("the tree holds special files or paths that "
                                           "cannot be read")


async def test_the_check_skips_the_walk_in_its_child_and_reports_a_change(
        site, state_dir, clock) -> None:
    check = CodeIntegrityCheck(CodeIntegritySpec.model_validate({"type": "code_integrity"}))
    first = await check.run(context(site, state_dir, clock))
    clock.advance(300)
    second = await check.run(context(site, state_dir, clock))
    assert first.details["walk"] == "full" and second.details["walk"].startswith("skipped")
    assert second.status == Status.OK
    (site.root / "lib" / "evil.php").write_text("<?php eval($_POST['x']);\n")
    clock.advance(300)
    third = await check.run(context(site, state_dir, clock))
    assert third.details["walk"] == "full" and third.status == Status.CRITICAL
    assert third.details["new_scripts"] == ["lib/evil.php"]


async def test_with_watch_changes_off_every_run_walks(site, state_dir, clock) -> None:
    check = CodeIntegrityCheck(CodeIntegritySpec.model_validate(
        {"type": "code_integrity", "watch_changes": False}))
    for _ in range(3):
        result = await check.run(context(site, state_dir, clock))
        assert result.details["walk"] == "full"
        clock.advance(300)
