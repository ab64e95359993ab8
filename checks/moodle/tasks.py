"""The `moodle_scheduled_tasks` check: failing, overdue, long-running and orphaned scheduled tasks.

Data flow: scheduler -> ScheduledTasksCheck.run(ctx) -> config.php's forced settings (worker
thread) -> bounded queries on {prefix}task_scheduled and plugin_state.py through the site's
read-only pool (ctx.site) -> for rows this host started, a pid look-up in a worker thread ->
the spec's thresholds -> Result with lms_moodle_scheduled_* samples. Also holds what
adhoc.py shares with it: the fail-delay and runtime thresholds, the judging of running rows,
and the local process table.

Semantics copied from Moodle (public/ prefix from 5.1 on):
- admin/tool/task/classes/check/maxfaildelay.php: non-disabled tasks with faildelay > 0 are
  failing; the worst fail delay > 5 min is a warning, > 4 h an error. faildelay doubles on
  every failure from 60 s up to 86400 s (lib/classes/task/manager.php scheduled_task_failed),
  so the warning starts at the 4th consecutive failure and the error at the 9th.
- admin/tool/task/classes/check/longrunningtasks.php and lib/classes/task/task_base.php
  get_runtime_result(): runtime = now - timestarted; > $CFG->taskruntimewarn (12 h) warning,
  > $CFG->taskruntimeerror (24 h) error (defaults in lib/setup.php). Core compares with ">".
- manager::scheduled_task_starting() stores gethostname() and getmypid() in hostname/pid;
  completion and failure clear them. A row that names this host and a pid that no longer
  exists was left by a cron process that died (manager::cleanup_metadata() only repairs such
  rows after 1 h, and only if it can take the task's lock).
- manager::get_next_scheduled_task() picks tasks with nextruntime < the cron run's start, not
  those of a disabled plugin (plugin_state.py): never overdue, but failing ones still count.

Index use: none needed; task_scheduled holds one row per task class (a few hundred at most).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import psutil
from pydantic import Field, field_validator, model_validator

from checks.base import CheckContext
from checks.common import check_order
from checks.lazy import lazy_import
from checks.moodle.plugin_state import FORCED_SETTINGS, disabled_task_components
from checks.moodle.schema import moodle_tables
from checks.moodle.site import site_database
from checks.moodle.site_config import config_php_settings
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_scheduled_tasks_failing", "gauge",
               "Enabled scheduled tasks whose last run failed (faildelay > 0)."),
    MetricSpec("lms_moodle_scheduled_tasks_overdue", "gauge",
               "Enabled scheduled tasks due longer ago than the grace and not running."),
    MetricSpec("lms_moodle_scheduled_tasks_running", "gauge",
               "Scheduled tasks marked running (timestarted set)."),
    MetricSpec("lms_moodle_scheduled_tasks_stale", "gauge",
               "Scheduled tasks marked running by a process that no longer exists here."),
    MetricSpec("lms_moodle_scheduled_max_fail_delay_seconds", "gauge",
               "Largest fail delay among enabled scheduled tasks."),
    MetricSpec("lms_moodle_scheduled_longest_runtime_seconds", "gauge",
               "Runtime of the longest-running scheduled task, 0 if none runs."),
)
DETAIL_LIMIT = 10  # names listed in details; counts are exact
RUNNING_LIMIT = 100  # running rows read (concurrency limits keep the real number far lower)
Seconds = Annotated[Duration, Field(gt=0)]


# ------------------------------------------------------------------ shared with adhoc.py
def over(value: float, warning: float | None, critical: float | None) -> Status:
    """Core's judging: strictly greater than a limit (maxfaildelay, get_runtime_result)."""
    if critical is not None and value > critical:
        return Status.CRITICAL
    if warning is not None and value > warning:
        return Status.WARNING
    return Status.OK


