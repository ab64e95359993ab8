"""The runner turns misbehaving checks into results; the scheduler diffs reloads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from checks.base import CheckContext
from monitor.app.metrics import DaemonMetrics
from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler, diff_jobs, first_run_offset
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from monitor.state.store import CheckState
from tests.conftest import FakeClock

TARGET = Target(name="site", kind="generic", url="http://127.0.0.1:9")


class ScriptedCheck:
    """A check whose behaviour the test chooses: a result, an exception, or a hang."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.runs = 0
        self.release = asyncio.Event()

    async def run(self, ctx: CheckContext) -> Result:
        self.runs += 1
        if self.outcome == "hang":
            await self.release.wait()
            return Result(Status.OK, "released")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class RecordingListener:
    def __init__(self) -> None:
        self.states: list[CheckState] = []

    def on_state(self, state: CheckState, spec: CheckSpec, now: float, **kw: Any) -> None:
        self.states.append(state)


def job(name: str, outcome: Any, **spec: Any) -> CheckJob:
    return CheckJob(TARGET, name, CheckSpec(type="test", **spec), ScriptedCheck(outcome))


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture
def metrics() -> tuple[CollectorRegistry, DaemonMetrics]:
    registry = CollectorRegistry()
    return registry, DaemonMetrics(registry)


async def test_result_is_stored_and_passed_to_the_listener(
    clock: FakeClock, store: StateStore
) -> None:
    listener = RecordingListener()
    runner = CheckRunner(clock, store=store, listener=listener)
    await runner.run(job("ok", Result(Status.OK, "fine")))
    [state] = listener.states
    assert (state.lms, state.check, state.result.summary) == ("site", "ok", "fine")
    assert store.get_state("site", "ok").result.status == Status.OK


async def test_a_check_that_raises_becomes_unknown_and_is_counted(
    clock: FakeClock, store: StateStore, metrics: tuple[CollectorRegistry, DaemonMetrics]
) -> None:
    registry, daemon_metrics = metrics
    runner = CheckRunner(clock, store=store, metrics=daemon_metrics)
    result = await runner.run(job("bug", ZeroDivisionError("division by zero")))
    assert result.status == Status.UNKNOWN
    assert "ZeroDivisionError: division by zero" in result.summary
    assert metric(registry, "vigil_check_errors_total", type="test", reason="exception") == 1
    assert store.get_state("site", "bug").result.status == Status.UNKNOWN


async def test_a_check_that_hangs_is_cut_at_its_timeout(clock: FakeClock) -> None:
    runner = CheckRunner(clock)
    result = await runner.run(job("slow", "hang", timeout=0.05, interval=1))
    assert result.status == Status.CRITICAL
    assert result.summary == "timed out after 0.05s"


async def test_a_check_returning_garbage_is_unknown(clock: FakeClock) -> None:
    result = await CheckRunner(clock).run(job("bad", {"status": 0}))
    assert result.status == Status.UNKNOWN
    assert "not a Result" in result.summary


async def test_a_broken_listener_does_not_break_the_run(
    clock: FakeClock, store: StateStore
) -> None:
    class Broken:
        def on_state(self, *args: Any, **kw: Any) -> None:
            raise RuntimeError("notifier config exploded")

    runner = CheckRunner(clock, store=store, listener=Broken())
    result = await runner.run(job("ok", Result(Status.OK, "fine")))
    assert result.status == Status.OK


async def test_global_concurrency_bound_holds(clock: FakeClock) -> None:
    runner = CheckRunner(clock, max_concurrency=2)
    jobs = [job(f"h{i}", "hang", timeout=5, interval=10) for i in range(5)]
    tasks = [asyncio.create_task(runner.run(j)) for j in jobs]
    await asyncio.sleep(0.01)
    assert sum(j.check.runs for j in jobs) == 2
    for j in jobs:
        j.check.release.set()
    await asyncio.gather(*tasks)
    assert sum(j.check.runs for j in jobs) == 5


async def test_scheduler_lag_is_measured_from_the_due_time(
    clock: FakeClock, metrics: tuple[CollectorRegistry, DaemonMetrics]
) -> None:
    registry, daemon_metrics = metrics
    runner = CheckRunner(clock, metrics=daemon_metrics)
    await runner.run(job("ok", Result(Status.OK, "fine")), due_at=clock.time() - 0.3)
    assert metric(registry, "vigil_scheduler_lag_seconds_sum") == pytest.approx(0.3)


async def test_drain_awaits_checks_in_flight_then_cancels_stragglers(clock: FakeClock) -> None:
    runner = CheckRunner(clock)
    quick, stuck = job("quick", "hang", timeout=5), job("stuck", "hang", timeout=5)
    tasks = [asyncio.create_task(runner.run(quick)), asyncio.create_task(runner.run(stuck))]
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_later(0.01, quick.check.release.set)
    cancelled = await runner.drain(grace=0.1)
    assert cancelled == 1
    assert tasks[0].result().summary == "released"
    assert tasks[1].cancelled()


