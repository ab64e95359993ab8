"""The CLI's way of hashing a whole tree (worker processes walking and hashing, each part
stored as it arrives, a new baseline written with the observed rows) gives exactly what
the daemon's single-process way gives, bad inputs included."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

from integrity_helpers import Clock

from checks.integrity.accept import accept
from checks.integrity.baseline import Limits, Outcome, Tree, create_baseline, verify
from checks.integrity.hashing import CHUNK, default_opener
from checks.integrity.parallel import _split
from checks.integrity.patterns import PathRules
from checks.integrity.store import IntegrityStore
from tests.moodle_double.sitedir import FakeSite

PROCESSES = Limits(workers=2, processes=True)  # what `vigil integrity` uses


class Opener:
    """A file-opening boundary the worker processes can receive (pickled): denies one
    file, and removes another as it is opened."""

    def __init__(self, deny: str, vanish: str) -> None:
        self.deny, self.vanish = deny, vanish

    def __call__(self, path: str) -> int:
        if path.endswith(self.deny):
            raise PermissionError(errno.EACCES, "Permission denied")
        if path.endswith(self.vanish):
            os.unlink(path)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return default_opener(path)


class Swapper:
    """Replaces files as a worker opens them: one by a FIFO, one by a symlink."""

    def __init__(self, fifo: str, link: str) -> None:
        self.fifo, self.link = fifo, link

    def __call__(self, path: str) -> int:
        if path.endswith(self.fifo):
            os.unlink(path)
            os.mkfifo(path)
        elif path.endswith(self.link):
            os.unlink(path)
            os.symlink("/etc/passwd", path)
        return default_opener(path)


def awkward_tree(site: FakeSite) -> Tree:
    """The generated site plus what a walk must survive: a symlink loop, a FIFO, a socket,
    a name that is not UTF-8, an empty file, a tag in a non-PHP name, multi-chunk files."""
    root = site.root
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("..", root / "lib" / "up")
    os.mkfifo(root / "lib" / "pipe")
    (root / "lib" / "empty.txt").write_bytes(b"")
    (root / "theme" / "polyglot.gif").write_bytes(b"GIF89a;<?php system($_GET[1]);")
    (root / "lib" / "chunk.bin").write_bytes(b"x" * CHUNK)
    (root / "lib" / "big.bin").write_bytes(os.urandom(3 * CHUNK + 1))
    with open(os.fsencode(str(root / "lib")) + b"/bad\xff\xfe.php", "wb") as fh:
        fh.write(b"<?php echo 1;")
    return Tree("moodle-test", str(root))


def baseline_both_ways(tmp_path: Path, tree: Tree, clock: Clock,
                       ) -> tuple[Outcome, Outcome, IntegrityStore, IntegrityStore]:
    serial = IntegrityStore.in_state_dir(tmp_path / "serial")
    forked = IntegrityStore.in_state_dir(tmp_path / "forked")
    one = create_baseline(serial, tree, Limits(), clock.now, "test")
    two = create_baseline(forked, tree, PROCESSES, clock.now, "test")
    return one, two, serial, forked


def test_worker_processes_store_the_same_rows_as_one_process(site, tmp_path, clock) -> None:
    tree = awkward_tree(site)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(site.root / "lib" / "php.sock"))
    try:
        one, two, serial, forked = baseline_both_ways(tmp_path, tree, clock)
    finally:
        sock.close()
    with serial, forked:
        for source in ("observed", "baseline"):
            rows = forked.load(tree.site, tree.root, source)
            assert rows == serial.load(tree.site, tree.root, source), source
        assert rows["theme/polyglot.gif"].note == "script"
        assert rows["lib/big.bin"].sha256 == one.observed["lib/big.bin"].sha256
        assert rows["a"].stat.kind == "symlink" and rows["a"].stat.link == "b"
    assert two.observed == one.observed and len(two.observed) > 20
    assert sorted(two.scan.special) == sorted(one.scan.special) == [
        ("lib/php.sock", "socket"), ("lib/pipe", "fifo")]
    assert (two.read_bytes, two.hashed_files) == (one.read_bytes, one.hashed_files)
    assert two.scan.directories == one.scan.directories
    assert two.baseline_run is not None and two.baseline_run.files == len(one.observed)


def test_an_unreadable_and_a_vanishing_file_in_a_worker_process(site, tmp_path,
                                                                clock) -> None:
    tree = Tree("moodle-test", str(site.root))
    limits = Limits(workers=2, processes=True,
                    opener=Opener(deny="lib/weblib.php", vanish="mod/quiz/lib.php"))
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        out = create_baseline(store, tree, limits, clock.now, "test")
        assert out.unreadable == ["lib/weblib.php"]
        assert out.scan.vanished == ["mod/quiz/lib.php"]
        assert "mod/quiz/lib.php" not in out.observed
        row = store.load(tree.site, tree.root, "baseline")["lib/weblib.php"]
        assert row.sha256 is None and row.note == "unreadable" and row.stat.size > 0
        again = verify(store, tree, PROCESSES, clock.now)  # readable again, hashed now
        assert again.unreadable == [] and again.diff.changed == 0
        filled = store.load(tree.site, tree.root, "baseline")["lib/weblib.php"]
        assert filled.sha256 == again.observed["lib/weblib.php"].sha256 is not None


def test_a_new_baseline_over_an_old_one_drops_gone_files_and_keeps_acceptances(
        site, tmp_path, clock) -> None:
    tree = Tree("moodle-test", str(site.root))
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, PROCESSES, clock.now, "test")
        (site.root / "local").mkdir(exist_ok=True)
        (site.root / "local" / "hack.php").write_text("<?php // ours")
        (site.root / "lib" / "weblib.php").write_text("<?php // patched")
        accept(store, tree, ["local/hack.php", "lib/weblib.php"], clock.now, "admin")
        (site.root / "lib" / "weblib.php").write_text("<?php // patched again")
        (site.root / "README.txt").unlink()
        clock.advance(60)
        out = create_baseline(store, tree, PROCESSES, clock.now, "admin")
        baseline = store.load(tree.site, tree.root, "baseline")
        observed = store.load(tree.site, tree.root, "observed")
        assert "README.txt" not in baseline and baseline.keys() == out.observed.keys()
        assert baseline["local/hack.php"].accepted_by == "admin"  # same content
        assert baseline["lib/weblib.php"].accepted_by is None  # changed since accepted
        assert {p: r._replace(accepted_at=None, accepted_by=None)
                for p, r in baseline.items()} == observed
        assert verify(store, tree, Limits(rolling=False), clock.now).diff.changed == 0


def test_an_interrupted_first_baseline_leaves_no_row_behind(site, tmp_path, clock) -> None:
    tree = Tree("moodle-test", str(site.root))
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        create_baseline(store, tree, PROCESSES, clock.now, "test")
        rows = store.load(tree.site, tree.root, "baseline")
    with IntegrityStore.in_state_dir(tmp_path / "fresh") as store:
        # rows written before the run was recorded (killed): one of a file gone since
        stale = {"gone.php": rows["README.txt"], "README.txt": rows["README.txt"]._replace(
            sha256="0" * 64)}
        store.write(tree.site, tree.root, "baseline", stale)
        out = create_baseline(store, tree, PROCESSES, clock.now, "test")
        assert out.created and store.load(tree.site, tree.root, "baseline") == rows


def test_files_swapped_while_a_worker_opens_them_are_taken_as_they_are_now(
        site, tmp_path, clock) -> None:
    tree = Tree("moodle-test", str(site.root))
    limits = Limits(workers=2, processes=True,
                    opener=Swapper(fifo="lib/weblib.php", link="mod/quiz/lib.php"))
    with IntegrityStore.in_state_dir(tmp_path / "state") as store:
        out = create_baseline(store, tree, limits, clock.now, "test")
    assert ("lib/weblib.php", "fifo") in out.scan.special
    assert "lib/weblib.php" not in out.observed
    link = out.observed["mod/quiz/lib.php"].stat
    assert link.kind == "symlink" and link.link == "/etc/passwd"
    assert out.unreadable == [] and out.deferred == []


def test_a_tree_with_one_top_directory_is_split_below_it(tmp_path, clock) -> None:
    """Moodle 5.1 keeps its code below public/: the workers get its subdirectories (the
    levels listed only for their own files), with the same rows and counts as one
    process, ignored directories included."""
    root = tmp_path / "moodle"
    for rel in ("composer.json", "public/index.php", "public/lib/setup.php",
                "public/lib/yui/build/yui.js", "public/lib/yui/build/deep/er/x.js",
                "public/mod/quiz/lib.php", "public/mod/quiz/classes/a.php",
                "public/cache/junk.php", "public/lib/yui/node_modules/m.js"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"<?php // {rel}")
    tree = Tree("moodle-test", str(root), PathRules(["public/cache/", "node_modules/"]))
    one, two, serial, forked = baseline_both_ways(tmp_path, tree, clock)
    with serial, forked:
        assert forked.load(tree.site, tree.root, "baseline") == serial.load(
            tree.site, tree.root, "baseline")
    assert two.observed == one.observed and len(one.observed) == 7
    assert (two.scan.ignored, two.scan.directories) == (one.scan.ignored,
                                                        one.scan.directories) == (2, 10)
    items = _split(str(root), tree.rules, ["public"], want=64)
    assert ("public", False) in items and ("public/lib", False) in items
    assert ("public/lib/yui", True) in items and ("public/cache", True) not in items


ONE_THREAD = """
import gc, threading
from checks.integrity.parallel import gc_paused
assert threading.active_count() == 1 and gc.isenabled()
with gc_paused():
    rows = [[n] for n in range(5000)]  # (lists: always tracked by the collector)
    assert not gc.isenabled()
oldest = gc.get_objects(generation=2)
print(gc.isenabled(), gc.get_count()[0] < 700,  # no young collection due now
      any(o is rows for o in oldest), any(o is rows[-1] for o in oldest))
"""


def test_objects_made_while_gc_was_paused_go_to_the_oldest_generation_unwalked() -> None:
    # In a fresh interpreter, as the isolated integrity child (the suite leaves threads).
    done = subprocess.run([sys.executable, "-c", ONE_THREAD], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"] * 4


OTHER_THREAD = """
import gc, threading
from checks.integrity.parallel import gc_paused
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
gc.collect()  # every generation's count at zero: no full collection can come next
with gc_paused():
    rows = [[n] for n in range(5000)]
print(gc.isenabled(), any(o is rows for o in gc.get_objects(generation=2)))
stop.set()
other.join()
"""


def test_with_another_thread_running_objects_made_while_paused_stay_young() -> None:
    # Its young garbage would be moved to the oldest generation too: plain enable() then.
    # A fresh interpreter: in the suite's process other threads allocate and collect, and a
    # full collection they set off would move the rows to the oldest generation anyway.
    done = subprocess.run([sys.executable, "-c", OTHER_THREAD], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2], timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
