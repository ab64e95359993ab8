"""Why the daemon is not ready: what /readyz names (monitor/app/web/api.py).

Blind is never "ready": a stopped scheduler, a state file that refuses writes, hung
blocking workers and a saturated scheduler each fail readiness with their reason.
"""

from __future__ import annotations

from monitor.app.blocking import BlockingPools
from monitor.app.scheduler import CheckScheduler
from monitor.app.store import StateStore


def readiness_problems(scheduler: CheckScheduler, store: StateStore,
                       pools: BlockingPools) -> list[str]:
    problems = []
    if not scheduler.running:
        problems.append("scheduler is not running")
    writes = store.database.writes
    if writes.failing:
        problems.append(f"state database {store.path}: the last "
                        f"{writes.consecutive_failures} write(s) failed: {writes.last_error}")
    elif not store.is_writable():
        problems.append(f"state database {store.path} is not writable")
    problems += pools.readiness_problems()  # "N blocking workers hung in F"
    if skipped := scheduler.recently_skipped():
        problems.append(f"scheduler skipped {skipped} check run(s) in the last 5 minutes "
                        "(a run still in flight or too late to start: saturated)")
    return problems