def test_diff_reschedules_only_what_changed() -> None:
    a, b, c = job("a", None), job("b", None), job("c", None)
    b2 = job("b", None, interval=30)
    diff = diff_jobs({"site/a": a, "site/b": b, "site/c": c},
                     {"site/a": job("a", None), "site/b": b2, "site/d": job("d", None)})
    assert diff.added == ["site/d"]
    assert diff.removed == ["site/c"]
    assert diff.changed == ["site/b"]
    assert diff.unchanged == ["site/a"]


def test_first_runs_are_spread_stably_within_the_interval() -> None:
    offsets = [first_run_offset(f"site/check{i}", 10.0) for i in range(200)]
    assert all(0 <= o < 10 for o in offsets)
    assert max(offsets) - min(offsets) > 8
    assert first_run_offset("site/check1", 10.0) == offsets[1]


async def test_scheduler_registers_one_coalescing_single_instance_job_per_check(
    clock: FakeClock,
) -> None:
    scheduler = CheckScheduler(CheckRunner(clock), clock, misfire_grace=15)
    scheduler.start(paused=True)
    try:
        scheduler.apply({"site/a": job("a", None, interval=10, jitter=2, timeout=5)})
        [aps_job] = scheduler._scheduler.get_jobs()
        assert aps_job.id == "site/a"
        assert (aps_job.coalesce, aps_job.max_instances) == (True, 1)
        assert aps_job.misfire_grace_time == 15
        assert aps_job.trigger.interval == timedelta(seconds=10)
        assert aps_job.trigger.jitter == 2
        start = datetime.fromtimestamp(clock.time(), UTC)
        assert start <= aps_job.next_run_time <= start + timedelta(seconds=10)
    finally:
        await scheduler.shutdown(grace=0.1)


async def test_reload_keeps_unchanged_jobs_and_their_check_objects(clock: FakeClock) -> None:
    scheduler = CheckScheduler(CheckRunner(clock), clock)
    scheduler.start(paused=True)
    try:
        first = job("a", None)
        scheduler.apply({"site/a": first, "site/b": job("b", None)})
        before = scheduler.next_run_time("site/a")
        diff = scheduler.apply({"site/a": job("a", None), "site/c": job("c", None)})
        assert (diff.added, diff.removed, diff.unchanged) == (["site/c"], ["site/b"], ["site/a"])
        assert scheduler.jobs["site/a"] is first
        assert scheduler.next_run_time("site/a") == before
        assert sorted(j.id for j in scheduler._scheduler.get_jobs()) == ["site/a", "site/c"]
    finally:
        await scheduler.shutdown(grace=0.1)


async def test_a_run_still_in_flight_is_skipped_not_stacked(
    clock: FakeClock, metrics: tuple[CollectorRegistry, DaemonMetrics]
) -> None:
    registry, daemon_metrics = metrics
    scheduler = CheckScheduler(CheckRunner(clock, metrics=daemon_metrics), clock)
    hanging = job("h", "hang", interval=1, timeout=1)
    scheduler.start()
    try:
        scheduler.apply({"site/h": hanging})
        # Fire the job three times by hand while the first run hangs.
        aps_job = scheduler._scheduler.get_job("site/h")
        for _ in range(3):
            aps_job.modify(next_run_time=datetime.now(UTC))
            scheduler._scheduler.wakeup()
            await asyncio.sleep(0.05)
        assert hanging.check.runs == 1
        assert metric(registry, "vigil_check_skipped_total", type="test") >= 1
        assert scheduler.recently_skipped() >= 1  # /readyz: the scheduler is saturated
        clock.advance(301)
        assert scheduler.recently_skipped() == 0  # five quiet minutes later: ready again
    finally:
        hanging.check.release.set()
        await scheduler.shutdown(grace=1)


async def test_replaced_and_remaining_checks_are_closed(clock: FakeClock) -> None:
    closed: list[str] = []

    class Closable(ScriptedCheck):
        def __init__(self, name: str) -> None:
            super().__init__(Result(Status.OK, "fine"))
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    def closable(name: str, **spec: Any) -> CheckJob:
        return CheckJob(TARGET, name, CheckSpec(type="test", **spec), Closable(name))

    scheduler = CheckScheduler(CheckRunner(clock), clock)
    scheduler.start(paused=True)
    scheduler.apply({"site/a": closable("a"), "site/b": closable("b")})
    scheduler.apply({"site/a": closable("a", interval=30)})
    await asyncio.sleep(0)
    assert sorted(closed) == ["a", "b"]
    await scheduler.shutdown(grace=0.1)
    assert sorted(closed) == ["a", "a", "b"]
