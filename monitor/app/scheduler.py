"""Our small wrapper around APScheduler 3's AsyncIOScheduler.

One interval job per (LMS target x check), at most one run at a time, coalesced after
a stall, with jitter. ``apply`` diffs a new set of jobs against the running one so a
reload reschedules only what changed. Job functions never raise (CheckRunner.run).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app.runner import CheckRunner
from monitor.kernel.clock import Clock
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduleDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def diff_jobs(old: dict[str, CheckJob], new: dict[str, CheckJob]) -> ScheduleDiff:
    """Pure: which job keys a reload adds, removes, changes or keeps."""
    changed = [k for k in new if k in old and
               (old[k].spec != new[k].spec or old[k].target != new[k].target
                or old[k].site is not new[k].site)]
    return ScheduleDiff(
        added=sorted(k for k in new if k not in old),
        removed=sorted(k for k in old if k not in new),
        changed=sorted(changed),
        unchanged=sorted(k for k in new if k in old and k not in changed),
    )


def first_run_offset(key: str, interval: float) -> float:
    """Spread first runs over the interval, stably per job (as Prometheus offsets scrapes)."""
    return (zlib.crc32(key.encode()) / 2**32) * min(interval, 60.0)
SKIP_WINDOW = 300.0  # /readyz reports skipped runs of the last five minutes


class CheckScheduler:
    def __init__(self, runner: CheckRunner, clock: Clock, *, misfire_grace: float = 30.0) -> None:
        self.runner = runner
        self.clock = clock
        self._skipped_at: deque[float] = deque(maxlen=10_000)
        self.misfire_grace = misfire_grace
        self.jobs: dict[str, CheckJob] = {}
        self._due: dict[str, float] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}  # one run per check at a time (run_now)
        # Scheduled runs finish a few at a time: batch them per window, not per run.
        runner.records.hold_lone_runs = True
        self._scheduler = AsyncIOScheduler(
            executors={"default": AsyncIOExecutor()}, timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self, *, paused: bool = False) -> None:
        self._scheduler.start(paused=paused)

    def apply(self, jobs: dict[str, CheckJob]) -> ScheduleDiff:
        """Make the scheduled jobs equal to ``jobs``, touching only what changed."""
        diff = diff_jobs(self.jobs, jobs)
        for key in diff.removed + diff.changed:
            self._scheduler.remove_job(key)
            self._due.pop(key, None)
            self._retire(self.jobs[key])
        for key in diff.added + diff.changed:
            self._add(jobs[key])
        for key in diff.unchanged:
            jobs[key] = self.jobs[key]  # keep the live check object (it may hold state)
        self.jobs = dict(jobs)
        if self.runner.metrics:
            self.runner.metrics.scheduler_jobs.set(len(self.jobs))
        return diff

    def _retire(self, job: CheckJob) -> None:
        """Close what a replaced check holds (HTTP clients) once its last run is over."""
        aclose = getattr(job.check, "aclose", None)
        if aclose is not None:
            task = asyncio.get_running_loop().create_task(aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _add(self, job: CheckJob) -> None:
        spec = job.spec
        start = datetime.fromtimestamp(self.clock.time(), UTC)
        first = start + timedelta(seconds=first_run_offset(job.key, spec.interval))
        self._scheduler.add_job(
            self._fire, IntervalTrigger(seconds=spec.interval, jitter=spec.jitter or None,
                                        start_date=first),
            args=(job.key,), id=job.key, name=job.key, next_run_time=first,
            misfire_grace_time=max(1, int(self.misfire_grace)), replace_existing=True,
        )

    async def _fire(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:  # removed by a reload after it was submitted
            return
        lock = self._lock(key)
        if lock.locked():  # run_now is running it: that result is as fresh
            return
        async with lock:
            await self.runner.run(job, self._due.pop(key, None))
        retry_at = self.runner.retry_at.pop(key, None)
        if retry_at is not None:
            self._run_sooner(key, retry_at)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)  # not setdefault: that built a new Lock on every call
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def run_now(self, keys: Iterable[str]) -> dict[str, Result]:
        """Run the given checks at once and await their results (e.g. at the end of a
        maintenance window). Unknown keys are skipped; a scheduled run in flight is awaited
        first, so a check still runs at most once at a time."""
        async def one(key: str, job: CheckJob) -> Result:
            async with self._lock(key):
                return await self.runner.run(job)

        wanted = {key: self.jobs[key] for key in dict.fromkeys(keys) if key in self.jobs}
        results = await asyncio.gather(*(one(k, job) for k, job in wanted.items()))
        return dict(zip(wanted, results, strict=True))

    def _run_sooner(self, key: str, at: float) -> None:
        """Soft failure: bring the next run forward to ``at`` (the check's retry_interval)."""
        scheduled = self._scheduler.get_job(key)
        if scheduled is None or scheduled.next_run_time is None:
            return  # removed or paused meanwhile
        if at < scheduled.next_run_time.timestamp():
            scheduled.modify(next_run_time=datetime.fromtimestamp(at, UTC))

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _on_skipped(self, event: JobEvent) -> None:
        self._skipped_at.append(self.clock.monotonic())
        job = self.jobs.get(event.job_id)
        if job is not None and self.runner.metrics:
            self.runner.metrics.check_skipped.labels(job.spec.type).inc()
        log.warning("run of %s skipped: previous run still in flight or too late to start",
                    event.job_id)

    def recently_skipped(self, within: float = SKIP_WINDOW) -> int:
        """Runs skipped in the last ``within`` seconds: more than one check in flight at a
        time or too late to start means the loop or a pool is saturated (for /readyz)."""
        horizon = self.clock.monotonic() - within
        while self._skipped_at and self._skipped_at[0] < horizon:
            self._skipped_at.popleft()
        return len(self._skipped_at)

    def next_run_time(self, key: str) -> datetime | None:
        job = self._scheduler.get_job(key)
        return job.next_run_time if job else None

    async def shutdown(self, grace: float) -> int:
        """Stop scheduling, await checks in flight for up to ``grace`` s; return cancelled."""
        if self._scheduler.running:
            self._scheduler.pause()
        cancelled = await self.runner.drain(grace)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for job in self.jobs.values():
            self._retire(job)
        await asyncio.gather(*self._closing, return_exceptions=True)
        return cancelled
