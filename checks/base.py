"""The check contract: what every check returns and what it may use.

Sits between the scheduler (which calls ``Check.run(ctx)``) and the state store
(which keeps the ``Result``). A check measures; thresholds in its spec judge.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

T = TypeVar("T")


class Status(enum.IntEnum):
    """Nagios plugin states, in Nagios order (the exit code of ``vigil check``)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @staticmethod
    def worst(statuses: Iterable[Status]) -> Status:
        """The most severe status; CRITICAL outranks UNKNOWN as in Icinga's worst-state."""
        order = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}
        return max(statuses, key=order.__getitem__, default=Status.OK)


@dataclass(frozen=True, slots=True)
class Sample:
    """One number a check measured, in base units. ``name`` must be in the metric catalogue."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    summary: str  # one line a human reads in an alert
    samples: tuple[Sample, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    """The LMS a check runs against (a validated ``[[lms]]`` entry, reduced to what checks need)."""

    name: str
    kind: str
    url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CheckContext:
    """Everything a check may touch. Tests replace the boundaries (transport, clock, probes)."""

    target: Target
    timeout: float
    now: Callable[[], float]
    run_blocking: Callable[[Callable[[], T]], Awaitable[T]]
    http_transport: httpx.AsyncBaseTransport | None = None
    # Per-site access the daemon opened for this target (e.g. checks.moodle.site.MoodleSite:
    # database pool, code and data directories, CLI runner); None for remote-only targets.
    site: Any = None
    # Vigil's state directory (SQLite state file, caches): for checks that keep baselines,
    # e.g. file integrity. None in one-shot runs without a state directory.
    state_dir: Path | None = None
    # Vigil maintenance windows covering this check now, as [start, end) Unix times (end
    # inf for an open manual window); checks/moodle/maintenance.py expects the LMS's own
    # maintenance mode inside one. Empty in one-shot runs and outside windows.
    maintenance_windows: tuple[tuple[float, float], ...] = ()


class CheckUnavailable(Exception):
    """Raised by a check that cannot judge (no database configured, table missing, query
    timed out): the runner reports UNKNOWN with exactly this message."""


class Check(Protocol):
    async def run(self, ctx: CheckContext) -> Result: ...


def threshold_status(
    value: float, warning: float | None, critical: float | None, *, higher_is_worse: bool = True
) -> Status:
    """Judge a value against optional warning/critical limits."""
    def past(limit: float | None) -> bool:
        if limit is None:
            return False
        return value >= limit if higher_is_worse else value <= limit

    if past(critical):
        return Status.CRITICAL
    if past(warning):
        return Status.WARNING
    return Status.OK
