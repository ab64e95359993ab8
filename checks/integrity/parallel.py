"""Scan and hash a whole tree in forked worker processes: `vigil integrity baseline` and
`verify` (the CLI, a process of its own; never the daemon, whose threads must not fork).

baseline.verify() calls scan_and_hash() instead of scan() + hash_many() when every file
must be hashed anyway: the parent lists the names of the first levels of directories
until it has enough of them (a Moodle 5.1 tree has one top directory, public/, and half
of its bytes in public/lib) and hands them out round-robin in a few tasks per worker:
the directories below those levels walked whole, those of the levels for their own
files only (each task walked and hashed by one worker, the pool balancing the tasks), so
the walk runs in parallel too, not only the hashing. Parts are yielded as workers finish
them, so the caller stores one part while the workers hash the next.

A worker hashes each regular file as the walk meets it: opened relative to its directory
(no path look-up from the root), its fstat() is the file's stat (no separate lstat); a
file it cannot open is lstat()ed and, if still regular, read by hash_file() at the end of
the task (which says why it is unreadable, or that it vanished). Results come back as
plain tuples: pickling a NamedTuple calls Python code per object, which cost as much as
storing the rows.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import threading
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from checks.integrity.hashing import (
    _OPEN_FLAGS,
    Digest,
    Opener,
    _buffer,
    default_opener,
    hash_file,
    hash_many,
    read_whole,
)
from checks.integrity.patterns import PathRules
from checks.integrity.scan import FileStat, Scan, _record, open_dir, scan_top

# One file: (path, the FileStat fields, the Digest fields or None): plain tuples.
Row = tuple[str, tuple[Any, ...], tuple[Any, ...] | None]
_new = tuple.__new__
S_ISREG = stat.S_ISREG
SPLIT_DIRS = 32  # directories per worker the parent lists the tree down to
LEVELS = 2  # levels below the top it lists at most
TASKS = 8  # tasks per worker: enough for the pool to even out unequal directories


def scan_and_hash(root: str, rules: PathRules, workers: int, *, opener: Opener = default_opener,
                  ) -> Iterator[tuple[Scan, dict[str, Digest]]]:
    """Yield (part of the scan, digests of its regular files) until the tree is covered;
    the first part holds the files directly in ``root``."""
    top, subdirs = scan_top(root, rules)
    if not subdirs:
        yield top, hash_many(root, _regular(top), opener=opener)
        return
    import multiprocessing  # (the CLI only: the daemon's child need not load it)
    from concurrent.futures import ProcessPoolExecutor, as_completed

    items = _split(root, rules, subdirs, SPLIT_DIRS * workers)
    context = multiprocessing.get_context("fork")
    shares = min(len(items), TASKS * workers)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        tasks = [pool.submit(_subtree, root, rules, items[i::shares], opener)
                 for i in range(shares)]
        yield top, hash_many(root, _regular(top), opener=opener)  # while the workers walk
        for task in as_completed(tasks):
            yield _unpack(*task.result())


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a tree's rows are tens of thousands of tuples
    that hold no cycles, and each 700 of them started a collection (~7 % of the parent's
    time). Process-wide, so only around such a stretch: in the daemon, a verify's scan
    and load (~0.3 s for 30,000 files; nested or concurrent uses leave it enabled after)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if threading.active_count() == 1:
                # Else the first allocation after enable() would start a collection that
                # walks every object made inside (~10 ms for a tree's rows). freeze() then
                # unfreeze() moves them, unwalked, to the oldest generation (two list
                # splices), where only a full collection looks. Not with other threads:
                # their young garbage would go there too.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _unpack(part: Scan, rows: list[Row]) -> tuple[Scan, dict[str, Digest]]:
    files, digests = part.files, {}
    for path, st, digest in rows:
        files[path] = _new(FileStat, st)
        if digest is not None:
            digests[path] = _new(Digest, digest)
    return part, digests


def _split(root: str, rules: PathRules, subdirs: list[str], want: int,
           ) -> list[tuple[str, bool]]:
    """(directory, whole): the directories of the first levels below ``subdirs`` until
    there are ``want`` (at most LEVELS more), by name only (the workers stat and count);
    whole=False: only the files directly in it (its subdirectories are items too)."""
    flat: list[tuple[str, bool]] = []
    whole = subdirs
    for _ in range(LEVELS):
        if len(whole) >= want:
            break
        deeper = []
        for rel in whole:
            below = _dir_names(root, rel, rules)
            if below is None:  # cannot be listed: its worker says why
                deeper.append(rel)
            else:
                flat.append((rel, False))
                deeper += below
        whole = deeper
    return sorted(flat + [(rel, True) for rel in whole])


def _dir_names(root: str, rel: str, rules: PathRules) -> list[str] | None:
    try:
        with os.scandir(f"{root.rstrip('/')}/{rel}") as entries:
            return [f"{rel}/{e.name}" for e in entries if e.is_dir(follow_symlinks=False)
                    and not (rules and rules.matches(f"{rel}/{e.name}", True))]
    except OSError:
        return None


def _subtree(root: str, rules: PathRules, items: list[tuple[str, bool]], opener: Opener,
             ) -> tuple[Scan, list[Row]]:
    """Worker: walk each directory like scan.scan() (whole, or only its own files) and hash
    every regular file met."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:  # the root went away meanwhile: the parent's result says so
        return Scan(vanished=[rel for rel, _ in items]), []
    walker = _Walker(rules, None if opener is default_opener else root.rstrip("/") + "/",
                     opener)
    try:
        with gc_paused():
            for rel, whole in items:
                pending = [rel]
                walker.walk_dir(root_fd, pending.pop(), pending)
                while pending and whole:  # (a level's subdirectories are items of their own)
                    walker.walk_dir(root_fd, pending.pop(), pending)
    finally:
        os.close(root_fd)
    part, rows = walker.part, walker.rows
    prefix = root.rstrip("/") + "/"
    for path, st in part.files.items():  # symlinks, and files the walk could not hash
        digest = None if st.kind != "file" else tuple(
            hash_file(prefix + path, st.ino, opener=opener))  # (again: the error, if any)
        rows.append((path, tuple(st), digest))
    part.files = {}
    rows.sort(key=itemgetter(0))  # here, in parallel: the parent stores them in key order
    return part, rows


