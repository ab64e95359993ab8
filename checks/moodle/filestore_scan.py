"""The Moodle file pool on disk: a sorted walk of filedir, yielding blobs in hash order.

Blocking code for checks/moodle/filestore.py (run in a worker thread); no database access
here. The blobs feed the merge-join against the files table
(checks/moodle/filestore_reconcile.py) and the content verification within an I/O budget
(checks/moodle/filestore_verify.py).

Moodle facts (moodle/moodle lib/filestorage/, public/lib/filestorage/ since 5.1):
- file_system_filedir.php: content lives in ``$CFG->filedir`` (default dataroot/filedir)
  at ``<h[0:2]>/<h[2:4]>/<h>`` where h is the SHA-1 of the content
  (get_contentdir_from_hash); deleted content moves to ``$CFG->trashdir`` (default
  dataroot/trashdir) at the same relative path, or at ``trashdir/<h>`` (legacy), and
  recover_file() brings it back when size and SHA-1 still match. New content is written as
  ``<h>.tmp`` and renamed; a SHA-1 collision leaves copies in ``filedir/jackpot/``; the
  pool root holds ``warning.txt``.
- file_system.php: sha1('') = da39a3ee... (empty files, directory rows) and rows of size 0
  are served virtually and need no blob; is_file_removable() never removes that hash.
Sorted walks make the pool's order the contenthash order: 256 first-level directories,
256 second-level ones each, files sorted within a leaf directory.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EMPTY_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
_HEX = frozenset("0123456789abcdef")
SAMPLE_CAP = 20  # hashes kept for the details of each finding
Row = tuple[str, int]  # contenthash, filesize


class ScanTimeout(Exception):
    """The walk passed its deadline (the message says where)."""


class ScanError(Exception):
    """The input cannot be reconciled (e.g. the database's order is not the pool's)."""


def is_hash(name: str) -> bool:
    return len(name) == 40 and _HEX.issuperset(name)


def blob_path(root: Path, contenthash: str) -> Path:
    return root / contenthash[:2] / contenthash[2:4] / contenthash


def in_trash(trashdir: Path | None, contenthash: str) -> bool:
    """Whether recover_file() would find the content in the trash (size/SHA-1 unchecked)."""
    if trashdir is None:
        return False
    return any(p.is_file() for p in (blob_path(trashdir, contenthash), trashdir / contenthash))


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return self.at - self.clock()

    def check(self, where: str) -> None:
        if self.clock() >= self.at:
            raise ScanTimeout(where)


@dataclass(frozen=True, slots=True)
class Blob:
    hash: str
    size: int
    mtime: float


@dataclass
class WalkNotes:
    """What the walk met besides blobs: stray entries, unreadable directories."""

    stray_count: int = 0
    strays: list[str] = field(default_factory=list)
    jackpot: bool = False
    unreadable: set[str] = field(default_factory=set)  # hash prefixes (2 or 4 hex chars)
    vanished: int = 0  # blobs listed, then gone before their stat

    def stray(self, relative: str) -> None:
        self.stray_count += 1
        if len(self.strays) < 10:
            self.strays.append(relative.encode("utf-8", "backslashreplace").decode()[:80])

    def judgeable(self, contenthash: str) -> bool:
        return not ({contenthash[:2], contenthash[:4]} & self.unreadable)


def _listing(path: str, prefix: str, notes: WalkNotes) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError:
        notes.unreadable.add(prefix)
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks: a pool spread over mounts is fine
    except OSError:
        return False


def _level(entry: os.DirEntry[str]) -> bool:
    return len(entry.name) == 2 and _HEX.issuperset(entry.name) and _is_dir(entry)


def walk_blobs(filedir: Path, notes: WalkNotes, after: str = "") -> Iterator[Blob]:
    """Every blob whose hash sorts after ``after``, in hash order. Raises OSError only
    when filedir itself cannot be listed."""
    with os.scandir(filedir) as entries:
        top = sorted(entries, key=lambda e: e.name)
    for l1 in top:
        if not _level(l1):
            if l1.name == "jackpot":
                notes.jackpot = True
            elif l1.name != "warning.txt":
                notes.stray(l1.name)
            continue
        if l1.name < after[:2]:
            continue
        for l2 in _listing(l1.path, l1.name, notes):
            prefix = l1.name + l2.name
            if not _level(l2):
                notes.stray(f"{l1.name}/{l2.name}")
                continue
            if prefix < after[:4]:
                continue
            yield from _leaf(l2.path, prefix, notes, after)


def _leaf(path: str, prefix: str, notes: WalkNotes, after: str) -> Iterator[Blob]:
    for entry in _listing(path, prefix, notes):
        name = entry.name
        if not (is_hash(name) and name.startswith(prefix)):
            notes.stray(f"{prefix[:2]}/{prefix[2:]}/{name}")  # <h>.tmp, misplaced files
            continue
        if name <= after:
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            notes.vanished += 1
            continue
        except OSError:
            notes.unreadable.add(name[:4])
            continue
        if not stat.S_ISREG(st.st_mode):
            notes.stray(f"{prefix[:2]}/{prefix[2:]}/{name}")
            continue
        yield Blob(name, st.st_size, st.st_mtime)
