"""The daemon's alert path with an injected clock, for the fault tests: check results go in
at the AlertService (as the runner hands them over), the real Router, outbox and
Dispatcher move them, the notifiers are real or recording. Nothing reads the real clock.
"""

from __future__ import annotations

from typing import Any

from alerts.config import AlertingConfig
from alerts.dispatcher import Dispatcher
from alerts.notifiers import Notifier, NotifierOptions, build_notifiers
from alerts.router import Router
from alerts.service import AlertService
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Status
from monitor.state.store import CheckState

T0 = 1_800_000_000.0
RETRY = {"initial_backoff": "5s", "max_backoff": "60s", "jitter": 0.2}


class AlertPath:
    """The daemon's alert path with an injected clock: feed states, then ``tick(now)``."""

    def __init__(self, store: StateStore, receivers: list[dict[str, Any]],
                 notifiers: dict[str, Notifier] | None = None, **alerts: Any) -> None:
        alerts.setdefault("route", {"group_by": ["lms"], "group_wait": "0s"})
        self.config = AlertingConfig.model_validate({
            "receivers": receivers, "retry": RETRY, **alerts})
        self.now = T0
        self.router = Router(store, self.config)
        self.service = AlertService(store, self.config, wake=self.router.wake)
        self.notifiers = notifiers or build_notifiers(self.config,
                                                      NotifierOptions(clock=lambda: self.now))
        self.dispatcher = Dispatcher(store, self.notifiers, self.config.retry)
        self.store = store
        self._runs: dict[str, tuple[Status, int]] = {}

    def result(self, lms: str, status: Status) -> None:
        """One more result of ``lms``'s http check, as the runner hands it over."""
        last, count = self._runs.get(lms, (Status.OK, 0))
        count = count + 1 if (last is Status.OK) == (status is Status.OK) else 1
        self._runs[lms] = (status, count)
        ok = status is Status.OK
        summary = "HTTP 200 in 80ms" if ok else "HTTP 503 (expected 200-299)"
        state = CheckState(lms, "http", "http", Result(status, summary), self.now, 0.1,
                           count if ok else 0, 0 if ok else count, self.now)
        self.service.on_state(state, None, self.now, labels={})

    async def tick(self, now: float) -> None:
        self.now = now
        self.router.step(now)
        await self.dispatcher.step(now)

    def pending(self) -> int:
        return len(self.store.outbox_items("pending"))

    async def drain(self, until: float) -> None:
        """Step from one due retry to the next until nothing is pending (or ``until``)."""
        for _ in range(10_000):  # bounded; each step moves time forward
            due = self.dispatcher.next_wake_at()
            if not self.pending() or due is None or due > until:
                return
            await self.tick(max(self.now, due))

    async def aclose(self) -> None:
        await self.dispatcher.aclose()


async def fire(path: AlertPath, lms: str, at: float) -> None:
    """Three failed runs a few seconds apart: enough to fire with the default thresholds."""
    await path.drain(until=at)  # the dispatcher keeps retrying until then
    for step in range(3):
        path.now = at + step * 5
        path.result(lms, Status.CRITICAL)
        await path.tick(path.now)


async def resolve(path: AlertPath, lms: str, at: float) -> None:
    await path.drain(until=at)
    for step in range(2):
        path.now = at + step * 5
        path.result(lms, Status.OK)
        await path.tick(path.now)
