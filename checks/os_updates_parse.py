"""Pure parsers for the `os_updates` check: package-manager output and small host files.

Sits under checks/os_updates.py, which runs the commands and reads the files; everything
here takes text and returns plain data, so the unit tests feed recorded outputs. Formats:

- ``apt-get --simulate dist-upgrade`` (LC_ALL=C): one line per package apt would install,
  ``Inst NAME [OLD] (NEW ORIGIN:VERSION/SUITE[, ORIGIN2...] [ARCH]) [...]`` (no ``[OLD]``
  for a new package), ``Remv NAME [OLD]`` for removals, and the summary line
  ``N upgraded, N newly installed, N to remove and N not upgraded.`` The origin list is
  what node_exporter's apt.sh groups by; a security update is one offered by an origin
  whose archive is a ``-security`` suite (Debian "Debian-Security:12/stable-security",
  Ubuntu "Ubuntu:22.04/jammy-security", Ubuntu Pro "UbuntuESM:22.04/jammy-infra-security").
- ``dnf -q check-update``: ``NAME.ARCH  [EPOCH:]VERSION-RELEASE  REPO`` rows (a long name
  wraps the rest onto the next line), then an optional "Obsoleting Packages" section.
- ``dnf -q updateinfo list --security``: one advisory per row with the package NEVRA,
  ``RHSA-2024:1234 Important/Sec. openssl-1:3.0.7-27.el9.x86_64`` (dnf 4) or a table
  ``FEDORA-2024-x security Moderate curl-8.6.0-8.fc40.x86_64 2024-04-10 01:23:45`` (dnf 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_INST = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])? "
    r"\((?P<new>\S+) (?P<origins>.*?) ?\[(?P<arch>[^\]\s]+)\]\)(?: \[.*\])?\s*$")
_REMV = re.compile(r"^Remv \S+")
_SUMMARY = re.compile(
    r"^(?P<upgraded>\d+) upgraded, (?P<new>\d+) newly installed, (?P<remove>\d+) to remove "
    r"and (?P<kept>\d+) not upgraded\.\s*$", re.MULTILINE)
_DNF_ROW = re.compile(r"^(?P<name>[^\s.][^\s]*)\.(?P<arch>[A-Za-z0-9_]+)\s+(?P<version>\S+)"
                      r"\s+(?P<repo>\S+)\s*$")
_NEVRA = re.compile(r"^(?P<name>\S+)-(?:\d+:)?[^-\s:]+-[^-\s]+\.(?P<arch>[A-Za-z0-9_]+)$")
_DPKG_LOG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")


class ParseError(ValueError):
    """Output that is not what the package manager prints: the check reports UNKNOWN."""


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """One package an upgrade would install; ``old`` is None for a new package."""

    name: str
    new: str
    arch: str
    origins: tuple[str, ...]
    old: str | None = None

    @property
    def security(self) -> bool:
        return any(is_security_origin(origin) for origin in self.origins)

    @property
    def key(self) -> str:
        """Package+version identity for first-seen tracking ("libc6:amd64 2.36-9+deb12u9")."""
        return f"{self.name}:{self.arch} {self.new}"


@dataclass(frozen=True, slots=True)
class AptSimulation:
    updates: tuple[PendingUpdate, ...]  # upgrades of installed packages
    new_packages: tuple[PendingUpdate, ...]  # pulled in by dist-upgrade (e.g. a new kernel)
    removals: int
    kept_back: int  # "not upgraded" (held, phased or blocked by dependencies)


def is_security_origin(origin: str) -> bool:
    """An origin such as "Debian-Security:12/stable-security" or "Ubuntu:22.04/jammy-security"
    (the archive suite carries the -security suffix; so does Debian's origin name)."""
    return "-security" in origin.lower()


def parse_apt_simulation(text: str) -> AptSimulation:
    """Parse ``apt-get --simulate --quiet dist-upgrade`` output; ParseError if it is not."""
    summary = _SUMMARY.search(text)
    if summary is None:
        raise ParseError(f"no apt-get summary line in the output ({first_line(text)})")
    updates: list[PendingUpdate] = []
    new_packages: list[PendingUpdate] = []
    removals = 0
    for line in text.splitlines():
        if line.startswith("Inst "):
            match = _INST.match(line)
            if match is None:
                raise ParseError(f"unexpected apt-get line: {line[:120]}")
            origins = tuple(o.strip() for o in match["origins"].split(",") if o.strip())
            update = PendingUpdate(match["name"], match["new"], match["arch"], origins,
                                   match["old"])
            (updates if update.old is not None else new_packages).append(update)
        elif _REMV.match(line):
            removals += 1
    return AptSimulation(tuple(updates), tuple(new_packages), removals, int(summary["kept"]))


def parse_showhold(text: str) -> tuple[str, ...]:
    """``apt-mark showhold``: one package name per line."""
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if any(" " in name for name in names):
        raise ParseError(f"unexpected apt-mark showhold output ({first_line(text)})")
    return tuple(names)


def parse_dnf_check_update(text: str) -> tuple[PendingUpdate, ...]:
    """``dnf -q check-update`` rows before "Obsoleting Packages"; wrapped rows are joined."""
    updates: list[PendingUpdate] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Obsoleting Packages"):
            break
        if not line or _is_dnf_notice(line):
            continue
        row = f"{pending} {line}".strip() if pending else line
        match = _DNF_ROW.match(row)
        if match is None:
            if pending or len(line.split()) != 1:
                raise ParseError(f"unexpected dnf check-update line: {row[:120]}")
            pending = line  # a long NAME.ARCH alone; version and repo follow
            continue
        pending = ""
        updates.append(PendingUpdate(match["name"], match["version"], match["arch"],
                                     (match["repo"],), old=""))
    if pending:
        raise ParseError(f"unexpected dnf check-update line: {pending[:120]}")
    return tuple(updates)


def parse_dnf_security(text: str) -> tuple[PendingUpdate, ...]:
    """Security advisories' packages from ``dnf -q updateinfo list --security``, unique."""
    found: dict[str, PendingUpdate] = {}
    for raw in text.splitlines():
        tokens = raw.split()
        if not tokens or _is_dnf_notice(raw.strip()) or tokens[0] == "Name":  # dnf5 header
            continue
        nevra = next((t for t in tokens[1:] if _NEVRA.match(t)), None)
        if nevra is None:
            raise ParseError(f"unexpected dnf updateinfo line: {raw.strip()[:120]}")
        match = _NEVRA.match(nevra)
        assert match is not None
        version = nevra[len(match["name"]) + 1:-len(match["arch"]) - 1]
        update = PendingUpdate(match["name"], version, match["arch"], (tokens[0],), old="")
        found.setdefault(update.key, update)
    return tuple(found.values())


def _is_dnf_notice(line: str) -> bool:
    """Lines dnf prints around the rows even with -q (metadata age, installed-update notes)."""
    return line.startswith(("Last metadata expiration check", "Security:", "Updating and loading"))


def parse_dpkg_log_time(tail: str) -> datetime | None:
    """The time of the last entry of /var/log/dpkg.log (naive local time, as dpkg writes it)."""
    for line in reversed(tail.splitlines()):
        match = _DPKG_LOG.match(line)
        if match:
            return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    return None


def parse_reboot_packages(text: str) -> tuple[str, ...]:
    """/run/reboot-required.pkgs: the packages that asked for the reboot, one per line."""
    names: list[str] = []
    for line in text.splitlines():
        if line.strip() and line.strip() not in names:
            names.append(line.strip())
    return tuple(names)


def first_line(text: str, limit: int = 120) -> str:
    """The first non-empty line, shortened, for an error message; "(no output)" if none."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit - 1] + "…"
    return "(no output)"
