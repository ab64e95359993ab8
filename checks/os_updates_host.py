"""What the host says about its packages, for the `os_updates` check (checks/os_updates.py).

Runs in one worker thread: finds the package manager, runs it read-only (``apt-get
--simulate`` needs neither root nor the dpkg lock; ``dnf -C`` reads the system cache
without refreshing it), stats the package lists, the dpkg/rpm database and the
reboot-required flag, and returns HostFacts. The command runner is a parameter so tests
feed recorded outputs; ``root`` lets them point the file reads at a fixture tree.
Also holds the Ledger: when each pending security update was first seen, kept in a small
JSON file under Vigil's state directory so "unapplied for 9 days" survives a restart.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from checks.base import CheckUnavailable
from checks.os_updates_memo import AptMemo, apt_inputs
from checks.os_updates_parse import (
    ParseError,
    PendingUpdate,
    first_line,
    parse_apt_simulation,
    parse_dnf_check_update,
    parse_dnf_security,
    parse_dpkg_log_time,
    parse_reboot_packages,
    parse_showhold,
)

ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# C locale: the parsers read apt's and dnf's English messages. Nothing of the daemon's
# own environment (tokens, passwords) reaches the package manager.
_ENV = {"PATH": ENV_PATH, "LC_ALL": "C", "LANG": "C"}
_TAIL_BYTES = 8192


@dataclass(frozen=True, slots=True)
class CommandOutput:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def failure(self) -> str:
        """ "apt-get --simulate ... failed with exit code 100: E: <apt's last error>"."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("E:", "Error:"))]
        cause = (errors or lines or [first_line(self.stdout)])[-1][:160]
        return f"{describe(self.argv)} failed with exit code {self.returncode}: {cause}"


class Runner(Protocol):
    """Runs argv (no shell) within ``timeout`` seconds; raises OSError when it cannot start
    and subprocess.TimeoutExpired when it does not finish."""

    def __call__(self, argv: Sequence[str], timeout: float,
                 low_priority: bool) -> CommandOutput: ...


def describe(argv: Sequence[str]) -> str:
    return " ".join([Path(argv[0]).name, *argv[1:]])


