"""One (LMS target x check): what the scheduler runs, alerting labels and maintenance
scopes. Part of the kernel: imports nothing of Vigil but the kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.kernel.result import Result
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target


class RunnableCheck(Protocol):
    """A check as the scheduler sees it (checks/base.py ``Check`` with its context)."""

    async def run(self, ctx: Any) -> Result: ...


@dataclass(frozen=True, slots=True)
class CheckJob:
    """One (LMS target x check): what the scheduler runs on an interval."""

    target: Target
    name: str
    spec: CheckSpec
    check: RunnableCheck
    # Shared per-site access (database pool, directories); not part of the job's identity.
    site: Any = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.target.name}/{self.name}"
