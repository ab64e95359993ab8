"""Wires the daemon together and owns its life cycle: start, reload, watchdog, stop.

config -> jobs -> CheckScheduler -> CheckRunner -> StateStore -> AlertService ->
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
from alerts.notifiers import Notifier, NotifierOptions, build_notifiers
from alerts.service import AlertService
from monitor.api import create_app
from monitor.clock import Clock, SystemClock
from monitor.config import ConfigError, VigilConfig, load_config
from monitor.http_server import EmbeddedServer
from monitor.jobs import build_jobs
from monitor.metrics import build_registry
from monitor.runner import CheckJob, CheckRunner
from monitor.scheduler import CheckScheduler
from monitor.sdnotify import SystemdNotifier
from monitor.sites import SiteRegistry
from monitor.store import StateStore

log = logging.getLogger(__name__)

STATE_FILE = "vigil.sqlite3"
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
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.env = env
        self.systemd = systemd or SystemdNotifier()
        self.notifier_transport = notifier_transport
        self.store = StateStore(config.state.dir / STATE_FILE,
                                history_limit=config.state.history_limit)
        self.registry, self.metrics = build_registry(self.store)
        self.dispatcher = self._build_dispatcher(config)
        self.alerts = AlertService(self.store, config.alerts, wake=self.dispatcher.wake)
        self.runner = CheckRunner(
            self.clock, store=self.store, listener=self.alerts, metrics=self.metrics,
            max_concurrency=config.scheduler.max_concurrency, state_dir=config.state.dir,
        )
        self.scheduler = CheckScheduler(
            self.runner, self.clock, misfire_grace=config.scheduler.misfire_grace
        )
        self.sites = SiteRegistry()
        self.server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.metrics.last_reload.set(self.clock.time())

    def _build_dispatcher(self, config: VigilConfig) -> Dispatcher:
        return Dispatcher(self.store, self._notifiers(config), config.alerts.retry,
                          on_attempt=self.metrics.on_notification)

    def _notifiers(self, config: VigilConfig) -> dict[str, Notifier]:
        options = NotifierOptions(http_transport=self.notifier_transport)
        return build_notifiers(config.alerts, options)

    def _jobs(self, config: VigilConfig) -> dict[str, CheckJob]:
        return build_jobs(config, sites=self.sites.sites_for(config))

    # -- life cycle -------------------------------------------------------------
    async def start(self) -> None:
        diff = self.scheduler.apply(self._jobs(self.config))
        self.store.forget_checks_except(self.config.check_keys())
        self.scheduler.start()
        log.info("scheduled %d checks on %d LMS", len(diff.added), len(self.config.lms))
        if self.config.server.enabled:
            self.server = EmbeddedServer(
                create_app(self), self.config.server.host, self.config.server.port
            )
            await self.server.start()
            log.info("HTTP API on %s (/metrics, /healthz, /readyz, /api/v1/checks)",
                     self.server.url)
        self._tasks.append(asyncio.create_task(self._run_dispatcher(), name="outbox"))
        interval = self.systemd.watchdog_interval()
        if interval:
            self._tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        self.systemd.ready(f"watching {len(self.scheduler.jobs)} checks")

    async def _run_dispatcher(self) -> None:
        while not self._stop.is_set():
            try:
                await self.dispatcher.run_forever(self.clock.time, self._stop)
            except Exception:  # keep delivering even if one step hit a bug
                log.exception("outbox dispatcher failed; restarting it in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=5)

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
        self.apply(new)
        self.systemd.ready(f"watching {len(self.scheduler.jobs)} checks")
        return True

    def apply(self, new: VigilConfig) -> None:
        for key in _RESTART_ONLY:
            if getattr(new, key) != getattr(self.config, key):
                log.warning("config section [%s] changed; it takes effect after a restart", key)
        diff = self.scheduler.apply(self._jobs(new))
        if new.alerts != self.config.alerts:
            old_notifiers = self.dispatcher.notifiers
            self.dispatcher.reconfigure(self._notifiers(new), new.alerts.retry)
            self.alerts = AlertService(self.store, new.alerts, wake=self.dispatcher.wake)
            self.runner.listener = self.alerts
            for notifier in old_notifiers.values():
                asyncio.get_running_loop().create_task(notifier.aclose())
        self.store.forget_checks_except(new.check_keys())
        self.config = new
        self.metrics.config_reloads.labels("success").inc()
        self.metrics.last_reload.set(self.clock.time())
        log.info("config reloaded: %d added, %d removed, %d changed, %d unchanged",
                 len(diff.added), len(diff.removed), len(diff.changed), len(diff.unchanged))

    # -- readiness --------------------------------------------------------------
    def readiness_problems(self) -> list[str]:
        problems = []
        if not self.scheduler.running:
            problems.append("scheduler is not running")
        if not self.store.is_writable():
            problems.append(f"state database {self.store.path} is not writable")
        return problems


async def run_daemon(config_path: Path, env: Mapping[str, str] | None = None) -> int:
    """``vigil run``: start, serve until SIGTERM/SIGINT, reload on SIGHUP."""
    config = load_config(config_path, env=env)
    daemon = Daemon(config, config_path=config_path, env=env)
    loop = asyncio.get_running_loop()
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
