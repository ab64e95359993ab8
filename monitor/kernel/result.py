"""What a check returns: a Nagios status, a one-line summary, samples and details.

Made by checks (checks/), kept by the check-state repository (monitor/state/), judged by
alerting (alerts/). Part of the kernel: imports nothing of Vigil.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


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