class _Walker:
    def __init__(self, rules: PathRules, prefix: str | None, opener: Opener) -> None:
        self.rules = rules or None  # (asked once per entry: None costs no __bool__ call)
        self.prefix = prefix  # None: open relative to the directory (the default opener)
        self.opener = opener
        self.part = Scan()
        self.rows: list[Row] = []
        self.buf = _buffer()
        self.view = memoryview(self.buf)

    def walk_dir(self, root_fd: int, rel: str, pending: list[str]) -> None:
        out, rows, rules = self.part, self.rows, self.rules
        fd = open_dir(root_fd, rel, out)
        if fd is None:
            return
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    path = f"{rel}/{entry.name}"
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                        if rules and rules.matches(path, is_dir):
                            out.ignored += 1
                            continue
                        if is_dir:
                            pending.append(path)
                            continue
                        if entry.is_file(follow_symlinks=False):
                            row = self.hash_entry(fd, entry.name, path)
                            if row is not None:
                                rows.append(row)
                                continue
                        st = entry.stat(follow_symlinks=False)  # a symlink, or open() failed
                    except FileNotFoundError:
                        out.vanished.append(path)
                        continue
                    _record(fd, entry.name, path, st, out)
        except OSError:
            out.unreadable.append(rel)
        finally:
            os.close(fd)

    def hash_entry(self, dir_fd: int, name: str, path: str) -> Row | None:
        """The row of a regular file, hashed; None when it cannot be opened or is no
        longer a regular file (then lstat()ed and left to the end of the task). Raises
        FileNotFoundError when it vanished."""
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd) if self.prefix is None else (
                self.opener(self.prefix + path))
        except FileNotFoundError:
            raise
        except OSError:  # EACCES, ELOOP (a symlink swapped in)...
            return None
        try:
            st = os.fstat(fd)
            if not S_ISREG(st.st_mode):  # swapped for a FIFO or a device since the listing
                return None
            fields = ("file", st.st_size, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                      st.st_ctime_ns, st.st_ino, None)
            try:
                return path, fields, read_whole(fd, self.buf, self.view)
            except OSError as exc:  # EIO...
                return path, fields, (None, False, 0, "unreadable", exc.strerror or str(exc))
        finally:
            os.close(fd)


def _regular(found: Scan) -> list[tuple[str, int | None]]:
    return [(path, st.ino) for path, st in found.files.items() if st.kind == "file"]


def merge(into: Scan, part: Scan) -> None:
    into.files.update(part.files)
    into.special += part.special
    into.unreadable += part.unreadable
    into.vanished += part.vanished
    into.pruned += part.pruned
    into.ignored += part.ignored
    into.directories += part.directories


def cpu_workers(limit: int = 4) -> int:
    return max(1, min(limit, os.cpu_count() or 1))
