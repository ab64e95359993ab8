"""Runs one check once: the boundary where a misbehaving check becomes a Result.

Called by the scheduler (and by ``vigil check``). Bounds concurrency, applies the
check's timeout, turns exceptions into UNKNOWN, redacts the config's secrets from the
result, stores it and hands the new state to the alert service. Nothing here ever
raises into the scheduler.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from checks.base import CheckContext, CheckUnavailable
from monitor.app.blocking import BlockingPools
from monitor.app.metrics import DaemonMetrics
from monitor.app.record_batch import RecordBatch
from monitor.app.store import StateStore
from monitor.kernel.clock import Clock
from monitor.kernel.job import CheckJob
from monitor.kernel.redact import SecretRegistry
from monitor.kernel.result import Result, Status
from monitor.state.listener import RetryAdvisor, StateListener

log = logging.getLogger(__name__)
T = TypeVar("T")


class CheckRunner:
    def __init__(
        self,
        clock: Clock,
        *,
        store: StateStore | None = None,
        listener: StateListener | None = None,
        metrics: DaemonMetrics | None = None,
        max_concurrency: int = 64,
        blocking_workers: int = 4,
        http_transport: httpx.AsyncBaseTransport | None = None,
        state_dir: Path | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.clock = clock
        self.secrets = secrets
        self.store = store
        self.listener = listener
        self.metrics = metrics
        self.http_transport = http_transport
        self.state_dir = state_dir
        self._slots = asyncio.Semaphore(max_concurrency)
        # The results that finish within one tick are recorded in one transaction.
        self.records = RecordBatch(store.database if store is not None else None,
                                   running=lambda: len(self.in_flight))
        # Blocking calls: one pool of ``blocking_workers`` per check type (and one for
        # maintenance actions), so one family's hung calls never starve another's.
        self.pools = BlockingPools(blocking_workers)
        self.in_flight: set[asyncio.Task[Any]] = set()
        # Job key -> when the scheduler should run it again (retry_interval while soft).
        self.retry_at: dict[str, float] = {}
        # (job, now) -> maintenance windows covering the job (MaintenanceLifecycle.windows_for)
        self.windows: Callable[[CheckJob, float], tuple[tuple[float, float], ...]] | None = None
        # Whether a job is still configured: a result that arrives after a reload removed
        # its check is dropped, so it cannot fire an alert nobody will ever resolve.
        self.is_configured: Callable[[CheckJob], bool] | None = None
        self._advisor: tuple[object, RetryAdvisor | None] = (object(), None)  # see below
        # Per-run lookups made once: prometheus_client's labels() validates and locks on
        # each call, and a bound run_blocking per check type is the same every run.
        self._children: dict[tuple[str, ...], Any] = {}
        self._blocking: dict[str, Callable[[Callable[[], Any]], Awaitable[Any]]] = {}

    async def run_blocking(self, fn: Callable[[], T], family: str = "default") -> T:
        return await self.pools.run(family, fn)

    def blocking_for(self, family: str) -> Callable[[Callable[[], T]], Awaitable[T]]:
        """``run_blocking`` bound to one family's pool (e.g. "maintenance")."""
        return functools.partial(self.run_blocking, family=family)

    async def run(self, job: CheckJob, due_at: float | None = None) -> Result:
        """Run the check, record what happened, and return the result. Never raises."""
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            async with self._slots:
                if due_at is not None and self.metrics:
                    self.metrics.scheduler_lag.observe(max(0.0, self.clock.time() - due_at))
                result, duration = await self._run_timed(job)
            if self.store is not None:  # outside the slot: the next check need not wait
                await self.records.submit(functools.partial(
                    self._record, job, result, duration, self.clock.time()))
            return result
        finally:
            if task is not None:
                self.in_flight.discard(task)

    async def _run_timed(self, job: CheckJob) -> tuple[Result, float]:
        started = self.clock.monotonic()
        if self.metrics:
            self.metrics.in_flight.inc()
        try:
            result = redact_result(await self._execute(job), self.secrets)
        finally:
            if self.metrics:
                self.metrics.in_flight.dec()
        duration = max(0.0, self.clock.monotonic() - started)
        if self.metrics:
            kind = job.spec.type
            runs = self._children.get(("runs", kind, result.status.name))
            if runs is None:
                runs = self._children[("runs", kind, result.status.name)] = \
                    self.metrics.check_runs.labels(kind, result.status.name)
            took = self._children.get(("duration", kind))
            if took is None:
                took = self._children[("duration", kind)] = \
                    self.metrics.check_duration.labels(kind)
            runs.inc()
            took.observe(duration)
        return result, duration

    async def _execute(self, job: CheckJob) -> Result:
        run_blocking = self._blocking.get(job.spec.type)
        if run_blocking is None:
            run_blocking = self._blocking[job.spec.type] = self.blocking_for(job.spec.type)
        ctx = CheckContext(
            target=job.target, timeout=job.spec.timeout, now=self.clock.time,
            run_blocking=run_blocking, http_transport=self.http_transport,
            site=job.site,
            state_dir=self.state_dir, maintenance_windows=self._windows(job),
        )
        try:
            async with asyncio.timeout(job.spec.timeout):
                result = await job.check.run(ctx)
        except CheckUnavailable as exc:
            return Result(Status.UNKNOWN, str(exc))
        except TimeoutError:
            self._count_error(job, "timeout")
            return Result(Status.CRITICAL, f"timed out after {job.spec.timeout:g}s")
        except Exception as exc:  # a bug in a check must not stop the daemon
            log.exception("check %s raised", job.key)
            self._count_error(job, "exception")
            return Result(Status.UNKNOWN, f"check failed: {type(exc).__name__}: {exc}")
        if not isinstance(result, Result):
            self._count_error(job, "bad_result")
            return Result(Status.UNKNOWN, f"check returned {type(result).__name__}, not a Result")
        return result

    def _windows(self, job: CheckJob) -> tuple[tuple[float, float], ...]:
        if self.windows is None:
            return ()
        try:
            return self.windows(job, self.clock.time())
        except Exception:  # a broken window must not stop the check from running
            log.exception("cannot tell whether a maintenance window covers %s", job.key)
            return ()

    def _count_error(self, job: CheckJob, reason: str) -> None:
        if self.metrics:
            self.metrics.check_errors.labels(job.spec.type, reason).inc()

    def _record(self, job: CheckJob, result: Result, duration: float, now: float) -> None:
        if self.store is None:
            return
        if self.is_configured is not None and not self.is_configured(job):
            log.info("dropping the result of %s: the check was removed from the config",
                     job.key)
            return
        try:
            state = self.store.record_result(
                job.target.name, job.name, job.spec.type, result, now, duration
            )
            if self.listener is not None:
                labels = {**job.target.labels, **job.spec.labels}
                self.listener.on_state(state, job.spec, now, labels=labels)
            advisor = self._retry_advisor()
            if advisor is not None:
                delay = advisor.retry_delay(state, job.spec)
                if delay:  # soft failure: the scheduler runs the check again sooner
                    self.retry_at[job.key] = now + delay
        except sqlite3.Error as exc:  # a full disk: counted in database.writes, told once
            repeated = self.store.database.writes.consecutive_failures > 1
            (log.debug if repeated else log.error)(
                "could not record the result of %s: %s", job.key, exc)
        except Exception:  # a broken listener must not stop checks
            log.exception("could not record the result of %s", job.key)

    def _retry_advisor(self) -> RetryAdvisor | None:
        """The listener if it advises retries. isinstance on a runtime-checkable Protocol
        walks its members each time: asked once per listener object, not per result."""
        listener = self.listener
        if self._advisor[0] is not listener:
            self._advisor = (listener, listener if isinstance(listener, RetryAdvisor) else None)
        return self._advisor[1]

    async def drain(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for checks in flight, cancel the rest; return cancelled."""
        pending = {t for t in self.in_flight if t is not asyncio.current_task()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)
            self.records.flush()
            return len(still)
        self.records.flush()
        return 0

    def close(self) -> None:
        """Never waits: a call hung on a dead mount stays behind in its daemon thread."""
        self.records.flush()  # results of cancelled runs still waiting for their batch
        self.pools.close()


def redact_result(result: Result, secrets: SecretRegistry | None) -> Result:
    """``result`` without a secret of the config in its summary, details or sample labels:
    from here it reaches the state file, alerts, notifications, the API and metrics."""
    if not secrets:
        return result
    samples = tuple(
        replace(s, labels={k: secrets.redact(v) for k, v in s.labels.items()})
        if any(secrets.redact(v) != v for v in s.labels.values()) else s
        for s in result.samples
    )
    return Result(result.status, secrets.redact(result.summary), samples,
                  secrets.redact_value(dict(result.details)))
