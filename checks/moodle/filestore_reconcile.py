"""Reconcile the files table with the file pool: a merge-join of two sorted streams.

Blocking code for checks/moodle/filestore.py (run in a worker thread), between the walk
(checks/moodle/filestore_scan.py ``walk_blobs``, blobs in hash order) and the judgement
(checks/moodle/filestore_judge.py). The files table arrives as (contenthash, filesize)
rows in contenthash order, grouped here by content, so a million rows need no more
memory than a few thousand. ``settle_missing`` then re-checks the missing candidates,
which may be a deletion or an upload that raced the walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from checks.moodle.filestore_scan import (
    EMPTY_SHA1,
    SAMPLE_CAP,
    Blob,
    Deadline,
    Row,
    ScanError,
    WalkNotes,
    blob_path,
    in_trash,
    is_hash,
)

RECHECK_CAP = 1000  # missing candidates re-checked after the walk (a race, not a loss?)
Group = tuple[str, int, int, int]  # contenthash, rows, min(filesize), max(filesize)


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
