"""The Moodle file pool on disk: a sorted walk of filedir, the merge-join against the files
table, and content verification within an I/O budget.

Blocking code for checks/moodle/filestore.py (run in a worker thread); no database access
here: the files table arrives as an iterator of (contenthash, filesize) rows in contenthash
order, grouped here by content, so a million rows need no more memory than a few thousand.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EMPTY_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
_HEX = frozenset("0123456789abcdef")
SAMPLE_CAP = 20  # hashes kept for the details of each finding
RECHECK_CAP = 1000  # missing candidates re-checked after the walk (a race, not a loss?)
Row = tuple[str, int]  # contenthash, filesize
Group = tuple[str, int, int, int]  # contenthash, rows, min(filesize), max(filesize)


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


# ------------------------------------------------------------------ reconciling
@dataclass
class Reconciled:
    rows: int = 0
    contents: int = 0  # distinct contenthashes the rows need a blob for
    content_bytes: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    missing: int = 0
    missing_bytes: int = 0
    missing_sample: list[str] = field(default_factory=list)
    recheck: list[tuple[str, int, int]] = field(default_factory=list)  # hash, bytes, rows
    recovered_in_race: int = 0  # candidates that were a deletion/upload racing the walk
    recoverable: int = 0  # confirmed missing whose content is still in trashdir
    orphans: int = 0
    orphan_bytes: int = 0
    orphan_sample: list[str] = field(default_factory=list)
    recent_orphans: int = 0
    mismatches: int = 0
    mismatch_sample: list[dict[str, object]] = field(default_factory=list)
    unjudged_rows: int = 0  # rows whose directory could not be listed
    invalid_rows: int = 0  # contenthash not 40 lowercase hex digits


class _Merge:
    def __init__(self, out: Reconciled, notes: WalkNotes, orphan_before: float) -> None:
        self.out, self.notes, self.orphan_before = out, notes, orphan_before

    def needed(self, group: Group) -> None:
        out, (digest, rows, _low, high) = self.out, group
        out.rows += rows
        if high <= 0:  # size 0: served virtually (file_system.php), no blob needed
            return
        out.contents += 1
        out.content_bytes += high
        if not self.notes.judgeable(digest):
            out.unjudged_rows += rows
            return
        out.missing += 1
        out.missing_bytes += high
        if len(out.recheck) < RECHECK_CAP:
            out.recheck.append((digest, high, rows))

    def spare(self, blob: Blob) -> None:
        out = self.out
        out.blobs += 1
        out.blob_bytes += blob.size
        if blob.hash == EMPTY_SHA1:
            return
        if blob.mtime > self.orphan_before:  # maybe an upload whose row is not committed yet
            out.recent_orphans += 1
            return
        out.orphans += 1
        out.orphan_bytes += blob.size
        if len(out.orphan_sample) < SAMPLE_CAP:
            out.orphan_sample.append(blob.hash)

    def matched(self, group: Group, blob: Blob) -> None:
        out, (digest, rows, low, high) = self.out, group
        out.rows += rows
        out.blobs += 1
        out.blob_bytes += blob.size
        if high > 0:
            out.contents += 1
            out.content_bytes += high
        if blob.size != high or low != high:
            out.mismatches += 1
            if len(out.mismatch_sample) < SAMPLE_CAP:
                out.mismatch_sample.append({"contenthash": digest, "filesize": high,
                                            "blob_size": blob.size, "rows": rows})


def _grouped(rows: Iterable[Row], out: Reconciled) -> Iterator[Group]:
    """Consecutive rows of one content as one group; malformed hashes counted and dropped;
    an order that is not byte order (a collation that sorts differently) refused."""
    last, count, low, high = "", 0, 0, 0
    for digest, size in rows:
        if digest == last:
            count += 1
            low, high = min(low, size), max(high, size)
            continue
        if not is_hash(digest):
            out.invalid_rows += 1
            continue
        if digest < last:
            raise ScanError(f"the database returned contenthash {digest[:8]}... after "
                            f"{last[:8]}...: its order is not byte order (collation?)")
        if count:
            yield last, count, low, high
        last, count, low, high = digest, 1, size, size
    if count:
        yield last, count, low, high


def reconcile(rows: Iterable[Row], blobs: Iterator[Blob], notes: WalkNotes,
              orphan_before: float, deadline: Deadline) -> Reconciled:
    """Merge-join the files rows (in contenthash order) and the blobs (in hash order)."""
    out = Reconciled()
    merge = _Merge(out, notes, orphan_before)
    groups = _grouped(rows, out)
    group, blob = next(groups, None), next(blobs, None)
    steps = 0
    while group is not None or blob is not None:
        steps += 1
        if not steps & 4095:
            where = group[0] if group is not None else blob.hash if blob else ""
            deadline.check(f"reconcile stopped near {where[:4]}")
        if blob is None or (group is not None and group[0] < blob.hash):
            merge.needed(group)  # type: ignore[arg-type]
            group = next(groups, None)
        elif group is None or blob.hash < group[0]:
            merge.spare(blob)
            blob = next(blobs, None)
        else:
            merge.matched(group, blob)
            group, blob = next(groups, None), next(blobs, None)
    return out


def settle_missing(out: Reconciled, filedir: Path, trashdir: Path | None,
                   still_referenced: Callable[[list[str]], set[str]]) -> None:
    """Drop missing candidates that were a race with the walk: a blob that exists now, or
    content no row references any more (deleted while we walked). Counts beyond
    RECHECK_CAP stay as found."""
    gone: list[tuple[str, int, int]] = []
    remaining: list[tuple[str, int, int]] = []
    for item in out.recheck:
        (gone if blob_path(filedir, item[0]).is_file() else remaining).append(item)
    referenced = still_referenced([item[0] for item in remaining]) if remaining else set()
    confirmed: list[tuple[str, int, int]] = []
    for item in remaining:
        (confirmed if item[0] in referenced else gone).append(item)
    out.missing -= len(gone)
    out.missing_bytes -= sum(item[1] for item in gone)
    out.recovered_in_race = len(gone)
    out.recheck = confirmed
    out.missing_sample = [item[0] for item in confirmed[:SAMPLE_CAP]]
    out.recoverable = len([item for item in confirmed if in_trash(trashdir, item[0])])
