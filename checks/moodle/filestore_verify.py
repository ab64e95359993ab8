"""Content verification of the Moodle file pool: SHA-1 of each blob against its name, a slice
per run within an I/O budget, resuming from a cursor so every blob is verified over time.

Blocking code for checks/moodle/filestore.py (worker thread). A blob is named by the SHA-1
of its content (lib/filestorage/file_system_filedir.php add_file_from_path/string), so a
blob whose bytes hash differently is corrupt: Moodle serves it as is, and a later upload of
the same content does not repair it while the size matches (add_file_from_path returns
early when the pool file's size equals the new file's).

The budget is a rate (bytes per second) and a share of the run: reads are throttled to the
rate, and the pages read are dropped from the page cache afterwards (POSIX_FADV_DONTNEED)
so verification does not push the LMS's hot files out of memory.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.moodle.filestore_scan import SAMPLE_CAP, Deadline, WalkNotes, blob_path, walk_blobs

_CHUNK = 1 << 20
CORRUPT_CAP = 1000  # corrupt blobs remembered between runs


class Throttle:
    """Keeps the average read rate at or below ``rate`` bytes per second."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.start = clock()
        self.used = 0

    def consume(self, n: int) -> None:
        self.used += n
        ahead = self.start + self.used / self.rate - self.clock()
        if ahead > 0:
            self.sleep(ahead)


def _advise(fd: int, advice: str) -> None:
    flag = getattr(os, advice, None)
    if flag is not None and hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, flag)
        except OSError:
            pass


def sha1_file(path: Path, throttle: Throttle) -> str:
    """The SHA-1 of a file's content, read at the throttle's pace (OSError propagates)."""
    digest = hashlib.sha1()  # noqa: S324 - Moodle's content address, not a security hash
    fd = os.open(path, os.O_RDONLY)
    try:
        _advise(fd, "POSIX_FADV_SEQUENTIAL")
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            throttle.consume(len(chunk))
        _advise(fd, "POSIX_FADV_DONTNEED")
    finally:
        os.close(fd)
    return digest.hexdigest()


@dataclass
class VerifyOutcome:
    cursor: str  # the last hash verified (or skipped); "" after a complete pass
    wrapped: bool = False
    verified: int = 0
    verified_bytes: int = 0
    corrupt: dict[str, dict[str, Any]] = field(default_factory=dict)  # found this run
    unreadable: int = 0
    unreadable_sample: list[str] = field(default_factory=list)
    too_large: int = 0  # blobs that could not be read at the budget's rate in time
    vanished: int = 0


def verify_slice(filedir: Path, after: str, allowance: int, throttle: Throttle,
                 deadline: Deadline, now: float) -> VerifyOutcome:
    """Hash blobs after ``after`` in hash order until ``allowance`` bytes or the deadline;
    a blob larger than the allowance is still verified when it comes first (so every blob
    gets its turn) unless the budget's rate cannot read it before the deadline."""
    out = VerifyOutcome(cursor=after)
    for blob in walk_blobs(filedir, WalkNotes(), after):
        if deadline.remaining() <= 0:
            return out
        if out.verified_bytes and out.verified_bytes + blob.size > allowance:
            return out
        if blob.size / throttle.rate > deadline.remaining():
            out.too_large += 1
            out.cursor = blob.hash
            continue
        _verify_one(filedir, blob.hash, blob.size, blob.mtime, throttle, out, now)
        out.cursor = blob.hash
    out.cursor, out.wrapped = "", True
    return out


def _verify_one(filedir: Path, digest: str, size: int, mtime: float, throttle: Throttle,
                out: VerifyOutcome, now: float) -> None:
    try:
        actual = sha1_file(blob_path(filedir, digest), throttle)
    except FileNotFoundError:
        out.vanished += 1
        return
    except OSError:
        out.unreadable += 1
        if len(out.unreadable_sample) < SAMPLE_CAP:
            out.unreadable_sample.append(digest)
        return
    out.verified += 1
    out.verified_bytes += size
    if actual != digest:
        out.corrupt[digest] = {"size": size, "mtime": mtime, "found": now}


def recheck_corrupt(filedir: Path, known: dict[str, dict[str, Any]], throttle: Throttle,
                    deadline: Deadline) -> tuple[dict[str, dict[str, Any]], int]:
    """Known corrupt blobs that still are: a removed blob is dropped, one whose size or
    mtime changed is hashed again. Returns (still corrupt, bytes hashed)."""
    kept: dict[str, dict[str, Any]] = {}
    hashed = 0
    for digest, seen in known.items():
        path = blob_path(filedir, digest)
        try:
            st = path.stat()
        except OSError:
            continue  # gone (a missing blob, if a row needs it, is reported by reconcile)
        if (st.st_size, st.st_mtime) == (seen.get("size"), seen.get("mtime")):
            kept[digest] = seen
            continue
        if deadline.remaining() <= 0:
            kept[digest] = seen
            continue
        try:
            actual = sha1_file(path, throttle)
        except OSError:
            kept[digest] = seen
            continue
        hashed += st.st_size
        if actual != digest:
            kept[digest] = {**seen, "size": st.st_size, "mtime": st.st_mtime}
    return kept, hashed
