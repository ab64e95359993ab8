"""The `moodle_adhoc_tasks` check: how long due adhoc tasks wait, and which ones fail or died.

Data flow: scheduler -> AdhocTasksCheck.run(ctx) -> one grouped pass over {prefix}task_adhoc
plus the running rows, through the site's read-only pool (ctx.site) -> a pid look-up in a
worker thread for rows this host started -> thresholds -> Result with lms_moodle_adhoc_*
samples; the backlog per class, failing and dead classes go into details.

Semantics copied from Moodle (public/ prefix from 5.1 on):
- lib/classes/task/manager.php get_candidate_adhoc_tasks(): cron picks rows with
  nextruntime < now AND timestarted IS NULL AND (attemptsavailable > 0 OR attemptsavailable
  IS NULL). That is the backlog here, and the age of its oldest row is the primary signal.
- admin/tool/task/classes/check/adhocqueue.php: age > $CFG->adhoctaskagewarn (600 s) warning,
  > $CFG->adhoctaskageerror (4 h) error. Core measures MAX(now - nextruntime) over the WHOLE
  table, so a dead task (attemptsavailable = 0, never picked again and only deleted 4 weeks
  after its first start by manager::clean_failed_adhoc_tasks) holds core's check in error
  for weeks. Here dead tasks are their own count and at most a WARNING.
- manager::adhoc_task_failed(): faildelay 60 s doubling to 86400 s, attemptsavailable - 1 per
  failure (12 by default, 1 for tasks that do not retry_until_success). Failing = faildelay
  > 0 with attempts left, judged like maxfaildelay.php (> 5 min warning, > 4 h error).
- Running rows (timestarted set) are judged like scheduled ones (longrunningtasks.php and
  stale host/pid rows, see tasks.py); this probe covers task_adhoc, tasks.py task_scheduled.

Index use (install.xml indexes task_adhoc on nextruntime and timestarted):
- backlog per class and the oldest due row: a range scan on the nextruntime index, read in
  index order and cut off after backlog_count_limit rows (default 10,000), so the primary
  signal stays cheap and exact however long the queue grows;
- running rows: the timestarted index (LIMIT 100);
- failing and dead rows: faildelay and attemptsavailable have no index, so one pass over
  the table, run as its own statement so that a timeout there still leaves the backlog
  reported. task_adhoc is a queue (a row is deleted when its task succeeds) and is small on a
  healthy site; with 1 million rows this pass took ~0.2 s on PostgreSQL and ~1.2 s on MariaDB
  with its default 128 MB buffer pool (the capped backlog scan: ~6 ms / ~55 ms).
Every result is grouped by classname, so its size is bounded by the installed task classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from checks.base import CheckContext, CheckUnavailable
from checks.common import check_order
from checks.lazy import lazy_import
from checks.moodle.schema import moodle_tables
from checks.moodle.site import site_database
from checks.moodle.tasks import (
    DETAIL_LIMIT,
    RUNNING_LIMIT,
    LocalProcesses,
    ProcessTable,
    RunningTask,
    RunningVerdict,
    Seconds,
    TaskSpec,
    judge_running,
    name_list,
    over,
    running_problems,
    summarize,
)
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_adhoc_tasks_due", "gauge",
               "Adhoc tasks due and waiting for cron to pick them (the backlog), counted "
               "up to the check's backlog_count_limit."),
    MetricSpec("lms_moodle_adhoc_oldest_due_age_seconds", "gauge",
               "How long the oldest due adhoc task has been waiting, 0 if none."),
    MetricSpec("lms_moodle_adhoc_tasks_failing", "gauge",
               "Adhoc tasks that failed and will be retried (faildelay > 0, attempts left)."),
    MetricSpec("lms_moodle_adhoc_tasks_dead", "gauge",
               "Adhoc tasks with no attempts left, never retried (attemptsavailable = 0)."),
    MetricSpec("lms_moodle_adhoc_tasks_running", "gauge",
               "Adhoc tasks marked running (timestarted set)."),
    MetricSpec("lms_moodle_adhoc_tasks_stale", "gauge",
               "Adhoc tasks marked running by a process that no longer exists here."),
    MetricSpec("lms_moodle_adhoc_max_fail_delay_seconds", "gauge",
               "Largest fail delay among adhoc tasks that will be retried."),
    MetricSpec("lms_moodle_adhoc_longest_runtime_seconds", "gauge",
               "Runtime of the longest-running adhoc task, 0 if none runs."),
)
Count = Annotated[int, Field(ge=1)]


class AdhocTasksSpec(TaskSpec):
    type: Literal["moodle_adhoc_tasks"]
    age_warning: Seconds | None = 600.0  # $CFG->adhoctaskagewarn (config-dist.php)
    age_critical: Seconds | None = 14400.0  # $CFG->adhoctaskageerror
    # Off by default: a long queue that drains in time is no problem (adhocqueue.php says so,
    # and tool_heartbeat's maintainers prefer latency over counts that need per-site tuning).
    backlog_warning: Count | None = None
    backlog_critical: Count | None = None
    # Dead tasks need a human (fix the cause, then admin/cli/adhoc_task.php --failed or delete
    # them), but never a page: at most a WARNING.
    dead_status: Literal["ok", "warning"] = "warning"
    # The backlog is counted over at most this many of its oldest rows (the oldest age stays
    # exact): a bounded read even when a runaway plugin queues millions of tasks.
    backlog_count_limit: Count = 10_000

    @model_validator(mode="after")
    def _adhoc_orders(self) -> AdhocTasksSpec:
        check_order(self, "age_warning", "age_critical", higher_is_worse=True)
        check_order(self, "backlog_warning", "backlog_critical", higher_is_worse=True)
        return self


@dataclass(slots=True)
class ClassRow:
    classname: str
    due: int = 0
    oldest_due: int | None = None
    failing: int = 0
    max_fail_delay: int = 0
    dead: int = 0


@dataclass(slots=True)
class Queue:
    classes: dict[str, ClassRow]
    running: list[RunningTask]
    running_count: int
    backlog_truncated: bool  # the backlog scan stopped at backlog_count_limit rows
    failures_error: str | None = None  # why failing/dead rows could not be counted

    def total(self, attr: str) -> int:
        return sum(getattr(row, attr) for row in self.classes.values())

    def top(self, attr: str) -> list[ClassRow]:
        rows = [row for row in self.classes.values() if getattr(row, attr)]
        return sorted(rows, key=lambda r: (-getattr(r, attr), r.classname))[:DETAIL_LIMIT]

    def due_text(self) -> str:
        due = self.total("due")
        return f"{due}+" if self.backlog_truncated else str(due)


def _alive(ta: sa.Table) -> sa.ColumnElement[bool]:
    return sa.or_(ta.c.attemptsavailable > 0, ta.c.attemptsavailable.is_(None))


def read_queue(conn: Connection, prefix: str, now: int, backlog_limit: int) -> Queue:
    """The backlog per class and the running rows: index range scans only."""
    ta = moodle_tables(prefix).task_adhoc
    # Oldest first: nextruntime_ix read in index order, cut off after backlog_limit rows.
    front = (sa.select(ta.c.classname, ta.c.nextruntime)
             .where(ta.c.nextruntime < now, ta.c.timestarted.is_(None), _alive(ta))
             .order_by(ta.c.nextruntime, ta.c.id).limit(backlog_limit).subquery("front"))
    classes = {name: ClassRow(name, due=int(due), oldest_due=int(oldest))
               for name, due, oldest in conn.execute(
                   sa.select(front.c.classname, sa.func.count(),
                             sa.func.min(front.c.nextruntime)).group_by(front.c.classname))}
    running = ta.c.timestarted.is_not(None)  # timestarted_ix
    rows = conn.execute(
        sa.select(ta.c.id, ta.c.classname, ta.c.timestarted, ta.c.hostname, ta.c.pid)
        .where(running).order_by(ta.c.timestarted, ta.c.id).limit(RUNNING_LIMIT)).all()
    count = len(rows) if len(rows) < RUNNING_LIMIT else int(
        conn.execute(sa.select(sa.func.count()).where(running)).scalar_one())
    return Queue(classes=classes, running_count=count,
                 running=[RunningTask(f"{r.classname} #{r.id}", int(r.timestarted),
                                      r.hostname, int(r.pid) if r.pid else None) for r in rows],
                 backlog_truncated=sum(c.due for c in classes.values()) >= backlog_limit)


def read_failures(conn: Connection, prefix: str) -> list[tuple[str, int, int, int]]:
    """(classname, failing, worst fail delay, dead): the one full pass over task_adhoc, since
    faildelay and attemptsavailable have no index."""
    ta = moodle_tables(prefix).task_adhoc
    failing = sa.and_(ta.c.faildelay > 0, _alive(ta))
    rows = conn.execute(
        sa.select(ta.c.classname, sa.func.sum(sa.case((failing, 1), else_=0)),
                  sa.func.max(sa.case((failing, ta.c.faildelay))),
                  sa.func.sum(sa.case((ta.c.attemptsavailable == 0, 1), else_=0)))
        .where(sa.or_(ta.c.faildelay > 0, ta.c.attemptsavailable == 0))
        .group_by(ta.c.classname))
    # SUM comes back as Decimal on MySQL/MariaDB and for BIGINT on PostgreSQL.
    return [(name, int(n), int(worst or 0), int(dead)) for name, n, worst, dead in rows]


class AdhocTasksCheck:
    def __init__(self, spec: AdhocTasksSpec, processes: ProcessTable | None = None) -> None:
        self.spec = spec
        self.processes = processes or LocalProcesses()

    async def run(self, ctx: CheckContext) -> Result:
        db, now, limit = site_database(ctx), int(ctx.now()), self.spec.backlog_count_limit
        queue = await db.run(ctx, lambda conn: read_queue(conn, db.prefix, now, limit))
        try:
            # Separate statement: if this pass hits the statement timeout on a huge table,
            # the backlog age (the primary signal) is still reported.
            failures = await db.run(ctx, lambda conn: read_failures(conn, db.prefix))
        except CheckUnavailable as exc:
            failures, queue.failures_error = [], str(exc)
        for name, failing, worst, dead in failures:
            row = queue.classes.setdefault(name, ClassRow(name))
            row.failing, row.max_fail_delay, row.dead = failing, worst, dead
        running = await judge_running(ctx, queue.running, queue.running_count, self.spec,
                                      self.processes)
        oldest = min((r.oldest_due for r in queue.classes.values()
                      if r.oldest_due is not None), default=None)
        age = 0.0 if oldest is None else max(0.0, now - oldest)
        status, summary = summarize(
            self._problems(queue, age) + running_problems(running, "adhoc"),
            f"{queue.due_text()} adhoc task(s) due"
            + (f", oldest waiting {fmt_duration(age)}" if oldest is not None else ""))
        return Result(status, summary, self._samples(queue, age, running),
                      self._details(queue, age, now, running))

    @staticmethod
    def _samples(queue: Queue, age: float, running: RunningVerdict) -> tuple[Sample, ...]:
        samples = [
            Sample("lms_moodle_adhoc_tasks_due", queue.total("due")),
            Sample("lms_moodle_adhoc_oldest_due_age_seconds", round(age)),
            Sample("lms_moodle_adhoc_tasks_running", running.count),
            Sample("lms_moodle_adhoc_tasks_stale", len(running.stale)),
            Sample("lms_moodle_adhoc_longest_runtime_seconds", round(running.longest))]
        if queue.failures_error is None:  # no made-up zeros when they were not counted
            samples += [
                Sample("lms_moodle_adhoc_tasks_failing", queue.total("failing")),
                Sample("lms_moodle_adhoc_tasks_dead", queue.total("dead")),
                Sample("lms_moodle_adhoc_max_fail_delay_seconds",
                       max((r.max_fail_delay for r in queue.classes.values()), default=0))]
        return tuple(samples)

    @staticmethod
    def _details(queue: Queue, age: float, now: int, running: RunningVerdict) -> dict[str, Any]:
        return {
            "oldest_due_age_seconds": round(age), "backlog_truncated": queue.backlog_truncated,
            "backlog": [{"classname": r.classname, "due": r.due,
                         "oldest_due_age_seconds": now - (r.oldest_due or now)}
                        for r in queue.top("due")],
            "failing": [{"classname": r.classname, "count": r.failing,
                         "max_faildelay": r.max_fail_delay} for r in queue.top("failing")],
            "dead": [{"classname": r.classname, "count": r.dead} for r in queue.top("dead")],
            "running": list(running.details),
            "failures_error": queue.failures_error}

    def _problems(self, queue: Queue, age: float) -> list[tuple[Status, str]]:
        spec = self.spec
        problems: list[tuple[Status, str]] = []
        level = Status.worst([over(age, spec.age_warning, spec.age_critical),
                              threshold_status(queue.total("due"), spec.backlog_warning,
                                               spec.backlog_critical)])
        if level != Status.OK:
            oldest = min((r for r in queue.classes.values() if r.oldest_due is not None),
                         key=lambda r: (r.oldest_due or 0, r.classname))
            problems.append((level, f"oldest due adhoc task waiting {fmt_duration(age)} "
                             f"({oldest.classname}); {queue.due_text()} due"))
        if queue.failures_error is not None:
            problems.append((Status.WARNING, "failing and dead adhoc tasks not counted: "
                             + queue.failures_error))
        if failing := queue.total("failing"):
            worst = max(r.max_fail_delay for r in queue.classes.values())
            problems.append((over(worst, spec.fail_delay_warning, spec.fail_delay_critical),
                             f"{failing} adhoc task(s) failing and retrying: "
                             f"{self._counted(queue, 'failing')}; worst fail delay "
                             f"{fmt_duration(worst)}"))
        if dead := queue.total("dead"):
            problems.append((Status[spec.dead_status.upper()],
                             f"{dead} adhoc task(s) dead (no attempts left, deleted 4 weeks "
                             f"after first start): {self._counted(queue, 'dead')}"))
        return problems

    @staticmethod
    def _counted(queue: Queue, attr: str) -> str:
        """Classes with ``attr`` > 0 and their counts, the largest first, then "+N more"."""
        classes = sum(1 for r in queue.classes.values() if getattr(r, attr))
        return name_list([f"{r.classname} ({getattr(r, attr)})" for r in queue.top(attr)],
                         classes)