def name_list(names: Sequence[str], total: int | None = None, shown: int = 3) -> str:
    """The first names, then "+N more" out of ``total`` (names may be a capped list)."""
    more = (len(names) if total is None else total) - min(shown, len(names))
    return ", ".join(names[:shown]) + (f", +{more} more" if more > 0 else "")


class ProcessTable(Protocol):
    """Who am I and is this pid alive: the boundary tests replace (constructor argument)."""

    def hostname(self) -> str: ...

    def pid_exists(self, pid: int) -> bool: ...


class LocalProcesses:
    """This host's process table. Moodle stores PHP's gethostname(), the same call."""

    def hostname(self) -> str:
        return socket.gethostname()

    def pid_exists(self, pid: int) -> bool:
        return bool(psutil.pid_exists(pid))


class TaskSpec(CheckSpec):
    """Thresholds both task probes share, with core's defaults."""

    fail_delay_warning: Seconds | None = 300.0  # maxfaildelay.php: > 5 * MINSECS
    fail_delay_critical: Seconds | None = 14400.0  # maxfaildelay.php: > 4 * HOURSECS
    runtime_warning: Seconds | None = 43200.0  # $CFG->taskruntimewarn (lib/setup.php)
    runtime_critical: Seconds | None = 86400.0  # $CFG->taskruntimeerror
    # Look up rows started on this host in the local process table. Turn off when Vigil
    # sees another pid namespace than PHP (a container with the same hostname).
    check_local_pids: bool = True

    @model_validator(mode="after")
    def _task_orders(self) -> TaskSpec:
        check_order(self, "fail_delay_warning", "fail_delay_critical", higher_is_worse=True)
        check_order(self, "runtime_warning", "runtime_critical", higher_is_worse=True)
        return self


@dataclass(frozen=True, slots=True)
class RunningTask:
    label: str  # classname, plus " #id" for adhoc rows
    timestarted: int
    hostname: str | None
    pid: int | None


@dataclass(frozen=True, slots=True)
class RunningVerdict:
    count: int
    longest: float
    too_long: tuple[tuple[str, float, Status], ...]  # (label, runtime, level) past a limit
    stale: tuple[RunningTask, ...]
    details: tuple[dict[str, Any], ...]


async def judge_running(ctx: CheckContext, rows: Sequence[RunningTask], count: int,
                        spec: TaskSpec, processes: ProcessTable) -> RunningVerdict:
    """Runtime against the spec's limits; rows of this host whose pid is gone are stale."""
    now = ctx.now()
    mine = [r for r in rows if r.pid and r.hostname] if spec.check_local_pids else []

    def dead_pids() -> set[int]:
        host = processes.hostname()
        return {r.pid for r in mine if r.hostname == host and r.pid
                and not processes.pid_exists(r.pid)}

    gone = await ctx.run_blocking(dead_pids) if mine else set()
    stale = tuple(r for r in mine if r.pid in gone)
    runtimes = [(r, max(0.0, now - r.timestarted)) for r in rows]
    levels = [(r.label, t, over(t, spec.runtime_warning, spec.runtime_critical))
              for r, t in runtimes]
    too_long = tuple(item for item in levels if item[2] != Status.OK)
    details = tuple({"task": r.label, "runtime_seconds": round(t), "hostname": r.hostname,
                     "pid": r.pid, "stale": r in stale} for r, t in runtimes[:DETAIL_LIMIT])
    return RunningVerdict(count, max((t for _, t in runtimes), default=0.0),
                          too_long, stale, details)


def running_problems(verdict: RunningVerdict, kind: str) -> list[tuple[Status, str]]:
    problems: list[tuple[Status, str]] = []
    if verdict.too_long:
        label, runtime, level = max(verdict.too_long, key=lambda item: item[1])
        problems.append((level, f"{len(verdict.too_long)} {kind} task(s) running too long: "
                         f"{label} for {fmt_duration(runtime)}"))
    if verdict.stale:
        problems.append((Status.WARNING, f"{len(verdict.stale)} {kind} task(s) marked running "
                         f"by a process that no longer exists on this host: "
                         f"{name_list([f'{r.label} (pid {r.pid})' for r in verdict.stale])}"))
    return problems


