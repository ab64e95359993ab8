"""Read files for their SHA-256 (and a PHP open tag up front) within a byte and time budget.

Called by baseline.py for the files a run decided to hash. Files are opened through an
``Opener`` (the boundary tests replace to inject PermissionError or a file that vanishes),
never following a symlink and never blocking on a FIFO swapped in since the scan; files
are streamed in 1 MiB chunks, so a 5 GB file costs 1 MiB of memory, and a deadline stops
a read between chunks. Several threads may hash at once: hashlib and read() release the GIL.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from checks.integrity.patterns import PHP_TAG, SNIFF_BYTES

Opener = Callable[[str], int]  # absolute path -> an open file descriptor
CHUNK = 1 << 20
FORK_FROM = 2000  # files: below this, starting processes costs more than it saves
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_buffers = threading.local()


def default_opener(path: str) -> int:
    return os.open(path, _OPEN_FLAGS)


class Digest(NamedTuple):
    """What reading one file gave: its hash, or why there is none. A tuple: one per file."""

    sha256: str | None
    tagged: bool = False  # a PHP open tag in the first 4 KiB
    read: int = 0  # bytes read (charged to the budget even when the read was cut short)
    problem: str | None = None  # "unreadable" | "vanished" | "replaced" | "deadline"
    error: str = ""


class Deadline:
    """A point on an injected clock after which no read continues (None: no limit)."""

    def __init__(self, clock: Callable[[], float], at: float | None) -> None:
        self.clock = clock
        self.at = at

    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at


NO_DEADLINE = Deadline(lambda: 0.0, None)


def _buffer() -> bytearray:
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK)
    return buf


def hash_file(path: str, ino: int | None = None, *, opener: Opener = default_opener,
              deadline: Deadline = NO_DEADLINE, limit: int | None = None) -> Digest:
    """SHA-256 of the regular file at ``path``. ``ino`` (from the scan) detects a file
    replaced since; ``limit`` reads only the first bytes (a sniff: no hash)."""
    try:
        fd = opener(path)
    except FileNotFoundError:
        return Digest(None, problem="vanished")
    except OSError as exc:  # EACCES, ELOOP (a symlink swapped in), EIO...
        return Digest(None, problem="unreadable", error=exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (ino is not None and st.st_ino != ino):
            return Digest(None, problem="replaced")
        return _read(fd, deadline, limit)
    except OSError as exc:
        return Digest(None, problem="unreadable", error=exc.strerror or str(exc))
    finally:
        os.close(fd)


def _read(fd: int, deadline: Deadline, limit: int | None) -> Digest:
    buf = _buffer()
    view = memoryview(buf)[:limit] if limit is not None else memoryview(buf)
    digest = hashlib.sha256()
    tagged = False
    total = 0
    while True:
        n = os.readv(fd, (view,))  # into the reused buffer: no allocation per chunk
        if not n:
            break
        if total == 0:
            tagged = _tagged(buf, min(n, SNIFF_BYTES))
        total += n
        if limit is not None:
            return Digest(None, tagged, total)
        digest.update(view[:n])
        if n < len(view):  # a short read of a regular file is its end: no extra read(2)
            break
        if deadline.passed():
            return Digest(None, tagged, total, problem="deadline")
    return Digest(digest.hexdigest(), tagged, total)


def _tagged(buf: bytearray, end: int) -> bool:
    # In place, without a copy. find("?") is a memchr() (0.2 us for 4 KiB); find("<?")
    # took 4 us there, more than the regex (2.5 us), which now runs on heads with a "?".
    return buf.find(b"?", 0, end) != -1 and PHP_TAG.search(buf, 0, end) is not None


def read_whole(fd: int, buf: bytearray, view: memoryview,
               ) -> tuple[str, bool, int, None, str]:
    """_read() without a deadline or a limit, as a plain tuple of the Digest fields: the
    worker processes' loop (parallel.py), once per file of the tree."""
    n = os.readv(fd, (view,))
    tagged = _tagged(buf, min(n, SNIFF_BYTES))
    digest = hashlib.sha256(view[:n])
    total, size = n, len(view)
    while n == size:  # a short read of a regular file is its end: no extra read(2)
        n = os.readv(fd, (view,))
        digest.update(view[:n])
        total += n
    return digest.hexdigest(), tagged, total, None, ""


