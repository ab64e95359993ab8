"""CI guard for the cost of recording results: the state-file writes per check run.

The runner records the results that finish within one tick in one transaction
(monitor/app/record_batch.py over kernel ``Database.batch``). These tests count, with
sqlite3's statement trace on the real state file, the COMMITs and the writing statements
that a tick of many results costs with the daemon's own listeners (history recorder and
alert service). They fail if a write transaction per result comes back, or if an
unchanged OK result starts writing more than its state and history rows. No timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.config import AlertingConfig
from alerts.history import SampleRecorder, WatchPlan
from alerts.service import AlertService
from checks.base import CheckContext
from monitor.app.listeners import FanOut
from monitor.app.runner import CheckRunner
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from monitor.state.store import CheckState
from tests.conftest import FakeClock

CHECKS = 50
# An unchanged OK result writes its state row, its history row and the history trim.
WRITES_PER_QUIET_RESULT = 3
TARGETS = [Target(name=f"site{i}", kind="generic", url="http://127.0.0.1:9") for i in range(5)]


class AnswerCheck:
    """Answers at once with the result the test sets (no I/O: all finish in one tick)."""

    def __init__(self, status: Status = Status.OK) -> None:
        self.status = status

    async def run(self, ctx: CheckContext) -> Result:
        return Result(self.status, f"status {self.status.name}")


class StatementLog:
    """Every statement the state file's connection executes (sqlite3 trace callback)."""

    def __init__(self, store: StateStore) -> None:
        self.statements: list[str] = []
        self._db = store.database.connection
        self._db.set_trace_callback(self.statements.append)

    def take(self) -> Counter[str]:
        """Counts since the last call: COMMIT, BEGIN, and writes (INSERT/UPDATE/DELETE)."""
        kinds: Counter[str] = Counter()
        for sql in self.statements:
            verb = sql.lstrip().split(None, 1)[0].upper()
            kinds["write" if verb in ("INSERT", "UPDATE", "DELETE") else verb] += 1
        self.statements.clear()
        return kinds

    def close(self) -> None:
        self._db.set_trace_callback(None)


@pytest.fixture
def statements(store: StateStore) -> Iterator[StatementLog]:
    log = StatementLog(store)
    yield log
    log.close()


def daemon_runner(clock: FakeClock, store: StateStore, *extra: Any) -> CheckRunner:
    """A runner with the listeners the daemon gives it (monitor/app/daemon.py)."""
    alerts = AlertService(store, AlertingConfig())
    recorder = SampleRecorder(store, WatchPlan())
    return CheckRunner(clock, store=store, listener=FanOut([recorder, alerts, *extra]))


def jobs(count: int = CHECKS) -> list[CheckJob]:
    return [CheckJob(TARGETS[i % len(TARGETS)], f"c{i:03d}", CheckSpec(type="test"),
                     AnswerCheck()) for i in range(count)]


async def run_tick(runner: CheckRunner, batch: list[CheckJob]) -> None:
    await asyncio.gather(*(runner.run(job) for job in batch))


async def test_the_results_of_one_tick_are_committed_once(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store)
    batch = jobs()
    await run_tick(runner, batch)  # first results: every state is new
    first = statements.take()
    assert first["COMMIT"] == 1, f"{first['COMMIT']} commits for {CHECKS} results in one tick"
    assert len(store.states()) == CHECKS

    clock.advance(60)
    await run_tick(runner, batch)  # the same OK results again: nothing changes
    again = statements.take()
    assert again["COMMIT"] == 1
    assert again["write"] <= WRITES_PER_QUIET_RESULT * CHECKS, (
        f"{again['write']} writing statements for {CHECKS} unchanged OK results")
    assert runner.records.batches == 2
    assert [row[0] for row in store.history("site0", "c000")] == [clock.time(),
                                                                    clock.time() - 60]


async def test_a_tick_where_every_check_fails_is_still_one_commit(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store)
    batch = jobs()
    for _ in range(3):  # the third failure fires every alert (failure_threshold 3)
        for job in batch:
            job.check.status = Status.CRITICAL  # type: ignore[attr-defined]
        await run_tick(runner, batch)
        clock.advance(60)
    counts = statements.take()
    assert counts["COMMIT"] == 3
    assert len(store.firing_alerts()) == CHECKS


class BrokenListener:
    """Writes into a table that does not exist for one check: its savepoint fails."""

    def __init__(self, store: StateStore, check: str) -> None:
        self.store, self.check = store, check

    def on_state(self, state: CheckState, spec: CheckSpec, now: float, **kw: Any) -> None:
        if state.check == self.check:
            with self.store.database.transaction() as db:
                db.execute("INSERT INTO no_such_table VALUES (1)")


async def test_a_failed_write_is_undone_alone_and_the_rest_of_the_tick_is_saved(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store, BrokenListener(store, "c007"))
    await run_tick(runner, jobs())
    counts = statements.take()
    assert counts["COMMIT"] == 1
    assert store.database.writes.failures_total == 1
    assert "no such table" in str(store.database.writes.last_error)
    # Read back from the file itself, not from the store's cache of current states.
    rows = store.database.connection.execute("SELECT COUNT(*) FROM check_state").fetchone()
    assert rows[0] == CHECKS


async def test_a_rolled_back_batch_drops_the_cached_states(
    clock: FakeClock, store: StateStore
) -> None:
    runner = daemon_runner(clock, store)
    await run_tick(runner, jobs(1))
    assert store.get_state("site0", "c000") is not None
    with pytest.raises(sqlite3.OperationalError):
        with store.database.batch():
            store.record_result("site0", "gone", "test", Result(Status.OK, "x"), 1.0, 0.0)
            store.database.connection.execute("SELECT * FROM no_such_table")
    assert store.get_state("site0", "gone") is None  # re-read from the file
    assert store.get_state("site0", "c000") is not None


async def test_a_lone_run_is_recorded_at_the_next_tick_not_after_the_window(
    clock: FakeClock, store: StateStore, statements: StatementLog
) -> None:
    runner = daemon_runner(clock, store)
    runner.records.window = 3600.0  # would hang the test if a lone run waited for it
    for job in jobs(3):  # one after the other, as `vigil check` or a test runs them
        await asyncio.wait_for(runner.run(job), timeout=60)
    assert statements.take()["COMMIT"] == 3  # one per run (the recorder's prune inside)
    assert len(store.states()) == 3


def test_history_stays_at_its_limit_across_a_restart_and_a_lowered_limit(tmp_path: Any
                                                                          ) -> None:
    path = tmp_path / "s.db"
    first = StateStore(path, history_limit=10)
    for i in range(25):
        first.record_result("m", "c", "http", Result(Status.OK, f"run {i}"), float(i), 0.1)
    first.close()
    again = StateStore(path, history_limit=10)  # counts its rows again from the file
    again.record_result("m", "c", "http", Result(Status.OK, "run 25"), 25.0, 0.1)
    assert [summary for _, _, summary in again.history("m", "c", limit=100)] == [
        f"run {i}" for i in range(25, 15, -1)]
    again.close()
    lowered = StateStore(path, history_limit=10 // 2)
    lowered.record_result("m", "c", "http", Result(Status.OK, "run 26"), 26.0, 0.1)
    assert [summary for _, _, summary in lowered.history("m", "c", limit=100)] == [
        f"run {i}" for i in range(26, 21, -1)]
