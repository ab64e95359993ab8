"""Bad inputs in a code tree: each gets a clear status and its own category, never a crash.

Tests run as root, which reads chmod 000 files; an unreadable file is simulated through the
file-opening boundary (the opener) instead.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import tracemalloc
from pathlib import Path

import pytest
from integrity_helpers import Clock, assert_catalogued, context, failing_opener, sample

from checks.integrity.baseline import Limits, Tree, create_baseline, verify
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec, judge
from checks.integrity.store import IntegrityStore
from monitor.kernel.result import Status
from tests.moodle_double.sitedir import FakeSite

SPEC = CodeIntegritySpec.model_validate({"type": "code_integrity"})


def check_run(site: FakeSite, state_dir: Path, clock: Clock, **spec: object):
    check_spec = CodeIntegritySpec.model_validate({"type": "code_integrity", **spec})
    ctx = context(site, state_dir, clock)
    return assert_catalogued(asyncio.run(CodeIntegrityCheck(check_spec).run(ctx)))


def tree_of(site: FakeSite) -> Tree:
    return Tree("moodle-test", str(site.root))


def test_an_unreadable_file_is_its_own_category(site, state_dir, clock) -> None:
    denied = failing_opener(lambda p: PermissionError(errno.EACCES, "Permission denied")
                            if p.endswith("lib/weblib.php") else None)
    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree_of(site), Limits(), clock.now, "test")
        (site.root / "lib" / "weblib.php").write_text("<?php // changed")
        out = verify(store, tree_of(site), Limits(opener=denied), clock.now)
    assert out.unreadable == ["lib/weblib.php"]
    result = assert_catalogued(judge(SPEC, out, clock.now, covered=False))
    assert result.status == Status.CRITICAL  # the size changed: modified, even unread
    assert "1 unreadable file(s)" in result.summary
    assert result.details["unreadable"] == ["lib/weblib.php"]
    assert sample(result, "lms_integrity_skipped_files", reason="unreadable") == 1


def test_an_unreadable_file_at_baseline_time_is_reported_not_fatal(site, state_dir,
                                                                   clock) -> None:
    denied = failing_opener(lambda p: PermissionError(errno.EACCES, "Permission denied")
                            if p.endswith("README.txt") else None)
    with IntegrityStore.in_state_dir(state_dir) as store:
        out = create_baseline(store, tree_of(site), Limits(opener=denied), clock.now, "t")
        assert out.unreadable == ["README.txt"]
        again = verify(store, tree_of(site), Limits(), clock.now)  # readable again
    assert again.unreadable == [] and again.diff.changed == 0


def test_a_file_that_vanishes_mid_scan_is_noted_and_counted_as_removed(site, state_dir,
                                                                       clock) -> None:
    def vanish(path: str) -> BaseException | None:
        if path.endswith("README.txt"):
            os.unlink(path)
            return FileNotFoundError(errno.ENOENT, "No such file or directory")
        return None

    with IntegrityStore.in_state_dir(state_dir) as store:
        create_baseline(store, tree_of(site), Limits(), clock.now, "test")
        out = verify(store, tree_of(site), Limits(opener=failing_opener(vanish)), clock.now)
    assert "README.txt" in out.scan.vanished and "README.txt" not in out.observed
    assert out.diff.removed == ["README.txt"]
    result = assert_catalogued(judge(SPEC, out, clock.now, covered=False))
    assert result.status == Status.WARNING
    assert sample(result, "lms_integrity_skipped_files", reason="vanished") == 1


def test_special_files_are_skipped_and_noted(site, state_dir, clock) -> None:
    os.mkfifo(site.root / "lib" / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(site.root / "lib" / "php.sock"))
    try:
        os.mknod(site.root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        devices = 1
    except PermissionError:  # no CAP_MKNOD in this container
        devices = 0
    try:
        first = check_run(site, state_dir, clock)
        result = check_run(site, state_dir, clock)
    finally:
        sock.close()
    assert first.status == Status.OK and result.status == Status.OK, result.summary
    kinds = sorted(result.details["special_files"])
    assert "lib/pipe (fifo)" in kinds and "lib/php.sock (socket)" in kinds
    assert len(kinds) == 2 + devices
    assert sample(result, "lms_integrity_skipped_files", reason="special") == 2 + devices


def test_symlinks_are_recorded_never_followed_even_in_a_loop(site, state_dir, clock) -> None:
    os.symlink("b", site.root / "a")
    os.symlink("a", site.root / "b")
    os.symlink("..", site.root / "lib" / "up")  # a directory loop if followed
    first = check_run(site, state_dir, clock)
    assert first.status == Status.OK
    os.unlink(site.root / "a")
    os.symlink("/etc/passwd", site.root / "a")
    result = check_run(site, state_dir, clock)
    assert result.status == Status.WARNING
    assert list(result.details["modified"]) == ["a"]
    assert result.details["modified"]["a"][0] == "target"


def test_a_5gb_sparse_file_is_deferred_by_the_budget_and_reported(site, state_dir,
                                                                  clock) -> None:
    check_run(site, state_dir, clock)
    with open(site.root / "backup.tar", "wb") as fh:
        fh.truncate(5 << 30)
    tracemalloc.start()
    try:
        result = check_run(site, state_dir, clock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == Status.WARNING  # a new (non-script) file
    assert result.details["added"] == ["backup.tar"]
    assert result.details["too_large"] == ["backup.tar"]
    assert sample(result, "lms_integrity_skipped_files", reason="too_large") == 1
    assert sample(result, "lms_integrity_read_bytes") < 10 << 20
    assert peak < 32 << 20


def test_a_path_that_is_not_utf8_is_stored_and_shown_safely(site, state_dir, clock) -> None:
    check_run(site, state_dir, clock)
    name = os.fsencode(str(site.root / "lib")) + b"/bad\xff\xfe.php"
    with open(name, "wb") as fh:
        fh.write(b"<?php echo 1;")
    result = check_run(site, state_dir, clock)
    assert result.status == Status.CRITICAL
    assert result.details["new_scripts"] == ["lib/bad\\xff\\xfe.php"]
    again = check_run(site, state_dir, clock)  # read back from the state DB unchanged
    assert again.details["new_scripts"] == ["lib/bad\\xff\\xfe.php"]
    assert again.summary == result.summary


def test_a_missing_code_directory_is_unknown_with_the_cause(tmp_path, state_dir, clock,
                                                            site) -> None:
    from checks.base import CheckUnavailable

    spec = CodeIntegritySpec.model_validate({"type": "code_integrity",
                                             "path": str(tmp_path / "nowhere")})
    with pytest.raises(CheckUnavailable, match="cannot open .*nowhere"):
        asyncio.run(CodeIntegrityCheck(spec).run(context(site, state_dir, clock)))


def test_without_a_state_directory_the_check_cannot_judge(site, clock) -> None:
    from checks.base import CheckUnavailable

    ctx = context(site, Path("unused"), clock)
    ctx.state_dir = None
    with pytest.raises(CheckUnavailable, match="state directory"):
        asyncio.run(CodeIntegrityCheck(SPEC).run(ctx))