def run_command(argv: Sequence[str], timeout: float, low_priority: bool = True) -> CommandOutput:
    """The real runner: own session (the whole group dies on timeout), minimal environment."""
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(_ENV), start_new_session=True)
    if low_priority:
        _lower_priority(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise
    return CommandOutput(tuple(argv), proc.returncode, out.decode("utf-8", "replace"),
                         err.decode("utf-8", "replace"))


def _lower_priority(pid: int) -> None:
    """Best effort: nice 10 and idle I/O class (the process may already have exited)."""
    try:
        proc = psutil.Process(pid)
        proc.nice(10)
        proc.ionice(psutil.IOPRIO_CLASS_IDLE)
    except (psutil.Error, OSError, AttributeError, ValueError):
        pass


@dataclass(frozen=True, slots=True)
class HostFacts:
    """None means unknown (lists missing, tool absent); the check omits those samples."""

    manager: str  # "apt" | "dnf"
    updates: tuple[PendingUpdate, ...] | None
    security: tuple[PendingUpdate, ...] | None
    lists_time: float | None  # newest package-list refresh, Unix time
    lists_problem: str | None = None  # why updates is None
    held: tuple[str, ...] | None = None
    reboot_required: bool | None = None
    reboot_since: float | None = None  # from the flag file's mtime, when there is one
    reboot_packages: tuple[str, ...] = ()
    last_change: float | None = None
    new_packages: int = 0
    removals: int = 0
    kept_back: int = 0
    excluded: int = 0
    notes: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> HostFacts:
        return dataclasses.replace(self, **changes)


class _Caller:
    """Runs commands against one deadline, turning failures to start into CheckUnavailable."""

    def __init__(self, runner: Runner, budget: float, low_priority: bool) -> None:
        self.runner, self.low_priority = runner, low_priority
        self.deadline = time.monotonic() + budget

    def __call__(self, argv: Sequence[str]) -> CommandOutput:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise CheckUnavailable(f"no time left to run {describe(argv)}")
        try:
            return self.runner(argv, remaining, self.low_priority)
        except subprocess.TimeoutExpired:
            raise CheckUnavailable(
                f"{describe(argv)} did not finish within {remaining:.0f}s") from None
        except OSError as exc:
            raise CheckUnavailable(
                f"cannot run {describe(argv)}: {exc.strerror or exc}") from None


def gather(choice: str, runner: Runner, which: Callable[[str], str | None], root: Path,
           budget: float, low_priority: bool, memo: AptMemo | None = None) -> HostFacts:
    """Blocking: everything the host reports, for the package manager found (or chosen);
    with ``memo``, apt is asked again only when what it reads changed."""
    call = _Caller(runner, budget, low_priority)
    apt_get = which("apt-get") if choice in ("auto", "apt") else None
    if apt_get:
        return _gather_apt(apt_get, which, call, root, memo)
    dnf = which("dnf") if choice in ("auto", "dnf") else None
    if dnf:
        return _gather_dnf(dnf, which, call, root)
    wanted = {"auto": "apt-get or dnf", "apt": "apt-get", "dnf": "dnf"}[choice]
    raise CheckUnavailable(f"no package manager found: {wanted} is not on {ENV_PATH}")


def _gather_apt(apt_get: str, which: Callable[[str], str | None], call: _Caller,
                root: Path, memo: AptMemo | None) -> HostFacts:
    lists = root / "var/lib/apt/lists"
    releases = [*lists.glob("*_InRelease"), *lists.glob("*_Release")]
    lists_time = _newest_mtime(releases)
    if lists_time is not None:  # only a stamp of a successful update, never of a failed one
        lists_time = _newest_mtime([*releases, root / "var/lib/apt/periodic/update-success-stamp"])
    flag = root / "run/reboot-required"
    reboot_since = _mtime(flag)
    base = HostFacts("apt", None, None, lists_time,
                     reboot_required=reboot_since is not None, reboot_since=reboot_since,
                     reboot_packages=parse_reboot_packages(_read(flag.with_name(
                         "reboot-required.pkgs")) or "") if reboot_since else (),
                     last_change=_dpkg_last_change(root))
    if lists_time is None:
        base = base.replace(lists_problem=f"no package lists in {lists} (apt-get update has "
                            "never run): pending updates unknown")
        return _with_held(base, which, call)
    inputs = apt_inputs(root)
    if memo is not None and (answer := memo.recall(inputs)) is not None:
        return base.replace(**answer)
    out = call([apt_get, "--simulate", "--quiet", "dist-upgrade"])
    if out.returncode != 0:
        raise CheckUnavailable(out.failure())
    sim = _parsed(parse_apt_simulation, out)
    asked = _with_held(base.replace(
        updates=sim.updates, security=tuple(u for u in sim.updates if u.security),
        new_packages=len(sim.new_packages), removals=sim.removals, kept_back=sim.kept_back),
        which, call)
    if memo is not None and asked.held is not None:  # (apt-mark failed: ask again)
        memo.keep(inputs, {name: getattr(asked, name) for name in _ASKED})
    return asked


# What apt's two commands tell (the rest is read from files on every run).
_ASKED = ("updates", "security", "new_packages", "removals", "kept_back", "held", "notes")


def _with_held(facts: HostFacts, which: Callable[[str], str | None],
               call: _Caller) -> HostFacts:
    apt_mark = which("apt-mark")
    if not apt_mark:
        return facts.replace(notes=(*facts.notes, "apt-mark not found: held packages unknown"))
    try:
        out = call([apt_mark, "showhold"])
        if out.returncode != 0:
            raise CheckUnavailable(out.failure())
        return facts.replace(held=_parsed(parse_showhold, out))
    except CheckUnavailable as exc:  # a secondary fact: note it, keep the rest
        return facts.replace(notes=(*facts.notes, f"held packages unknown: {exc}"))


def _gather_dnf(dnf: str, which: Callable[[str], str | None], call: _Caller,
                root: Path) -> HostFacts:
    repomds = [*root.glob("var/cache/dnf/*/repodata/repomd.xml"),
               *root.glob("var/cache/libdnf5/*/repodata/repomd.xml")]
    rpmdb = [root / "var/lib/rpm/rpmdb.sqlite", root / "var/lib/rpm/Packages",
             root / "usr/lib/sysimage/rpm/rpmdb.sqlite"]
    base = HostFacts("dnf", None, None, _newest_mtime(repomds),
                     last_change=_newest_mtime(rpmdb))
    # -C: read the system cache as it is (any user may); refreshing is dnf-makecache's job.
    out = call([dnf, "-q", "-C", "check-update"])
    if out.returncode == 1 and "no cache" in (out.stderr + out.stdout).lower():
        base = base.replace(lists_problem="no dnf metadata cache (dnf makecache has never "
                            "run): pending updates unknown")
    elif out.returncode not in (0, 100):  # 100: updates are available
        raise CheckUnavailable(out.failure())
    else:
        updates = _parsed(parse_dnf_check_update, out)
        if out.returncode == 100 and not updates:
            raise CheckUnavailable(f"{describe(out.argv)} reported updates but printed none "
                                   f"that parse ({first_line(out.stdout)})")
        sec = call([dnf, "-q", "-C", "updateinfo", "list", "--security"])
        if sec.returncode != 0:
            raise CheckUnavailable(sec.failure())
        base = base.replace(updates=updates, security=_parsed(parse_dnf_security, sec))
    return _with_needs_restarting(base, which, call)


def _with_needs_restarting(facts: HostFacts, which: Callable[[str], str | None],
                           call: _Caller) -> HostFacts:
    tool = which("needs-restarting")
    if not tool:
        return facts.replace(notes=(*facts.notes, "needs-restarting (dnf-utils) not installed: "
                                    "reboot state unknown"))
    out = call([tool, "-r"])  # exit 1: a reboot is needed (as node_exporter's yum.sh reads it)
    if out.returncode not in (0, 1):
        return facts.replace(notes=(*facts.notes, out.failure()))
    packages = tuple(line.strip()[2:].strip() for line in out.stdout.splitlines()
                     if line.strip().startswith("* "))
    return facts.replace(reboot_required=out.returncode == 1, reboot_packages=packages)


def _parsed(parse: Callable[[str], Any], out: CommandOutput) -> Any:
    try:
        return parse(out.stdout)
    except ParseError as exc:
        raise CheckUnavailable(f"{describe(out.argv)}: {exc}") from None


def _dpkg_last_change(root: Path) -> float | None:
    """The last dpkg.log entry (local time, as dpkg writes it), else the status file's mtime
    (after logrotate the log may be empty)."""
    when = parse_dpkg_log_time(_tail(root / "var/log/dpkg.log") or "")
    if when is not None:
        return when.timestamp()
    return _mtime(root / "var/lib/dpkg/status")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _newest_mtime(paths: Iterable[Path]) -> float | None:
    times = [t for t in (_mtime(p) for p in paths) if t is not None]
    return max(times, default=None)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _tail(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None
