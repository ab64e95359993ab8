"""Wires the daemon together and owns its life cycle: start, reload, watchdog, stop.

config -> jobs -> CheckScheduler -> CheckRunner -> StateStore -> AlertService -> Router ->
outbox -> Dispatcher -> notifiers; the HTTP API reads the store and the registry.
Everything runs on one asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

import httpx

from alerts.dispatcher import Dispatcher
from alerts.evaluator import PolicyEvaluator
from alerts.history import SampleRecorder, WatchPlan
from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.lifecycle import MaintenanceLifecycle
from alerts.maintenance.report import ReportRenderer
from alerts.notifiers import Notifier, NotifierOptions, build_notifiers
from alerts.receiver_health import ReceiverHealth
from alerts.router import Router
from alerts.service import AlertService
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.app.alerting_work import AlertingWork
from monitor.app.config import ConfigError, VigilConfig, load_config
from monitor.app.fleet import with_shard
from monitor.app.fleet_work import FleetWork
from monitor.app.heap_trim import trim_forever
from monitor.app.jobs import build_jobs
from monitor.app.listeners import FanOut
from monitor.app.metrics import build_registry
from monitor.app.readiness import readiness_problems
from monitor.app.report.schedule import for_daemon as scheduled_reports
from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler
from monitor.app.sdnotify import SystemdNotifier
from monitor.app.self_watch import StateWriteWatch
from monitor.app.sites import SiteRegistry
from monitor.app.store import STATE_FILE, StateStore
from monitor.app.web.api import create_app
from monitor.app.web.guard import Guard, default_allowed_hosts
from monitor.app.web.redacting import RedactingApp
from monitor.app.web.server import EmbeddedServer
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.job import CheckJob
from monitor.kernel.redact import SecretRegistry

log = logging.getLogger(__name__)

# Keys that a SIGHUP cannot change in a running process.
_RESTART_ONLY = ("state", "server")


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
        secrets: SecretRegistry | None = None, shard: str | None = None,
    ) -> None:
        self.config, self.shard = config, shard  # --shard wins over [fleet] on reloads
        # The config's resolved secrets (load_config fills it): redacted from results,
        # delivery errors and every HTTP response.
        self.secrets = SecretRegistry() if secrets is None else secrets
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.env = env
        self.systemd = systemd or SystemdNotifier()
        self.notifier_transport = notifier_transport
        self._stop = asyncio.Event()
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
            secrets=self.secrets,
        )
        self.registry.register(self.runner.pools.collector())  # vigil_blocking_* metrics
        self.fleet = FleetWork(self.maintenance, self.clock.time, config)  # shard, silences, HA
        self.registry.register(self.fleet.collector())
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
            base_url=config.alerts.base_url, enqueue_message=self.router.enqueue_message,
            acts_for=self.fleet.acts_for)
        self.runner.windows = self.lifecycle.windows_for
        self.work = AlertingWork(store=self.store, dispatcher=self.dispatcher,
                                 router=self.router, alerts=self.alerts,
                                 state_watch=self.state_watch, clock=self.clock,
                                 config=lambda: self.config, stop=self._stop)
        self.runner.is_configured = lambda job: job.key in self.scheduler.jobs
        self.sites = SiteRegistry()
        self.server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # A reload failed midway: the next one re-applies every step, [alerts] included.
        self._partial_reload = False
        self.metrics.last_reload.set(self.clock.time())

    def _build_dispatcher(self, config: VigilConfig) -> Dispatcher:
        return Dispatcher(self.store, self._notifiers(config), config.alerts.retry,
                          on_attempt=self.metrics.on_notification, secrets=self.secrets)

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
        self.work.retire_removed_alerts(keep)  # removed while the daemon was down
        self.store.forget_checks_except(keep)
        self.work.rejudge_stored_states(self.scheduler.jobs.values())
        self.scheduler.start()
        log.info("scheduled %d checks on %d LMS", len(diff.added), len(self.config.lms))
        if self.store.recovered_from is not None:
            self.work.tell_state_file_rebuilt(self.store.recovered_from)
        if self.config.server.enabled:
            server = self.config.server
            allowed = (server.allowed_hosts if server.allowed_hosts is not None
                       else default_allowed_hosts(server.host))
            app = RedactingApp(create_app(self), self.secrets)
            self.server = EmbeddedServer(Guard(app, allowed), server.host, server.port)
            await self.server.start()
            log.info("HTTP API on %s (/metrics, /healthz, /readyz, /api/v1/checks)",
                     self.server.url)
        self._tasks.append(asyncio.create_task(self.work.run_dispatcher(), name="outbox"))
        self._tasks.append(asyncio.create_task(self.work.run_router(), name="router"))
        self._tasks.append(asyncio.create_task(self.work.refresh_receivers(), name="receivers"))
        self._tasks.append(asyncio.create_task(self.work.alert_ticks(), name="alert-ticks"))
        self._tasks.append(asyncio.create_task(self._maintenance_steps(), name="maintenance"))
        self._tasks.append(asyncio.create_task(self.fleet.run_forever(self._stop), name="fleet"))
        self._tasks.append(asyncio.create_task(
            self.policy.run_forever(self.clock.time, self._stop), name="predictions-slo"))
        self._tasks.append(asyncio.create_task(scheduled_reports(self), name="reports"))
        self._tasks.append(asyncio.create_task(trim_forever(self._stop), name="heap-trim"))
        interval = self.systemd.watchdog_interval()
        if interval:
            self._tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        self.systemd.ready(f"watching {len(self.scheduler.jobs)} checks")

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
        await self.fleet.aclose()
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
            new = with_shard(load_config(self.config_path, env=self.env, secrets=self.secrets),
                             self.shard)
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
            self.work.adopt_pushed_alerts()  # new Alertmanager notifiers start empty
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
        self.work.retire_removed_alerts(keep)  # before their state goes; the router says resolved
        self.store.forget_checks_except(keep)
        self.maintenance.apply_config(new)
        self.fleet.configure(new)
        self.config = new
        self._partial_reload = False
        self.metrics.config_reloads.labels("success").inc()
        self.metrics.last_reload.set(self.clock.time())
        log.info("config reloaded: %d added, %d removed, %d changed, %d unchanged",
                 len(diff.added), len(diff.removed), len(diff.changed), len(diff.unchanged))

    # -- readiness --------------------------------------------------------------
    def readiness_problems(self) -> list[str]:
        return readiness_problems(self.scheduler, self.store, self.runner.pools)
