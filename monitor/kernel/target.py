"""The LMS a check runs against, reduced to what checks, alerts and pages need.

Part of the kernel: imports nothing of Vigil.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    """The LMS a check runs against (a validated ``[[lms]]`` entry, reduced to what checks need)."""

    name: str
    kind: str
    url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