def summarize(problems: list[tuple[Status, str]], healthy: str) -> tuple[Status, str]:
    """Worst status first; the summary names every problem, most severe first."""
    if not problems:
        return Status.OK, healthy
    ordered = sorted(problems, key=lambda p: -{Status.OK: 0, Status.WARNING: 1,
                                                Status.UNKNOWN: 2, Status.CRITICAL: 3}[p[0]])
    return Status.worst(p[0] for p in problems), "; ".join(text for _, text in ordered)


# ------------------------------------------------------------------ the scheduled-task probe
class ScheduledTasksSpec(TaskSpec):
    type: Literal["moodle_scheduled_tasks"]
    # A due task is normally picked within a minute. The grace covers a full pass of the
    # scheduled-task runners ($CFG->task_scheduled_max_runtime, default 30 min) with room to
    # spare, yet still catches an hourly task that missed a whole cycle. None: no overdue check.
    overdue_grace: Seconds | None = 3600.0
    # Classnames never reported overdue: tasks disabled by $CFG->scheduled_tasks in config.php
    # (not in task_scheduled.disabled), or of a disabled plugin plugin_state.py cannot judge.
    overdue_ignore: tuple[str, ...] = ()

    @field_validator("overdue_ignore")
    @classmethod
    def _canonical(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # manager::get_canonical_class_name(): stored with one leading backslash.
        return tuple("\\" + name.lstrip("\\") for name in names)


@dataclass(slots=True)
class _Scan:
    enabled: int
    plugin_disabled: int  # enabled tasks of disabled plugins: cron skips them
    disabled_components: list[str]
    failing: list[dict[str, Any]]
    failing_count: int
    max_fail_delay: int
    overdue: list[dict[str, Any]]
    overdue_count: int
    running: list[RunningTask]
    running_count: int


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _scan(conn: Connection, prefix: str, now: int, spec: ScheduledTasksSpec,
          forced: dict[str, Any]) -> _Scan:
    ts = moodle_tables(prefix).task_scheduled
    enabled = ts.c.disabled == 0
    failing = sa.and_(enabled, ts.c.faildelay > 0)
    skipped = disabled_task_components(conn, prefix, forced)
    quiet = ts.c.component.in_(skipped) if skipped else sa.false()
    overdue: sa.ColumnElement[bool] = sa.false()
    if spec.overdue_grace is not None:
        overdue = sa.and_(enabled, sa.not_(quiet), ts.c.timestarted.is_(None),
                          sa.func.coalesce(ts.c.faildelay, 0) == 0,
                          ts.c.nextruntime < now - int(spec.overdue_grace))
        if spec.overdue_ignore:
            overdue = sa.and_(overdue, ts.c.classname.not_in(spec.overdue_ignore))
    running = ts.c.timestarted.is_not(None)
    totals = conn.execute(sa.select(
        _count(enabled), _count(failing),
        sa.func.coalesce(sa.func.max(sa.case((failing, ts.c.faildelay))), 0),
        _count(overdue), _count(running), _count(sa.and_(enabled, quiet)))).one()
    fail_rows = conn.execute(
        sa.select(ts.c.classname, ts.c.faildelay, ts.c.lastruntime, ts.c.nextruntime)
        .where(failing).order_by(ts.c.faildelay.desc(), ts.c.classname).limit(DETAIL_LIMIT))
    late_rows = conn.execute(
        sa.select(ts.c.classname, ts.c.nextruntime, ts.c.lastruntime)
        .where(overdue).order_by(ts.c.nextruntime, ts.c.classname).limit(DETAIL_LIMIT))
    run_rows = conn.execute(
        sa.select(ts.c.classname, ts.c.timestarted, ts.c.hostname, ts.c.pid)
        .where(running).order_by(ts.c.timestarted, ts.c.classname).limit(RUNNING_LIMIT))
    return _Scan(
        enabled=int(totals[0]), failing_count=int(totals[1]), max_fail_delay=int(totals[2]),
        overdue_count=int(totals[3]), running_count=int(totals[4]),
        plugin_disabled=int(totals[5]), disabled_components=skipped[:DETAIL_LIMIT],
        failing=[{"classname": r.classname, "faildelay": int(r.faildelay),
                  "lastruntime": r.lastruntime, "nextruntime": r.nextruntime}
                 for r in fail_rows],
        overdue=[{"classname": r.classname, "overdue_seconds": now - int(r.nextruntime),
                  "lastruntime": r.lastruntime} for r in late_rows],
        running=[RunningTask(r.classname, int(r.timestarted), r.hostname,
                             int(r.pid) if r.pid else None) for r in run_rows])


class ScheduledTasksCheck:
    def __init__(self, spec: ScheduledTasksSpec,
                 processes: ProcessTable | None = None) -> None:
        self.spec = spec
        self.processes = processes or LocalProcesses()

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        now = int(ctx.now())
        forced, notes = await ctx.run_blocking(lambda: config_php_settings(ctx, FORCED_SETTINGS))
        scan = await db.run(ctx, lambda conn: _scan(conn, db.prefix, now, self.spec, forced))
        running = await judge_running(ctx, scan.running, scan.running_count, self.spec,
                                      self.processes)
        skipped = (f" ({scan.plugin_disabled} of disabled plugins, not expected to run)"
                   if scan.plugin_disabled else "")
        status, summary = summarize(self._problems(scan) + running_problems(
            running, "scheduled"), f"{scan.enabled} scheduled tasks enabled{skipped}, none "
            f"failing or overdue; {scan.running_count} running")
        samples = (
            Sample("lms_moodle_scheduled_tasks_failing", scan.failing_count),
            Sample("lms_moodle_scheduled_tasks_overdue", scan.overdue_count),
            Sample("lms_moodle_scheduled_tasks_running", scan.running_count),
            Sample("lms_moodle_scheduled_tasks_stale", len(running.stale)),
            Sample("lms_moodle_scheduled_max_fail_delay_seconds", scan.max_fail_delay),
            Sample("lms_moodle_scheduled_longest_runtime_seconds", round(running.longest)),
        )
        details = {"enabled": scan.enabled, "plugin_disabled": scan.plugin_disabled,
                   "disabled_components": scan.disabled_components, "failing": scan.failing,
                   "overdue": scan.overdue, "running": list(running.details), "notes": notes}
        return Result(status, summary, samples, details)

    def _problems(self, scan: _Scan) -> list[tuple[Status, str]]:
        spec = self.spec
        problems: list[tuple[Status, str]] = []
        if scan.failing_count:
            level = over(scan.max_fail_delay, spec.fail_delay_warning, spec.fail_delay_critical)
            names = [row["classname"] for row in scan.failing]
            # Core reports a first failure as INFO ("intermittent failures are not yet a
            # warning"); Vigil keeps it OK but still names it.
            problems.append((level, f"{scan.failing_count} scheduled task(s) failing: "
                             f"{name_list(names, scan.failing_count)}; worst fail delay "
                             f"{fmt_duration(scan.max_fail_delay)}"))
        if scan.overdue_count:
            worst = scan.overdue[0]
            text = (f"{scan.overdue_count} scheduled task(s) overdue: {worst['classname']} "
                    f"by {fmt_duration(worst['overdue_seconds'])}")
            if scan.overdue_count >= max(3, (scan.enabled - scan.plugin_disabled) // 2):
                text += " (most tasks are overdue: is cron running?)"
            problems.append((Status.WARNING, text))
        return problems
