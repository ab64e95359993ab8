"""The scheduled stakeholder report: the daemon's ``[report]`` loop.

Every minute ``ReportSchedule.step`` asks which period ended last (periods end on
multiples of ``every`` from Monday 1970-01-05 00:00 UTC: weekly reports run Monday to
Monday). For a period not done yet it renders each LMS's report in a worker thread, over
its own connection to the state file (as ``vigil report`` does), then queues one outbox
row per e-mail receiver (title, text, HTML: the e-mail notifier sends them as one
multipart/alternative message) and writes the file to ``directory``. The outbox key is
fixed per (LMS, period end), so a restart never mails a report twice; an existing file is
not written again. A failure is logged and retried at the next step: never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.app.report.gather import gather
from monitor.app.report.render import render, title
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.redact import SecretRegistry

if TYPE_CHECKING:
    from monitor.app.config import VigilConfig
    from monitor.app.daemon import Daemon

log = logging.getLogger("vigil.report")
EPOCH_MONDAY = 4 * 86400.0  # 1970-01-05 00:00 UTC
STEP_EVERY = 60.0


def last_period(every: float, now: float) -> tuple[float, float]:
    """The most recent whole period that ended at or before ``now``."""
    end = EPOCH_MONDAY + math.floor((now - EPOCH_MONDAY) / every) * every
    return end - every, end


class ReportSchedule:
    def __init__(self, store: StateStore, config: Callable[[], VigilConfig],
                 clock: Callable[[], float], *, wake: Callable[[], None] | None = None,
                 secrets: SecretRegistry | None = None,
                 run_blocking: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None
                 ) -> None:
        self.store, self.config, self.clock, self.wake = store, config, clock, wake
        self.secrets = secrets or SecretRegistry()
        self.run_blocking = run_blocking or asyncio.to_thread
        self.done: set[tuple[str, float]] = set()  # (lms, period end) sent and written

    async def step(self) -> int:
        """Send and write the reports of the last period not done yet; return how many."""
        config = self.config()
        settings = config.report
        if settings is None:
            return 0
        now = self.clock()
        since, until = last_period(settings.every, now)
        made = 0
        for lms in settings.lms or [site.name for site in config.lms]:
            if (lms, until) in self.done:
                continue
            try:
                await self._one(config, lms, since, until, now)
            except Exception:
                log.exception("scheduled report for %s (period ending %s) failed; "
                              "trying again in %.0f s", lms, _day(until), STEP_EVERY)
                continue
            self.done.add((lms, until))
            made += 1
        return made

    async def _one(self, config: VigilConfig, lms: str, since: float, until: float,
                   now: float) -> None:
        settings = config.report
        assert settings is not None
        target = None
        if settings.directory is not None:
            target = settings.directory / f"{lms}-{_day(until)}.{settings.format}"
            if target.exists():
                target = None
        rendered = await self.run_blocking(
            lambda: self._render(config, lms, since, until, now, target is not None))
        if target is not None:
            assert settings.directory is not None
            settings.directory.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(rendered["file"])
            partial.replace(target)  # a reader never sees half a report
            log.info("report for %s written to %s", lms, target)
        key = f"report:{lms}:{int(until)}"
        labels = {"lms": lms, "report": "stakeholder"}
        queued = 0
        for receiver in settings.receivers:
            payload = {"version": 1, "receiver": receiver, "route": "report",
                       "reason": "report", "status": "resolved", "group_key": key,
                       "group_labels": labels, "common_labels": labels, "dedup_key": key,
                       "escalation_level": 0, "alerts": [], "links": {},
                       "title": rendered["title"], "text": rendered["text"],
                       "html": rendered["html"]}
            queued += self.store.enqueue(key, receiver, payload, now)
        if queued and self.wake is not None:
            self.wake()

    def _render(self, config: VigilConfig, lms: str, since: float, until: float, now: float,
                with_file: bool) -> dict[str, Any]:
        settings = config.report
        assert settings is not None
        store = StateStore(config.state.dir / STATE_FILE, history_limit=config.state.history_limit)
        try:
            report = self.secrets.redact_value(
                gather(config, store, lms, since, until, now, timezone=settings.timezone))
        finally:
            store.close()
        html = render(report, "html", self.secrets)
        out: dict[str, Any] = {"title": self.secrets.redact(title(report)),
                               "text": render(report, "text", self.secrets).decode(),
                               "html": html.decode()}
        if with_file:
            out["file"] = html if settings.format == "html" else render(
                report, "pdf", self.secrets)
        return out

    async def run_forever(self) -> None:
        """The daemon's task; cancelled when it stops."""
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("scheduled report step failed")
            await asyncio.sleep(STEP_EVERY)


def for_daemon(daemon: Daemon) -> Coroutine[Any, Any, None]:
    """The daemon's report task (monitor/app/daemon.py starts it with its other loops)."""
    schedule = ReportSchedule(daemon.store, lambda: daemon.config, daemon.clock.time,
                              wake=daemon.dispatcher.wake, secrets=daemon.secrets,
                              run_blocking=daemon.runner.blocking_for("report"))
    return schedule.run_forever()


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
