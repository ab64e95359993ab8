"""Under the daemon's scheduler, runs that finish one after another (each alone in flight,
as 2,000 checks spread over 10 s do) share one commit per window instead of one each
(monitor/app/record_batch.py ``hold_lone_runs``, set by monitor/app/scheduler.py).
Counted with sqlite3's statement trace; no timing."""

from __future__ import annotations

import asyncio

from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler
from monitor.app.store import StateStore
from tests.conftest import FakeClock
from tests.test_state_writes_per_tick import StatementLog, daemon_runner, jobs, statements

__all__ = ["statements"]  # the fixture, imported for pytest


async def run_one_after_another(runner: CheckRunner, count: int) -> None:
    """Each run is started once the previous one has handed in its result (the runs do
    no I/O: a few loop turns take one to its submit, and an unheld batch to its commit)."""
    tasks = []
    for job in jobs(count):
        tasks.append(asyncio.create_task(runner.run(job)))
        for _ in range(50):
            await asyncio.sleep(0)
    runner.records.flush()  # the window's timer, without waiting for it
    await asyncio.gather(*tasks)


async def test_scheduled_lone_runs_share_one_commit(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store)
    CheckScheduler(runner, clock)  # what the daemon does: it holds lone runs
    runner.records.window = 3600.0  # never reached: the test flushes once all are in
    await run_one_after_another(runner, 5)
    assert statements.take()["COMMIT"] == 1
    assert len(store.states()) == 5


async def test_without_the_scheduler_a_lone_run_commits_at_once(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store)
    runner.records.window = 3600.0  # would hang the test if a lone run waited for it
    await run_one_after_another(runner, 5)
    assert statements.take()["COMMIT"] == 5  # `vigil check`, a test: each recorded at once