class Ends(NamedTuple):
    """The bytes of a file a shape check looks at: all of it (``whole``), or its first and
    last bytes (a middle left unread)."""

    head: bytes
    tail: bytes = b""
    whole: bool = True


def read_ends(path: str, ino: int | None, *, whole_up_to: int, head: int, tail: int,
              opener: Opener = default_opener) -> tuple[Ends | None, Digest]:
    """A file whole when it is at most ``whole_up_to`` bytes, else its first ``head`` and
    last ``tail`` bytes; the Digest says what was read and what went wrong, as hash_file's."""
    try:
        fd = opener(path)
    except FileNotFoundError:
        return None, Digest(None, problem="vanished")
    except OSError as exc:
        return None, Digest(None, problem="unreadable", error=exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (ino is not None and st.st_ino != ino):
            return None, Digest(None, problem="replaced")
        size = st.st_size
        if size <= whole_up_to:
            data = os.pread(fd, whole_up_to + 1, 0)  # +1: a file grown since shows as such
            ends = Ends(data, b"", len(data) <= whole_up_to)
        else:
            ends = Ends(os.pread(fd, head, 0), os.pread(fd, tail, max(size - tail, head)),
                        False)
        return ends, Digest(None, read=len(ends.head) + len(ends.tail))
    except OSError as exc:
        return None, Digest(None, problem="unreadable", error=exc.strerror or str(exc))
    finally:
        os.close(fd)


def sniff(path: str, ino: int | None = None, *, opener: Opener = default_opener,
          size: int = SNIFF_BYTES) -> Digest:
    """Whether the first ``size`` bytes hold a PHP open tag (Digest.tagged), no hash."""
    return hash_file(path, ino, opener=opener, limit=size)


def hash_many(root: str, items: Iterable[tuple[str, int | None]], *, workers: int = 1,
              opener: Opener = default_opener, deadline: Deadline = NO_DEADLINE,
              processes: bool = False) -> dict[str, Digest]:
    """Hash (relative path, inode) pairs under ``root``; stops starting new files once the
    deadline passed (those get problem "deadline"). ``processes`` hashes in forked worker
    processes (for `vigil integrity`, a process of its own: the GIL serialises the per-file
    work of threads); never in the daemon, whose threads must not be forked."""
    prefix = root.rstrip("/") + "/"
    todo = list(items)
    if workers <= 1 or len(todo) < 2 * workers:
        return dict(_hash_share(prefix, todo, opener, deadline))
    # One task per worker over an interleaved share: per-file futures would cost more than
    # hashing a small PHP file does.
    shares = [todo[i::workers] for i in range(workers)]
    if processes and deadline is NO_DEADLINE and len(todo) >= FORK_FROM:
        import multiprocessing  # (the CLI only: the daemon's child need not load it)
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as procs:
            plain = procs.map(_hash_plain, [prefix] * workers, shares, [opener] * workers)
            new = tuple.__new__
            return {rel: new(Digest, fields) for part in plain for rel, fields in part}
    with ThreadPoolExecutor(workers, thread_name_prefix="vigil-hash") as threads:
        parts = threads.map(_hash_share, [prefix] * workers, shares, [opener] * workers,
                            [deadline] * workers)
        return {rel: digest for part in parts for rel, digest in part}


def _hash_share(prefix: str, share: list[tuple[str, int | None]], opener: Opener,
                deadline: Deadline = NO_DEADLINE) -> list[tuple[str, Digest]]:
    out = []
    for rel, ino in share:
        if deadline.passed():
            out.append((rel, Digest(None, problem="deadline")))
        else:
            out.append((rel, hash_file(prefix + rel, ino, opener=opener, deadline=deadline)))
    return out


def _hash_plain(prefix: str, share: list[tuple[str, int | None]], opener: Opener,
                ) -> list[tuple[str, tuple[str | bool | int | None, ...]]]:
    # In a worker process: plain tuples pickle in C, a NamedTuple calls Python per object.
    return [(rel, tuple(digest)) for rel, digest in _hash_share(prefix, share, opener)]
