"""Change hints for a code tree from Linux inotify: whether anything in it may have
changed since the last full walk, so that a run can skip the walk when nothing did.

Why: a scheduled verify stats every file (30,500 for Moodle) and lists every directory
(9,829) each run; where the kernel drops unused page cache (a host reclaiming memory),
the walk re-reads ~40 MB of directory blocks from disk and costs ~0.4 CPU-s, most of a
run. The kernel reports every change made through the file system to an inotify watch
on the file's directory, so a run with no report since the last walk knows the walk
would find what it found then (Wazuh's "realtime" file integrity works the same way).

Who holds what: the daemon's check opens the inotify instance once (``open_instance``)
and keeps only its descriptor; a run (in its child process: the descriptor is passed
down) adds a watch on each directory as a full walk opens it (``Hints.add``) and reads
what came since (``Hints.changed``). The watches live as long as the instance, i.e. the
daemon's check; a new daemon starts with a full walk.

What inotify does not report, and so what the periodic full walk (``full_walk_every``)
and the rolling re-hash still find: writes through a shared memory mapping, changes made
while no instance existed, on another host of a network file system, below a mount
placed over a directory of the tree, or to the block device. A queue overflow, a watch
that could not be added (the per-user limit, fs.inotify.max_user_watches) or any
unexpected error means "may have changed": a full walk.
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import functools
import os
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.integrity.records import Record
    from checks.integrity.scan import Scan
    from checks.integrity.store import IntegrityStore

# <sys/inotify.h>
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_ONLYDIR, IN_DONT_FOLLOW = 0x01000000, 0x02000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, 0o2000000
# Every change to a name or an inode of the directory or of its entries; no read events
# (the run's own re-hash reads the files).
CHANGES = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
           | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
_MASK = CHANGES | IN_ONLYDIR | IN_DONT_FOLLOW


@functools.cache  # (loaded once per process: open_instance and every Hints use it)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        return libc
    except (OSError, AttributeError):
        return None


def open_instance() -> int | None:
    """A new inotify instance (non-blocking, not inherited unless passed on purpose), or
    None where there is none (not Linux, no instance left: fs.inotify.max_user_instances;
    instance_problem() says which)."""
    libc = _libc()
    fd = -1 if libc is None else libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    return fd if fd >= 0 else None


NO_INOTIFY = "inotify is not available on this system"


def instance_problem() -> str:
    """Why open_instance() just returned None, for the operator."""
    if _libc() is None:
        return NO_INOTIFY
    err = ctypes.get_errno()
    if err == errno.EMFILE:
        return (f"no inotify instance left: {_limit('max_user_instances')}, or the "
                "process's open-file limit, was reached")
    return f"no inotify instance: {os.strerror(err)}"


def _limit(name: str) -> str:
    """``fs.inotify.<name> = N`` as the kernel has it now (or the name alone)."""
    try:
        with open(f"/proc/sys/fs/inotify/{name}") as sysctl:
            value = int(sysctl.read())
    except (OSError, ValueError):
        return f"fs.inotify.{name}"
    return f"fs.inotify.{name} = {value:,}"


class Hints:
    """One run's use of an instance (``fd``, inherited from the daemon)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._libc = _libc()
        self.complete = self._libc is not None  # every directory walked got its watch
        self.problem = "" if self.complete else NO_INOTIFY

    def pending(self) -> bool:
        """Whether anything was reported and not cleared yet (read without consuming it).
        An overflow or a removed watch is a report too; an unreadable instance counts."""
        count = array.array("i", [0])
        try:
            fcntl.ioctl(self.fd, termios.FIONREAD, count, True)
        except OSError:
            return True
        return count[0] > 0

    def clear(self) -> None:
        """Consume the reports: only once their loss can no longer skip a walk."""
        try:
            while os.read(self.fd, 65536):
                pass
        except OSError:  # (BlockingIOError: all read)
            pass

    def add(self, path: str, *, root: bool = False) -> None:
        """Watch a directory the walk is about to list (before its entries are stat'ed:
        a change after the stat is reported, one before it is seen by the stat). The root
        may be a symlink (a deploy's `current`): followed, its identity checked per run."""
        mask = _MASK & ~IN_DONT_FOLLOW if root else _MASK
        if self.complete and self._libc.inotify_add_watch(  # type: ignore[union-attr]
                self.fd, os.fsencode(path), mask) < 0:
            self.complete = False
            self.problem = add_problem(ctypes.get_errno())


def add_problem(err: int) -> str:
    """Why a directory got no watch (errno of inotify_add_watch), for the operator; ""
    for a directory that went away meanwhile (this walk only)."""
    if err == errno.ENOENT:
        return ""
    if err == errno.ENOSPC:  # the per-user watch limit, shared by every instance
        return (f"inotify's watch limit was reached ({_limit('max_user_watches')}; each "
                "directory of the tree needs one)")
    return f"inotify could not watch a directory: {os.strerror(err)}"


@dataclass(slots=True)
class Watching:
    """What verify() needs to skip a walk: the hints, the instance's token (a new daemon,
    a new instance: the token tells the state DB's record of an armed walk apart) and the
    longest time between two full walks. One per run."""

    hints: Hints
    token: str
    full_walk_every: float
    identity: str | None = None  # of the root, as this run found it (root_identity)

    def quiet(self, store: IntegrityStore, site: str, root: str, now: float,
              ) -> tuple[bytes, dict[str, Record]] | None:
        """Whether the walk can be skipped: nothing reported (else the reports are
        cleared: the walk will see their changes), the same root directory, and a full
        walk under these watches less than ``full_walk_every`` ago whose scan the
        observed rows still hold. Then that scan's fingerprint and the observed rows
        (each holds the file's stat)."""
        self.identity = root_identity(root)
        if self.hints.pending() or self.identity is None:
            # Disarmed first: a run killed after clearing the reports must not let the
            # next one skip its walk.
            store.arm(site, root, None, self.identity, now)
            self.hints.clear()
            return None
        fingerprint = store.quiet_scan(site, root, self.token, self.identity,
                                       now - self.full_walk_every)
        if fingerprint is None:
            return None
        return fingerprint, store.load(site, root, "observed", brief=True)

    def walked(self, store: IntegrityStore, site: str, root: str, found: Scan, saved: bool,
               now: float) -> str:
        """After a full walk: later runs may skip theirs if every directory got its watch,
        the walk found nothing it reports each run (special files, unreadable or vanished
        paths) and its scan was saved. Returns why every run will walk while it lasts
        ("" when it will not, or for a passing cause: a vanished path, a concurrent write)."""
        lasting = (self.hints.problem if not self.hints.complete
                   else "the tree holds special files or paths that cannot be read"
                   if found.special or found.unreadable or found.pruned else "")
        usable = (saved and self.hints.complete and not lasting and self.identity is not None
                  and not found.vanished)
        store.arm(site, root, self.token if usable else None, self.identity, now)
        return lasting

    def walker(self, root: str) -> Callable[[str], None]:
        """scan()'s per-directory callback: watch ``root/rel``."""
        prefix = root.rstrip("/") + "/"
        return lambda rel: self.hints.add(prefix + rel) if rel else self.hints.add(
            root, root=True)


def root_identity(root: str) -> str | None:
    """The directory ``root`` names now (device and inode, following a symlink): a switched
    `current` link or a remounted tree is another directory, whose changes the watches of
    the old one never report."""
    try:
        st = os.stat(root)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}"
