"""The `moodle_cron` check: is Moodle's cron starting, how often, and if not, why not.

Data flow: scheduler -> CronCheck.run(ctx) -> config / config_plugins (and task_scheduled
as a fallback) through the site's read-only pool (ctx.site), plus the CLI maintenance file
in the data directory when the site's dataroot is configured -> thresholds -> Result with
lms_moodle_cron_* samples.

Semantics copied from Moodle (public/ prefix from 5.1 on):
- lib/classes/cron.php run_main_process(): every start of admin/cli/cron.php writes
  config_plugins tool_task/lastcronstart = time() and tool_task/lastcroninterval =
  max(1, time() - previous start), BEFORE taking a runner lock, so with the usual crontab
  line (every minute) both move every minute even while a keep-alive process is still
  running. The same function refuses to run (exit 1) under CLI maintenance
  (dataroot/climaintenance.html) and when an upgrade is pending.
- admin/cli/cron.php: `--disable` sets config cron_enabled = 0; the script then exits 1 with
  "Cron is disabled. Use --force to override." whenever !get_config('core', 'cron_enabled'),
  so an empty or missing value disables cron just the same.
- admin/tool/task/classes/check/cronrunning.php: warning when now - lastcronstart >
  $CFG->expectedcronfrequency (default 60 s) + 60 s, error past one day; otherwise a warning
  when lastcroninterval > expectedcronfrequency.
- admin/cli/maintenance.php --enable writes the file and config maintenance_enabled =
  'cli mode'; --enableold sets it to 1 (web maintenance, which does not stop cron).
- lib/upgradelib.php upgrade_set_timeout(): config upgraderunning holds the time an upgrade
  step is expected to end; it is unset when the upgrade finishes.

Index use: config.name and config_plugins(plugin, name) are unique indexes (single-row
look-ups); the fallback MAX(lastruntime) reads task_scheduled, a few hundred rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from checks.base import CheckContext
from checks.lazy import lazy_import
from checks.moodle.schema import moodle_tables
from checks.moodle.site import moodle_site, site_database
from checks.moodle.tasks import Seconds, over
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, parse_duration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_cron_last_start_timestamp_seconds", "gauge",
               "When Moodle's cron last started (tool_task lastcronstart), as a Unix time."),
    MetricSpec("lms_moodle_cron_age_seconds", "gauge",
               "Seconds since Moodle's cron last started."),
    MetricSpec("lms_moodle_cron_interval_seconds", "gauge",
               "Seconds between the last two cron starts (tool_task lastcroninterval)."),
    MetricSpec("lms_moodle_cron_enabled", "gauge",
               "1 if cron is enabled (config cron_enabled), 0 if an admin disabled it."),
)
_CORE_SLACK = 60.0  # cronrunning.php: MINSECS on top of the expected frequency
_CRITICAL_AFTER = 900.0  # see CronSpec.critical_after
_DISABLED_HINT = "cron disabled by an admin (admin/cli/cron.php --disable)"


class CronSpec(CheckSpec):
    type: Literal["moodle_cron"]
    # $CFG->expectedcronfrequency (config-dist.php, default 60 s). Set it to the loop period
    # when cron runs as a keep-alive loop instead of a crontab line.
    expected_frequency: Seconds = 60.0
    # Default expected_frequency + 60 s, as core's cronrunning check.
    warning_after: Seconds
    # Core waits a whole day before its error. Vigil pages after 15 min: by then forum and
    # notification mail, quiz closing and completion have stalled long enough for users to
    # notice, and a healthy crontab has missed 14 starts, so it is no blip. With a long
    # expected frequency (a keep-alive loop, up to 15 min) the default grows to
    # warning_after + expected_frequency, one more missed start. None: no critical.
    critical_after: Seconds | None
    # Seconds between the last two starts; default expected_frequency + 60 s. Core warns
    # past expectedcronfrequency itself, which a cron start one second late already trips.
    interval_warning: Seconds | None
    # cron_enabled = 0 is a deliberate admin choice: its own state, WARNING unless told.
    disabled_status: Literal["ok", "warning", "critical"] = "warning"

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # A bad value falls back to core's here; its field validator still reports it.
        expected = _seconds_or(data.get("expected_frequency"), 60.0)
        warning = _seconds_or(data.get("warning_after"), expected + _CORE_SLACK)
        defaults = {"warning_after": warning, "interval_warning": expected + _CORE_SLACK,
                    "critical_after": max(_CRITICAL_AFTER, warning + expected)}
        return {**defaults, **data}

    @model_validator(mode="after")
    def _order(self) -> CronSpec:
        if self.critical_after is not None and self.critical_after < self.warning_after:
            raise ValueError(f"critical_after ({self.critical_after:g}s) must be >= "
                             f"warning_after ({self.warning_after:g}s)")
        return self


def _seconds_or(value: Any, default: float) -> float:
    try:
        return default if value is None else float(parse_duration(value))
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class CronState:
    enabled: bool
    enabled_value: str | None
    last_start: int | None
    source: str  # where last_start came from
    interval: int | None
    maintenance_enabled: str | None
    upgraderunning: int | None


def _int(value: Any) -> int | None:
    try:
        number = int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None
    return number or None  # core treats 0 like unset (if ($laststart))


def read_state(conn: Connection, prefix: str) -> CronState:
    t = moodle_tables(prefix)
    cp, cfg = t.config_plugins, t.config
    plugin = dict(conn.execute(sa.select(cp.c.name, cp.c.value).where(
        cp.c.plugin == "tool_task", cp.c.name.in_(["lastcronstart", "lastcroninterval"]))).all())
    core = dict(conn.execute(sa.select(cfg.c.name, cfg.c.value).where(
        cfg.c.name.in_(["cron_enabled", "maintenance_enabled", "upgraderunning"]))).all())
    last_start, source = _int(plugin.get("lastcronstart")), "tool_task/lastcronstart"
    if last_start is None:
        # Before the first start that records it (or if the key was purged): the newest
        # scheduled-task completion, what tool_heartbeat used before Moodle 3.9.
        ts = t.task_scheduled
        last_start = _int(conn.execute(sa.select(sa.func.max(ts.c.lastruntime))).scalar())
        source = "task_scheduled.lastruntime"
    enabled_value = core.get("cron_enabled")
    return CronState(
        enabled=(enabled_value or "0").strip() not in ("", "0"),
        enabled_value=enabled_value, last_start=last_start,
        source=source if last_start is not None else "none",
        interval=_int(plugin.get("lastcroninterval")),
        maintenance_enabled=core.get("maintenance_enabled"),
        upgraderunning=_int(core.get("upgraderunning")))


class CronCheck:
    def __init__(self, spec: CronSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        state = await db.run(ctx, lambda conn: read_state(conn, db.prefix))
        now = ctx.now()
        age = None if state.last_start is None else max(0.0, now - state.last_start)
        status, summary = self._judge(state, age)
        stale = age is None or age > self.spec.warning_after
        if status != Status.OK and stale:
            why = await self._why_stopped(ctx, state)
            if why:
                summary = f"{summary}; {why}"
        samples = [Sample("lms_moodle_cron_enabled", 1.0 if state.enabled else 0.0)]
        if state.last_start is not None and age is not None:
            samples += [Sample("lms_moodle_cron_last_start_timestamp_seconds", state.last_start),
                        Sample("lms_moodle_cron_age_seconds", round(age))]
        if state.interval is not None:
            samples.append(Sample("lms_moodle_cron_interval_seconds", state.interval))
        details = {"enabled": state.enabled, "last_start": state.last_start,
                   "source": state.source, "age_seconds": None if age is None else round(age),
                   "interval_seconds": state.interval,
                   "expected_frequency_seconds": self.spec.expected_frequency}
        return Result(status, summary, tuple(samples), details)

    def _judge(self, state: CronState, age: float | None) -> tuple[Status, str]:
        spec = self.spec
        expected = f"expected every {fmt_duration(spec.expected_frequency)}"
        if not state.enabled:
            status = Status[spec.disabled_status.upper()]
            text = _DISABLED_HINT if state.enabled_value is not None else (
                "cron disabled: config cron_enabled is not set, so admin/cli/cron.php "
                "refuses to run (admin/cli/cron.php --enable)")
            if age is not None:
                text += f"; last started {fmt_duration(age)} ago"
            return status, text
        if age is None:
            return Status.CRITICAL, f"cron has never run ({expected})"
        level = over(age, spec.warning_after, spec.critical_after)
        if level != Status.OK:
            since = "started" if state.source.startswith("tool_task") else (
                "run (no lastcronstart; newest scheduled task run)")
            return level, f"cron has not {since} for {fmt_duration(age)} ({expected})"
        if (spec.interval_warning is not None and state.interval is not None
                and state.interval > spec.interval_warning):
            return Status.WARNING, (f"cron runs infrequently: {fmt_duration(state.interval)} "
                                    f"between the last two starts ({expected})")
        return Status.OK, f"cron started {fmt_duration(age)} ago ({expected})"

    async def _why_stopped(self, ctx: CheckContext, state: CronState) -> str | None:
        """What makes cron.php refuse to run, when the site shows it."""
        reasons = []
        cli_file = await self._cli_maintenance_file(ctx)
        if cli_file or (cli_file is None and state.maintenance_enabled == "cli mode"):
            reasons.append("CLI maintenance mode is on (climaintenance.html), so cron.php "
                           "refuses to run")
        if state.upgraderunning is not None:
            when = "in progress" if state.upgraderunning >= ctx.now() else "interrupted"
            reasons.append(f"an upgrade is {when} (config upgraderunning is set), so cron.php "
                           f"refuses to run until it completes")
        return "; ".join(reasons) or None

    @staticmethod
    async def _cli_maintenance_file(ctx: CheckContext) -> bool | None:
        """True/False when the data directory is configured and readable, else None."""
        dataroot = moodle_site(ctx).dataroot
        if dataroot is None:
            return None
        marker = Path(dataroot) / "climaintenance.html"

        def exists() -> bool | None:
            try:
                return marker.exists()
            except OSError:
                return None

        return await ctx.run_blocking(exists)
