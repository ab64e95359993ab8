"""The alerting side's background work in the running daemon, beside daemon.py's wiring.

Delivery (dispatcher), routing (router), keeping Alertmanager receivers fed, time-driven
alert work (ack expiry, holds, outbox pruning, the state-write watch), and what a start
or a reload owes the alerts (judge stored states again, resolve removed checks). Each
loop logs and carries on after a bug: a failure here never stops the checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.dispatcher import Dispatcher
from alerts.notifiers import refresh_notifiers
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.receiver_health import failed_receivers, latest_self_alerts
from alerts.router import Router
from alerts.service import AlertService
from monitor.app.self_watch import StateWriteWatch
from monitor.app.store import StateStore
from monitor.kernel.clock import Clock
from monitor.kernel.job import CheckJob

if TYPE_CHECKING:
    from monitor.app.config import VigilConfig

log = logging.getLogger(__name__)
OUTBOX_PRUNE_EVERY = 3600.0  # delivered notifications are pruned at most hourly


class AlertingWork:
    def __init__(self, *, store: StateStore, dispatcher: Dispatcher, router: Router,
                 alerts: AlertService, state_watch: StateWriteWatch, clock: Clock,
                 config: Callable[[], VigilConfig], stop: asyncio.Event) -> None:
        self.store, self.dispatcher, self.router = store, dispatcher, router
        self.alerts, self.state_watch, self.clock = alerts, state_watch, clock
        self.config = config
        self._stop = stop
        self._outbox_pruned_at: float | None = None

    def tell_state_file_rebuilt(self, moved: Path) -> None:
        """The state file was damaged: say so in the log and to every receiver."""
        text = (f"Vigil's state database was damaged and has been moved aside to {moved}; "
                "a new one was made. Alert history, acknowledgements and queued "
                "notifications from before are in the moved file only.")
        log.error("%s", text)
        self.router.enqueue_message(
            "state_rebuilt", "Vigil rebuilt its state database", text, f"<p>{text}</p>",
            labels={"alertname": "VigilStateRebuilt"}, now=self.clock.time(),
            key=f"state-rebuilt:{moved.name}")

    def rejudge_stored_states(self, jobs: Iterable[CheckJob]) -> None:
        """Judge each check's stored state once more at start-up.

        A result is stored, then judged, in two transactions: a crash in between would
        leave a result that should have fired unjudged, and an OK next would hide it for
        good. Judging a state again that was judged already changes nothing.
        """
        now = self.clock.time()
        for job in jobs:
            state = self.store.get_state(job.target.name, job.name)
            if state is None:
                continue
            try:
                self.alerts.on_state(state, job.spec, now,
                                     labels={**job.target.labels, **job.spec.labels})
            except Exception:
                log.exception("could not re-evaluate the stored state of %s", job.key)

    def retire_removed_alerts(self, keep: set[tuple[str, str]]) -> None:
        """Resolve the alerts of checks not in ``keep`` (no longer configured), before
        their state is forgotten: nothing would ever judge them again."""
        now = self.clock.time()
        for alert in self.store.all_alerts():
            if (alert.lms, alert.check) in keep:
                continue
            try:
                if self.alerts.retire(alert.lms, alert.check, now):
                    log.info("alert of removed check %s/%s resolved", alert.lms, alert.check)
            except Exception:
                log.exception("could not resolve the alert of removed check %s/%s",
                              alert.lms, alert.check)

    async def run_dispatcher(self) -> None:
        while not self._stop.is_set():
            try:
                await self.dispatcher.run_forever(self.clock.time, self._stop)
            except Exception:  # keep delivering even if one step hit a bug
                log.exception("outbox dispatcher failed; restarting it in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=5)

    async def run_router(self) -> None:
        """Route alert events after every wake-up and on a 1 s tick (group waits, repeats,
        escalations, time intervals, maintenance ends)."""
        while not self._stop.is_set():
            try:
                await self.router.run_forever(self.clock.time, self._stop, tick=1.0)
            except Exception:  # run_forever catches step errors; this is a last resort
                log.exception("alert router failed; restarting it in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=5)

    async def refresh_receivers(self, every: float = 15.0) -> None:
        """Re-send firing alerts to Alertmanager receivers so they do not time out."""
        self.adopt_pushed_alerts()
        while not self._stop.is_set():
            try:
                due = await refresh_notifiers(self.dispatcher.notifiers, self.clock.time(),
                                              self.problem_fingerprints(),
                                              failed_receivers(self.store))
                # A newly pushed alert does not wake this loop: look at least once per
                # resend_interval, or it would expire in Alertmanager before its re-send.
                every_resend = min([every, *(r.resend_interval for r in self.config().alerts
                                             .receivers if r.type == "alertmanager")])
                delay = every_resend if due is None else min(
                    every_resend, max(1.0, due - self.clock.time()))
            except Exception:  # a receiver's trouble must not stop the daemon
                log.exception("receiver refresh failed")
                delay = every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    def problem_fingerprints(self) -> set[str]:
        """Alerts a receiver was told are a problem: firing, or flapping (which notifies)."""
        return {alert.fingerprint for alert in self.store.all_alerts()
                if alert.state == "firing" or alert.flapping}

    def adopt_pushed_alerts(self) -> None:
        """After a restart, keep alive what was pushed to Alertmanager before it."""
        try:
            names = [name for name, notifier in self.dispatcher.notifiers.items()
                     if isinstance(notifier, AlertmanagerNotifier)]
            firing = self.problem_fingerprints() if names else set()
            # Only the newest delivered snapshot per (receiver, firing alert), read in SQL.
            latest = self.store.latest_sent_alerts(firing, names) if firing else []
            selfs = latest_self_alerts(self.store, names) if names else []
            failed = failed_receivers(self.store)
            now = self.clock.time()
            for name, notifier in self.dispatcher.notifiers.items():
                if isinstance(notifier, AlertmanagerNotifier):
                    notifier.adopt([alert for _, receiver, alert in latest if receiver == name],
                                   now)
                    notifier.adopt_self_alerts([p for _, r, p in selfs if r == name], failed,
                                               now)
        except Exception:
            log.exception("could not adopt alerts pushed to Alertmanager before the restart")

    async def alert_ticks(self, every: float = 5.0) -> None:
        """Time-driven alert work with no check result to trigger it: ack expiry, holds,
        pruning delivered notifications."""
        while not self._stop.is_set():
            try:
                self.alerts.tick(self.clock.time())
            except Exception:  # a bug here must not stop checks or delivery
                log.exception("alert tick failed")
            try:
                self.prune_outbox(self.clock.time())
            except Exception:
                log.exception("pruning delivered notifications failed")
            try:
                await self.state_watch.step(self.clock.time())
            except Exception:
                log.exception("watching the state file's writes failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=every)

    def prune_outbox(self, now: float) -> int:
        """At most hourly, delete notifications delivered more than alerts.outbox_retention
        ago; the newest one of each firing alert per receiver stays (Alertmanager adoption
        after a restart needs it). Routed alert events as old go too (AlertStore.prune_events)."""
        if self._outbox_pruned_at is not None and now - self._outbox_pruned_at < OUTBOX_PRUNE_EVERY:
            return 0
        self._outbox_pruned_at = now
        keep = {row_id for row_id, _, _ in
                self.store.latest_sent_alerts(self.problem_fingerprints())}
        keep |= {row_id for row_id, _, _ in latest_self_alerts(self.store)}
        cutoff = now - self.config().alerts.outbox_retention
        pruned = self.store.prune_outbox(cutoff, keep=keep)
        if pruned:
            log.info("pruned %d delivered notifications from the outbox", pruned)
        # Alert events (alert_transitions) are kept as long as the notifications made of
        # them; without this they grew by every flip for ever.
        events = self.store.prune_events(cutoff)
        if events:
            log.info("pruned %d routed alert events older than the outbox retention", events)
        return pruned
