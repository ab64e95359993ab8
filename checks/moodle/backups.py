"""The `moodle_backups` check: are Moodle's automated course backups running and succeeding?

Data flow: scheduler -> BackupsCheck.run(ctx) -> one read-only round on the site's database
(site_database(ctx).run, in a worker thread): config_plugins backup | backup_auto_*, the
per-course rows of backup_courses -> thresholds -> Result with lms_moodle_backup_* samples.

Semantics copied from Moodle (public/ prefix from 5.1 on):
- backup/util/helper/backup_cron_helper.class.php: laststatus (CHAR(1)) is one of
  BACKUP_STATUS_ERROR 0, OK 1, UNFINISHED 2, SKIPPED 3, WARNING 4, NOTYETRUN 5, QUEUED 6;
  get_backup_status_array() counts them with GROUP BY laststatus, as this check does.
  backup_auto_active: AUTO_BACKUP_DISABLED 0 (the default in admin/settings/courses.php),
  ENABLED 1, MANUAL 2 (only admin/cli/automated_backups.php runs them);
  get_automated_backup_lock() also stays inactive on schedule when backup_auto_weekdays
  (7 flags, Sunday first) has no '1'.
- lib/classes/task/course_backup_task.php: the adhoc task sets UNFINISHED and laststarttime
  at start, then the outcome and lastendtime; a crash leaves UNFINISHED behind.
- Moodle keeps no "last automated run" time in config (the backup_auto_* keys hold only
  settings, backup_auto_emailpending and the queued adhoc task ids); the newest lastendtime
  of an OK or WARNING row is the last course backup that produced a file.
Indexes: backup_courses holds one row per course (unique courseid), read whole; course by
primary key for the names of failing courses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from checks.base import CheckContext
from checks.common import check_order
from checks.lazy import lazy_import
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.site import site_database
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_backup_courses", "gauge",
               "Courses by the status of their last automated backup (backup_courses."
               "laststatus: error, ok, unfinished, skipped, warning, notyetrun, queued, "
               "unknown).", ("status",)),
    MetricSpec("lms_moodle_backup_last_success_timestamp_seconds", "gauge",
               "End of the newest automated course backup that produced a file (ok or "
               "warning), as a Unix time."),
    MetricSpec("lms_moodle_backup_auto_active", "gauge",
               "config backup | backup_auto_active: 0 disabled, 1 enabled, 2 manual."),
    MetricSpec("lms_moodle_backup_stuck", "gauge",
               "Course backups left unfinished for longer than unfinished_after."),
)
STATUSES = {"0": "error", "1": "ok", "2": "unfinished", "3": "skipped", "4": "warning",
            "5": "notyetrun", "6": "queued"}
_PRODUCED_FILE = ("1", "4")  # OK and WARNING rows have a backup file from lastendtime
_DAY = 86400.0
DETAIL_LIMIT = 10


class BackupsSpec(CheckSpec):
    type: Literal["moodle_backups"]
    interval: PositiveDuration = 900.0
    # backup_auto_active = 0 is Moodle's default and an admin's choice (many sites back up
    # by other means); Moodle's own backup check (core_backup) calls it OK. Sites that
    # rely on automated backups set "warning" or "critical".
    disabled_status: Literal["ok", "warning", "critical"] = "ok"
    # Courses whose last automated backup ended in ERROR.
    errors_warning: Annotated[int, Field(ge=1)] | None = 1
    errors_critical: Annotated[int, Field(ge=1)] | None = None
    # UNFINISHED rows started longer ago than this are stuck (the process died).
    unfinished_after: PositiveDuration = 43200.0
    # Age of the newest successful course backup. Default: the longest gap between the
    # scheduled weekdays (backup_auto_weekdays; one day in manual mode) plus `grace` for
    # WARNING, three such gaps plus `grace` for CRITICAL.
    max_age_warning: Annotated[Duration, Field(gt=0)] | None = None
    max_age_critical: Annotated[Duration, Field(gt=0)] | None = None
    grace: Annotated[Duration, Field(ge=0)] = 43200.0

    @model_validator(mode="after")
    def _order(self) -> BackupsSpec:
        check_order(self, "errors_warning", "errors_critical", higher_is_worse=True)
        check_order(self, "max_age_warning", "max_age_critical", higher_is_worse=True)
        return self


def schedule_gap_days(weekdays: str) -> int | None:
    """Longest wait in days between two scheduled weekdays (cyclic); None if none is set."""
    days = [i for i, flag in enumerate(weekdays[:7]) if flag == "1"]
    if not days:
        return None
    return max((days[(k + 1) % len(days)] - day - 1) % 7 + 1 for k, day in enumerate(days))


@dataclass(frozen=True, slots=True)
class BackupState:
    active: int  # backup_auto_active
    weekdays: str
    counts: dict[str, int]  # label -> courses
    last_success: int | None
    stuck: int
    failing: list[str]  # shortnames of courses in ERROR (capped)


def read_state(conn: Connection, t: MoodleTables, now: float, spec: BackupsSpec
               ) -> BackupState:
    cp, bc, course = t.config_plugins, t.backup_courses, t.course
    config = dict(conn.execute(sa.select(cp.c.name, cp.c.value).where(
        cp.c.plugin == "backup",
        cp.c.name.in_(["backup_auto_active", "backup_auto_weekdays"]))).all())
    counts = dict.fromkeys([*STATUSES.values(), "unknown"], 0)
    for status, n in conn.execute(sa.select(bc.c.laststatus, sa.func.count())
                                  .group_by(bc.c.laststatus)):
        counts[STATUSES.get(str(status).strip(), "unknown")] += int(n)
    last = conn.execute(sa.select(sa.func.max(bc.c.lastendtime)).where(
        bc.c.laststatus.in_(_PRODUCED_FILE), bc.c.lastendtime > 0)).scalar()
    stuck = conn.execute(sa.select(sa.func.count()).where(
        bc.c.laststatus == "2", bc.c.laststarttime < int(now - spec.unfinished_after))).scalar()
    failing = conn.execute(sa.select(course.c.shortname).select_from(
        bc.join(course, course.c.id == bc.c.courseid)).where(bc.c.laststatus == "0")
        .order_by(bc.c.courseid).limit(DETAIL_LIMIT)).scalars().all()
    try:
        active = int(str(config.get("backup_auto_active", "0")).strip() or 0)
    except ValueError:
        active = 0
    return BackupState(active, str(config.get("backup_auto_weekdays") or "0000000"), counts,
                       int(last) if last else None, int(stuck or 0), list(failing))


class BackupsCheck:
    def __init__(self, spec: BackupsSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        tables, now = moodle_tables(db.prefix), ctx.now()
        state = await db.run(ctx, lambda conn: read_state(conn, tables, now, self.spec))
        samples = [Sample("lms_moodle_backup_courses", n, {"status": s})
                   for s, n in state.counts.items()]
        samples += [Sample("lms_moodle_backup_auto_active", state.active),
                    Sample("lms_moodle_backup_stuck", state.stuck)]
        if state.last_success is not None:
            samples.append(Sample("lms_moodle_backup_last_success_timestamp_seconds",
                                  state.last_success))
        status, summary = self._judge(state, now)
        details: dict[str, Any] = {
            "backup_auto_active": state.active, "backup_auto_weekdays": state.weekdays,
            "courses_by_status": state.counts, "last_success": state.last_success,
            "stuck_unfinished": state.stuck, "failing_courses": state.failing}
        return Result(status, summary, tuple(samples), details)

    def _judge(self, state: BackupState, now: float) -> tuple[Status, str]:
        spec = self.spec
        if state.active == 0:
            return (Status[spec.disabled_status.upper()],
                    "automated backups are disabled (backup | backup_auto_active = 0)")
        gap = 1 if state.active == 2 else schedule_gap_days(state.weekdays)
        if gap is None:
            return Status.WARNING, ("automated backups are enabled but scheduled on no "
                                    "weekday (backup | backup_auto_weekdays), so they never run")
        parts: list[tuple[Status, str]] = [self._age(state, now, gap)]
        errors = state.counts["error"]
        if errors:
            names = ", ".join(state.failing[:3]) + (", ..." if errors > 3 else "")
            named = f" ({names})" if state.failing else ""
            parts.append((threshold_status(errors, spec.errors_warning, spec.errors_critical),
                          f"{_plural(errors, 'course')} failed their last automated "
                          f"backup{named}"))
        if state.stuck:
            parts.append((Status.WARNING, f"{_plural(state.stuck, 'course backup')} "
                                          f"unfinished for over "
                                          f"{fmt_duration(spec.unfinished_after)}"))
        status = Status.worst(level for level, _ in parts)
        if status == Status.OK:
            shown = [parts[0][1], ", ".join(f"{n} {s}" for s, n in state.counts.items() if n)]
        else:  # only what is wrong, worst first (no UNKNOWN here: IntEnum order is severity)
            shown = [text for level, text in sorted(parts, key=lambda p: -p[0]) if level]
        return status, "; ".join(text for text in shown if text)

    def _age(self, state: BackupState, now: float, gap: int) -> tuple[Status, str]:
        spec = self.spec
        warning = spec.max_age_warning or gap * _DAY + spec.grace
        critical = spec.max_age_critical or max(warning, 3 * gap * _DAY + spec.grace)
        every = "manual (CLI) runs" if state.active == 2 else (
            "scheduled daily" if gap == 1 else f"up to {gap} days apart")
        if state.last_success is None:
            return Status.WARNING, f"no course has a successful automated backup yet ({every})"
        age = max(0.0, now - state.last_success)
        level = threshold_status(age, warning, critical)
        if level == Status.OK:
            return level, f"newest successful course backup {fmt_duration(age)} ago ({every})"
        return level, f"no successful automated course backup for {fmt_duration(age)} ({every})"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
