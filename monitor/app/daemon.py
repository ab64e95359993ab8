"""Wires the daemon together and owns its life cycle: start, reload, watchdog, stop.

config -> jobs -> CheckScheduler -> CheckRunner -> StateStore -> AlertService -> Router ->
outbox -> Dispatcher -> notifiers; the HTTP API reads the store and the registry.
Everything runs on one asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from pathlib import Path

import httpx

from alerts.dispatcher import Dispatcher
from alerts.evaluator import PolicyEvaluator
from alerts.history import SampleRecorder, WatchPlan
from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.lifecycle import MaintenanceLifecycle
from alerts.maintenance.report import ReportRenderer
from alerts.notifiers import Notifier, NotifierOptions, build_notifiers, refresh_notifiers
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.receiver_health import ReceiverHealth, failed_receivers, latest_self_alerts
from alerts.router import Router
from alerts.service import AlertService
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.app.config import ConfigError, VigilConfig, load_config
from monitor.app.jobs import build_jobs
from monitor.app.listeners import FanOut
from monitor.app.metrics import build_registry
from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler
from monitor.app.sdnotify import SystemdNotifier
from monitor.app.self_watch import StateWriteWatch
from monitor.app.sites import SiteRegistry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.app.web.guard import Guard, default_allowed_hosts
from monitor.app.web.server import EmbeddedServer
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.database import StoreError
from monitor.kernel.job import CheckJob

log = logging.getLogger(__name__)

STATE_FILE = "vigil.sqlite3"
# Keys that a SIGHUP cannot change in a running process.
_RESTART_ONLY = ("state", "server")
OUTBOX_PRUNE_EVERY = 3600.0  # delivered notifications are pruned at most hourly


class Daemon:
    def __init__(
        self,
        config: VigilConfig,
        *,
        config_path: Path | None = None,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        systemd: SystemdNotifier | None = None,
        notifier_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.env = env
        self.systemd = systemd or SystemdNotifier()
        self.notifier_transport = notifier_transport
        self.store = StateStore.open_recovering(config.state.dir / STATE_FILE,
                                                self.clock.time(),
                                                history_limit=config.state.history_limit)
        # Maintenance windows: [[maintenance]] synced into the store; API/CLI ones kept.
        self.maintenance = MaintenanceBook(self.store.database, self.clock)
        self.maintenance.apply_config(config)
        self.registry, self.metrics = build_registry(
            self.store, maintenance=lambda: self.maintenance.lms_activity(self.clock.time()))
        self.dispatcher = self._build_dispatcher(config)
        # Routing: pending alert events -> notification groups -> outbox (alerts/router.py);
        # a receiver's permanent failure becomes a self-alert through the others.
        # The lifecycle (built below) keeps a window's scope quiet until its end actions ran.
        self.router = Router(self.store, config.alerts,
                             covering=lambda labels, now: self.lifecycle.covering(labels, now),
                             wake_dispatcher=self.dispatcher.wake)
        self.receiver_health = ReceiverHealth(self.store, self.router)
        self.state_watch = StateWriteWatch(
            self.store.database.writes, str(self.store.path),
            lambda: self.dispatcher.notifiers, lambda: self.config.alerts,
            self.router.enqueue_message)
        self.receiver_health.sync([r.name for r in config.alerts.receivers], self.clock.time())
        self.dispatcher.health = self.receiver_health
        self.alerts = AlertService(self.store, config.alerts, wake=self._wake_alerting)
        # Predictions and SLOs: the recorder keeps history, the evaluator judges it.
        plan = WatchPlan.from_config(config)
        self.recorder = SampleRecorder(self.store, plan, in_maintenance=lambda labels, now: (
            self.maintenance.covering(labels, now) is not None))
        self.policy = PolicyEvaluator(self.store, plan, listener=self.alerts)
        self.runner = CheckRunner(
            self.clock, store=self.store, listener=FanOut([self.recorder, self.alerts]),
            metrics=self.metrics,
            max_concurrency=config.scheduler.max_concurrency, state_dir=config.state.dir,
        )
        self.registry.register(self.runner.pools.collector())  # vigil_blocking_* metrics
        self.scheduler = CheckScheduler(
            self.runner, self.clock, misfire_grace=config.scheduler.misfire_grace
        )
        # Per occurrence: notices, the LMS's maintenance mode, integrity accept, report.
        self.lifecycle = MaintenanceLifecycle(
            self.store, self.maintenance, jobs=lambda: self.scheduler.jobs,
            run_checks=self.scheduler.run_now,
            receivers=lambda: [r.name for r in self.config.alerts.receivers],
            actions=MAINTENANCE_ACTIONS,
            state_dir=config.state.dir, renderer=ReportRenderer(config.alerts.templates_dir),
            run_blocking=self.runner.blocking_for("maintenance"), wake=self.dispatcher.wake,
            base_url=config.alerts.base_url, enqueue_message=self.router.enqueue_message)
        self.runner.windows = self.lifecycle.windows_for
        self.runner.is_configured = lambda job: job.key in self.scheduler.jobs
        self.sites = SiteRegistry()
        self.server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._outbox_pruned_at: float | None = None
        # A reload failed midway: the next one re-applies every step, [alerts] included.
        self._partial_reload = False
        self.metrics.last_reload.set(self.clock.time())

    def _build_dispatcher(self, config: VigilConfig) -> Dispatcher:
        return Dispatcher(self.store, self._notifiers(config), config.alerts.retry,
                          on_attempt=self.metrics.on_notification)

    def _wake_alerting(self) -> None:
        """New alert events: route them now (and deliver anything queued directly)."""
        self.router.wake()
        self.dispatcher.wake()

    def _notifiers(self, config: VigilConfig) -> dict[str, Notifier]:
        options = NotifierOptions(http_transport=self.notifier_transport, clock=self.clock.time)
        return build_notifiers(config.alerts, options)

    def _jobs(self, config: VigilConfig) -> dict[str, CheckJob]:
        return build_jobs(config, sites=self.sites.sites_for(config))

    # -- life cycle -------------------------------------------------------------
    async def start(self) -> None:
        diff = self.scheduler.apply(self._jobs(self.config))
        keep = self.config.check_keys() | self.policy.check_keys()
        self._retire_removed_alerts(keep)  # removed while the daemon was down
        self.store.forget_checks_except(keep)
        self._reevaluate_stored_states()
        self.scheduler.start()
        log.info("scheduled %d checks on %d LMS", len(diff.added), len(self.config.lms))
        if self.store.recovered_from is not None:
            self._tell_state_file_rebuilt(self.store.recovered_from)
        if self.config.server.enabled:
            server = self.config.server
            allowed = (server.allowed_hosts if server.allowed_hosts is not None
                       else default_allowed_hosts(server.host))
            self.server = EmbeddedServer(Guard(create_app(self), allowed), server.host,
                                         server.port)
            await self.server.start()
            log.info("HTTP API on %s (/metrics, /healthz, /readyz, /api/v1/checks)",
                     self.server.url)
        self._tasks.append(asyncio.create_task(self._run_dispatcher(), name="outbox"))
        self._tasks.append(asyncio.create_task(self._run_router(), name="router"))
        self._tasks.append(asyncio.create_task(self._refresh_receivers(), name="receivers"))
        self._tasks.append(asyncio.create_task(self._alert_ticks(), name="alert-ticks"))
        self._tasks.append(asyncio.create_task(self._maintenance_steps(), name="maintenance"))
        self._tasks.append(asyncio.create_task(
            self.policy.run_forever(self.clock.time, self._stop), name="predictions-slo"))
        interval = self.systemd.watchdog_interval()
        if interval:
            self._tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        self.systemd.ready(f"watching {len(self.scheduler.jobs)} checks")

    def _tell_state_file_rebuilt(self, moved: Path) -> None:
        """The state file was damaged: say so in the log and to every receiver."""
        text = (f"Vigil's state database was damaged and has been moved aside to {moved}; "
                "a new one was made. Alert history, acknowledgements and queued "
                "notifications from before are in the moved file only.")
        log.error("%s", text)
        self.router.enqueue_message(
            "state_rebuilt", "Vigil rebuilt its state database", text, f"<p>{text}</p>",
            labels={"alertname": "VigilStateRebuilt"}, now=self.clock.time(),
            key=f"state-rebuilt:{moved.name}")

    def _reevaluate_stored_states(self) -> None:
        """Judge each check's stored state once more at start-up.

        A result is stored, then judged, in two transactions: a crash in between would
        leave a result that should have fired unjudged, and an OK next would hide it for
        good. Judging a state again that was judged already changes nothing.
        """
        now = self.clock.time()
        for job in self.scheduler.jobs.values():
            state = self.store.get_state(job.target.name, job.name)
            if state is None:
                continue
            try:
                self.alerts.on_state(state, job.spec, now,
                                     labels={**job.target.labels, **job.spec.labels})
            except Exception:
                log.exception("could not re-evaluate the stored state of %s", job.key)

    def _retire_removed_alerts(self, keep: set[tuple[str, str]]) -> None:
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

    async def _run_dispatcher(self) -> None:
        while not self._stop.is_set():
            try:
                await self.dispatcher.run_forever(self.clock.time, self._stop)
            except Exception:  # keep delivering even if one step hit a bug
                log.exception("outbox dispatcher failed; restarting it in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=5)

    async def _run_router(self) -> None:
        """Route alert events after every wake-up and on a 1 s tick (group waits, repeats,
        escalations, time intervals, maintenance ends)."""
        while not self._stop.is_set():
            try:
                await self.router.run_forever(self.clock.time, self._stop, tick=1.0)
            except Exception:  # run_forever catches step errors; this is a last resort
                log.exception("alert router failed; restarting it in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=5)

    async def _refresh_receivers(self, every: float = 15.0) -> None:
        """Re-send firing alerts to Alertmanager receivers so they do not time out."""
        self._adopt_pushed_alerts()
        while not self._stop.is_set():
            try:
                due = await refresh_notifiers(self.dispatcher.notifiers, self.clock.time(),
                                              self._problem_fingerprints(),
                                              failed_receivers(self.store.db))
                delay = every if due is None else min(every, max(1.0, due - self.clock.time()))
            except Exception:  # a receiver's trouble must not stop the daemon
                log.exception("receiver refresh failed")
                delay = every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    def _problem_fingerprints(self) -> set[str]:
        """Alerts a receiver was told are a problem: firing, or flapping (which notifies)."""
        return {alert.fingerprint for alert in self.store.all_alerts()
                if alert.state == "firing" or alert.flapping}

    def _adopt_pushed_alerts(self) -> None:
        """After a restart, keep alive what was pushed to Alertmanager before it."""
        try:
            names = [name for name, notifier in self.dispatcher.notifiers.items()
                     if isinstance(notifier, AlertmanagerNotifier)]
            firing = self._problem_fingerprints() if names else set()
            # Only the newest delivered snapshot per (receiver, firing alert), read in SQL.
            latest = self.store.latest_sent_alerts(firing, names) if firing else []
            selfs = latest_self_alerts(self.store.db, names) if names else []
            failed = failed_receivers(self.store.db)
            now = self.clock.time()
            for name, notifier in self.dispatcher.notifiers.items():
                if isinstance(notifier, AlertmanagerNotifier):
                    notifier.adopt([alert for _, receiver, alert in latest if receiver == name],
                                   now)
                    notifier.adopt_self_alerts([p for _, r, p in selfs if r == name], failed,
                                               now)
        except Exception:
            log.exception("could not adopt alerts pushed to Alertmanager before the restart")

    async def _alert_ticks(self, every: float = 5.0) -> None:
        """Time-driven alert work with no check result to trigger it: ack expiry, holds,
        pruning delivered notifications."""
        while not self._stop.is_set():
            try:
                self.alerts.tick(self.clock.time())
            except Exception:  # a bug here must not stop checks or delivery
                log.exception("alert tick failed")
            try:
                self._prune_outbox(self.clock.time())
            except Exception:
                log.exception("pruning delivered notifications failed")
            try:
                await self.state_watch.step(self.clock.time())
            except Exception:
                log.exception("watching the state file's writes failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=every)

    def _prune_outbox(self, now: float) -> int:
        """At most hourly, delete notifications delivered more than alerts.outbox_retention
        ago; the newest one of each firing alert per receiver stays (Alertmanager adoption
        after a restart needs it)."""
        if self._outbox_pruned_at is not None and now - self._outbox_pruned_at < OUTBOX_PRUNE_EVERY:
            return 0
        self._outbox_pruned_at = now
        keep = {row_id for row_id, _, _ in
                self.store.latest_sent_alerts(self._problem_fingerprints())}
        keep |= {row_id for row_id, _, _ in latest_self_alerts(self.store.db)}
        pruned = self.store.prune_outbox(now - self.config.alerts.outbox_retention, keep=keep)
        if pruned:
            log.info("pruned %d delivered notifications from the outbox", pruned)
        return pruned

    async def _maintenance_steps(self, every: float = 5.0) -> None:
        """Maintenance notices, LMS maintenance mode, reports; a bug never stops the daemon."""
        while not self._stop.is_set():
            try:
                await self.lifecycle.step(self.clock.time())
            except Exception:
                log.exception("maintenance lifecycle step failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=every)

    async def _watchdog(self, interval: float) -> None:
        """Ping systemd only while the loop turns and the scheduler runs."""
        while not self._stop.is_set():
            if self.scheduler.running:
                self.systemd.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    def request_stop(self) -> None:
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Stop scheduling, await checks in flight (bounded), flush, close."""
        self.systemd.stopping("stopping: waiting for checks in flight")
        self._stop.set()
        cancelled = await self.scheduler.shutdown(self.config.scheduler.shutdown_grace)
        if cancelled:
            log.warning("cancelled %d checks still running at shutdown", cancelled)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.stop()
        await self.dispatcher.aclose()
        self.sites.close()
        self.runner.close()
        self.store.close()

    # -- reload -----------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the config file; apply it if valid, else keep the running config."""
        if self.config_path is None:
            return False
        self.systemd.reloading()
        try:
            new = load_config(self.config_path, env=self.env)
        except ConfigError as exc:
            self.metrics.config_reloads.labels("error").inc()
            log.error("config reload rejected, still running the previous config:")
            for problem in exc.problems:
                log.error("  %s: %s", exc.source, problem)
            self.systemd.ready("reload rejected; running previous config")
            return False
        try:
            self.apply(new)
        except Exception as exc:
            # Called from the SIGHUP handler: never let it escape. What remains: if the
            # notifiers could not be built, nothing changed; a later step's failure (e.g.
            # 'database is locked') leaves the steps before it applied and self.config the
            # previous one, so the next SIGHUP re-applies every step (each is idempotent).
            self.metrics.config_reloads.labels("error").inc()
            log.exception("config reload failed (%s: %s); send SIGHUP again to retry",
                          type(exc).__name__, exc)
            self.systemd.ready(f"reload failed ({type(exc).__name__}); "
                               "previous config, partly replaced")
            return False
        self.systemd.ready(f"watching {len(self.scheduler.jobs)} checks")
        return True

    def apply(self, new: VigilConfig) -> None:
        """Make the running daemon follow ``new``; raises if a step fails (see reload)."""
        for key in _RESTART_ONLY:
            if getattr(new, key) != getattr(self.config, key):
                log.warning("config section [%s] changed; it takes effect after a restart", key)
        # Build what can fail (notifiers read CA and key files) before changing anything.
        notifiers = (self._notifiers(new) if new.alerts != self.config.alerts
                     or self._partial_reload else None)
        self._partial_reload = True  # until the last step below is done
        diff = self.scheduler.apply(self._jobs(new))
        if notifiers is not None:
            old_notifiers = self.dispatcher.notifiers
            self.dispatcher.reconfigure(notifiers, new.alerts.retry)
            self._adopt_pushed_alerts()  # new Alertmanager notifiers start empty
            self.router.reconfigure(new.alerts)
            self.receiver_health.sync([r.name for r in new.alerts.receivers], self.clock.time())
            self.alerts.reconfigure(new.alerts)  # in place: keeps which checks hold which
            self.lifecycle.messages.renderer = ReportRenderer(new.alerts.templates_dir)
            self.lifecycle.messages.base_url = new.alerts.base_url
            for notifier in old_notifiers.values():
                asyncio.get_running_loop().create_task(notifier.aclose())
        plan = WatchPlan.from_config(new)
        self.recorder.configure(plan)
        self.policy.configure(plan, listener=self.alerts)
        keep = new.check_keys() | self.policy.check_keys()
        self._retire_removed_alerts(keep)  # before their state goes; the router says resolved
        self.store.forget_checks_except(keep)
        self.maintenance.apply_config(new)
        self.config = new
        self._partial_reload = False
        self.metrics.config_reloads.labels("success").inc()
        self.metrics.last_reload.set(self.clock.time())
        log.info("config reloaded: %d added, %d removed, %d changed, %d unchanged",
                 len(diff.added), len(diff.removed), len(diff.changed), len(diff.unchanged))

    # -- readiness --------------------------------------------------------------
    def readiness_problems(self) -> list[str]:
        problems = []
        if not self.scheduler.running:
            problems.append("scheduler is not running")
        writes = self.store.database.writes
        if writes.failing:
            problems.append(f"state database {self.store.path}: the last "
                            f"{writes.consecutive_failures} write(s) failed: {writes.last_error}")
        elif not self.store.is_writable():
            problems.append(f"state database {self.store.path} is not writable")
        problems += self.runner.pools.readiness_problems()  # "N blocking workers hung in F"
        return problems


EXIT_STATE = 4  # the state database cannot be opened (permissions, read-only or full disk)


async def run_daemon(config_path: Path, env: Mapping[str, str] | None = None) -> int:
    """``vigil run``: start, serve until SIGTERM/SIGINT, reload on SIGHUP."""
    config = load_config(config_path, env=env)
    try:
        daemon = Daemon(config, config_path=config_path, env=env)
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_STATE
    loop = asyncio.get_running_loop()
    # asyncio.to_thread and getaddrinfo: daemon threads too, never joined at exit.
    loop.set_default_executor(daemon.runner.pools.loop_executor())
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        await daemon.stop()
        return 1
    await daemon.wait_stopped()
    log.info("stopping")
    await daemon.stop()
    return 0
