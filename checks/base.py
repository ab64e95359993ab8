"""The check contract: what a check may use (``CheckContext``) and how it is called.

Sits between the scheduler (which calls ``Check.run(ctx)``) and the check-state
repository (which keeps the kernel's ``Result``). A check measures; thresholds in its
spec judge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from monitor.kernel.result import Result
from monitor.kernel.target import Target

T = TypeVar("T")
Window = tuple[float, float]  # a maintenance window [start, end) as Unix times


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


def covered_by_window(now: float, windows: Iterable[Window]) -> bool:
    """True when ``now`` falls inside one of the maintenance windows [start, end)."""
    return any(start <= now < end for start, end in windows)
