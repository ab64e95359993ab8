"""Walk a directory tree and lstat everything in it, never following a symlink.

First step of every integrity run: scan(root, rules) -> Scan (a stat per regular file and
symlink, plus what was skipped and why). Opens each directory relative to the root's file
descriptor and stats entries relative to their directory, which keeps a scan of a code
tree of 30,000 files near 0.15 s. Paths are relative ``str`` (surrogateescape for bytes
that are not UTF-8), '/'-separated.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from checks.integrity.patterns import PathRules

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
S_ISREG = stat.S_ISREG


class FileStat(NamedTuple):
    """What the baseline keeps of a file's inode. A tuple: comparing two is one C call."""

    kind: str  # "file" | "symlink"
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    link: str | None = None  # a symlink's target (never followed)


@dataclass(slots=True)
class Scan:
    files: dict[str, FileStat] = field(default_factory=dict)
    special: list[tuple[str, str]] = field(default_factory=list)  # (path, "fifo"|"socket"|...)
    unreadable: list[str] = field(default_factory=list)  # directories that could not be listed
    vanished: list[str] = field(default_factory=list)  # gone between listing and lstat
    pruned: list[str] = field(default_factory=list)  # directories matched by ``prune``
    ignored: int = 0
    directories: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self.files.values() if s.kind == "file")


class ScanError(Exception):
    """The root itself cannot be opened (missing, not a directory, no permission)."""


def special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "char device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "other"


_new_stat = tuple.__new__  # FileStat(...) runs a Python __new__; this is one per file


def file_stat(st: os.stat_result, link: str | None = None) -> FileStat:
    kind = "symlink" if link is not None or stat.S_ISLNK(st.st_mode) else "file"
    return _new_stat(FileStat, (kind, st.st_size, st.st_mode, st.st_uid, st.st_gid,
                                st.st_mtime_ns, st.st_ctime_ns, st.st_ino, link))


def fingerprint(files: dict[str, FileStat]) -> bytes:
    """SHA-256 over every path and stat of a scan, in scan order (the walk's order is the
    same on an unchanged tree; any other order only makes the fingerprints differ).
    marshal format 2: no back-references, so equal values always give equal bytes (and
    it is twice as fast as the default format)."""
    flat = (list(files), list(map(tuple, files.values())))  # (marshal takes no NamedTuple)
    return hashlib.sha256(marshal.dumps(flat, 2)).digest()


def scan(root: str, rules: PathRules | None = None, *, under: str = "",
         prune: PathRules | None = None, watch: Callable[[str], None] | None = None) -> Scan:
    """Every regular file and symlink below ``root`` (or below ``root/under``), skipping
    paths ``rules`` matches; directories ``prune`` matches are listed in Scan.pruned and
    not entered. Special files are listed, not followed or read. ``watch(rel)`` is called
    for each directory opened, before it is listed (checks/integrity/watch.py)."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ScanError(f"cannot open {root}: {exc.strerror or exc}") from None
    result = Scan()
    rules = rules or None  # (asked once per entry: None costs no __bool__ call)
    try:
        pending = [under.strip("/")]
        while pending:
            _scan_dir(root_fd, pending.pop(), rules, result, pending, prune, watch)
    finally:
        os.close(root_fd)
    return result


def scan_top(root: str, rules: PathRules | None = None) -> tuple[Scan, list[str]]:
    """The files directly in ``root`` and its subdirectories (not entered): the split
    parallel.py hands to worker processes."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ScanError(f"cannot open {root}: {exc.strerror or exc}") from None
    result, subdirs = Scan(), list[str]()
    try:
        _scan_dir(root_fd, "", rules or None, result, subdirs, None)
    finally:
        os.close(root_fd)
    return result, sorted(subdirs)


def open_dir(root_fd: int, rel: str, out: Scan) -> int | None:
    """Open a directory below the root without following links; a directory that vanished
    or cannot be read is noted in ``out`` (None), one that opened is counted."""
    try:
        fd = os.open(rel or ".", _DIR_FLAGS, dir_fd=root_fd)
    except FileNotFoundError:
        out.vanished.append(rel)
        return None
    except OSError:
        out.unreadable.append(rel)
        return None
    out.directories += 1
    return fd


def _scan_dir(root_fd: int, rel: str, rules: PathRules | None, out: Scan, pending: list[str],
              prune: PathRules | None, watch: Callable[[str], None] | None = None) -> None:
    fd = open_dir(root_fd, rel, out)
    if fd is None:
        return
    if watch is not None:
        watch(rel)
    prefix = f"{rel}/" if rel else ""
    files = out.files
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                path = prefix + entry.name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if rules and rules.matches(path, is_dir):
                        out.ignored += 1
                        continue
                    if is_dir:
                        (out.pruned if prune and prune.matches(path, True) else pending
                         ).append(path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    out.vanished.append(path)
                    continue
                if S_ISREG(st.st_mode):  # the common case, inline: once per file per run
                    files[path] = _new_stat(FileStat, (
                        "file", st.st_size, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                        st.st_ctime_ns, st.st_ino, None))
                else:
                    _record(fd, entry.name, path, st, out)
    except OSError:
        out.unreadable.append(rel)
    finally:
        os.close(fd)


def _record(dir_fd: int, name: str, path: str, st: os.stat_result, out: Scan) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        out.files[path] = file_stat(st)
    elif stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            out.vanished.append(path)
            return
        except OSError:
            target = None
        out.files[path] = file_stat(st, target)
    elif stat.S_ISDIR(mode):  # replaced by a directory since the listing; next run sees it
        out.vanished.append(path)
    else:
        out.special.append((path, special_kind(mode)))


def names(root: str, rel: str) -> tuple[list[str], list[str]]:
    """Every non-directory name below ``root/rel`` without a stat call (a Moodle filedir
    holds millions of blobs): (paths, directories that could not be listed)."""
    found: list[str] = []
    unreadable: list[str] = []
    pending = [rel.strip("/")]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(os.path.join(root, current)) as entries:
                for entry in entries:
                    path = f"{current}/{entry.name}"
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    (pending if is_dir else found).append(path)
        except FileNotFoundError:
            continue
        except OSError:
            unreadable.append(current)
    return found, unreadable
