"""retry_interval: while a check fails softly, the scheduler runs it again sooner."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.config import AlertingConfig
from alerts.service import AlertService
from checks.base import CheckContext
from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from tests.conftest import FakeClock

TARGET = Target(name="site", kind="generic", url="http://127.0.0.1:9")


class Scripted:
    def __init__(self, statuses: str) -> None:
        self.statuses = list(statuses)

    async def run(self, ctx: CheckContext) -> Result:
        code = self.statuses.pop(0)
        return Result(Status.OK if code == "O" else Status.CRITICAL, code)


async def test_soft_failures_bring_the_next_run_forward_until_the_alert_fires(
    clock: FakeClock, store: StateStore
) -> None:
    service = AlertService(store, AlertingConfig())
    runner = CheckRunner(clock, store=store, listener=service)
    scheduler = CheckScheduler(runner, clock)
    spec = CheckSpec(type="test", interval=300, retry_interval=15, timeout=5)
    scheduler.start(paused=True)
    try:
        scheduler.apply({"site/web": CheckJob(TARGET, "web", spec, Scripted("OCCCCO"))})
        planned = []
        for _ in range(6):
            # As APScheduler does when it submits a run: the next one is an interval away.
            normal = datetime.fromtimestamp(clock.time() + 300, UTC)
            scheduler._scheduler.get_job("site/web").modify(next_run_time=normal)
            await scheduler._fire("site/web")
            after = scheduler.next_run_time("site/web")
            sooner = datetime.fromtimestamp(clock.time() + 15, UTC)
            planned.append("retry" if after == sooner else
                           "normal" if after == normal else str(after))
            clock.advance(15)
        # O: normal; C, C: soft -> retry; C: fires (hard) -> normal; C firing; O.
        assert planned == ["normal", "retry", "retry", "normal", "normal", "normal"]
    finally:
        await scheduler.shutdown(grace=0.1)


async def test_without_retry_interval_the_default_ratio_applies_and_zero_turns_it_off(
    clock: FakeClock, store: StateStore
) -> None:
    """No retry_interval on the check: re-run after interval x soft_retry_ratio (0.2, as
    Icinga's 1m retry for a 5m check); soft_retry_ratio = 0 waits the full interval."""
    runner = CheckRunner(clock, store=store, listener=AlertService(store, AlertingConfig()))
    job = CheckJob(TARGET, "web", CheckSpec(type="test", interval=60), Scripted("CC"))
    await runner.run(job)
    assert runner.retry_at == {"site/web": clock.time() + 12}
    runner.retry_at.clear()
    runner.listener = AlertService(store, AlertingConfig(soft_retry_ratio=0))
    await runner.run(job)
    assert runner.retry_at == {}


async def test_unknown_that_does_not_count_is_not_retried_sooner(
    clock: FakeClock, store: StateStore
) -> None:
    class Unknown:
        async def run(self, ctx: CheckContext) -> Result:
            return Result(Status.UNKNOWN, "cannot tell")

    service = AlertService(store, AlertingConfig(unknown_is_failure=False))
    runner = CheckRunner(clock, store=store, listener=service)
    spec = CheckSpec(type="test", retry_interval=10)
    await runner.run(CheckJob(TARGET, "web", spec, Unknown()))
    assert runner.retry_at == {}
    service_counting = AlertService(store, AlertingConfig())
    runner.listener = service_counting
    await runner.run(CheckJob(TARGET, "web", spec, Unknown()))
    assert runner.retry_at == {"site/web": clock.time() + 10}


async def test_a_result_of_a_check_removed_meanwhile_is_dropped(
    clock: FakeClock, store: StateStore
) -> None:
    """A run that was in flight when a reload removed its check stores and judges nothing."""
    service = AlertService(store, AlertingConfig(failure_threshold=1))
    runner = CheckRunner(clock, store=store, listener=service)
    job = CheckJob(TARGET, "web", CheckSpec(type="test"), Scripted("CC"))
    runner.is_configured = lambda j: False
    await runner.run(job)
    assert store.get_state("site", "web") is None and store.firing_alerts() == []
    runner.is_configured = lambda j: True
    await runner.run(job)
    assert [a.check for a in store.firing_alerts()] == ["web"]
