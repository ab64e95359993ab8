"""The `moodle_usage` check: who uses the site and how, as gauges for Grafana.

Data flow: scheduler -> UsageCheck.run(ctx) -> one read-only round on the site's database
(site_database(ctx).run, in a worker thread) -> active users, logins, enrolments,
completions, quiz activity, and (at most every ``inventory_interval``) users and courses by
state -> Result with lms_moodle_* samples. Informational: OK unless a query fails.

Cost, per query (100k users / 5M log rows / 10k courses), and the index each one uses:
- active users: user."lastaccess" range (last 24 h only); lastaccess moves at most once a
  minute per user (LASTACCESS_UPDATE_SECS, lib/datalib.php).
- logins and new enrolments: logstore_standard_log."timecreated" range over the last
  ``count_window``, grouped by eventname. user_enrolments.timecreated has no index in
  lib/db/install.xml, so new enrolments are counted from \\core\\event\\user_enrolment_created
  (triggered by enrol_plugin::enrol_user for every enrolment method) instead.
- completions: course_completions."timecompleted" range.
- quiz attempts in progress: quiz_attempts."state-timecheckstate" (state prefix).
- quizzes closing soon: quiz has no index on timeclose (mod/quiz/db/install.xml); one row
  per quiz, read with a narrow predicate.
- users and courses by state: whole-table counts, hence cached for ``inventory_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.logstore import ENROLMENT_CREATED, LOGGED_IN, standard_log_enabled
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.site import site_database
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_active_users", "gauge",
               "Users (not deleted, not guest) whose lastaccess is within the window "
               "(5m, 1h, 24h).", ("window",)),
    MetricSpec("lms_moodle_logins", "gauge",
               "Logins (\\core\\event\\user_loggedin) in the check's count window "
               "(default the last hour)."),
    MetricSpec("lms_moodle_enrolments_created", "gauge",
               "New enrolments (\\core\\event\\user_enrolment_created) in the count window."),
    MetricSpec("lms_moodle_course_completions", "gauge",
               "Course completions (course_completions.timecompleted) in the count window."),
    MetricSpec("lms_moodle_quiz_attempts_in_progress", "gauge",
               "Quiz attempts in progress (state inprogress, previews excluded)."),
    MetricSpec("lms_moodle_quizzes_closing_soon", "gauge",
               "Quizzes whose close time falls within the check's horizon (default 24 h)."),
    MetricSpec("lms_moodle_users", "gauge",
               "User accounts by state: active, suspended, deleted (guest excluded).",
               ("state",)),
    MetricSpec("lms_moodle_users_by_auth", "gauge",
               "User accounts not deleted, by authentication method (the most used ones; "
               "the rest as other).", ("auth",)),
    MetricSpec("lms_moodle_courses", "gauge",
               "Courses by state: visible, hidden (front page excluded).", ("state",)),
)
# The label values of lms_moodle_active_users and the spans they count.
ACTIVE_WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400}


class UsageSpec(CheckSpec):
    type: Literal["moodle_usage"]
    interval: PositiveDuration = 300.0
    # Logins, new enrolments and course completions are counted over this span.
    count_window: Annotated[Duration, Field(ge=60)] = 3600.0
    # Quizzes whose close time falls within this span from now count as closing soon.
    quiz_close_horizon: PositiveDuration = 86400.0
    # Users and courses by state need whole-table counts: refreshed at most this often.
    inventory_interval: Annotated[Duration, Field(ge=0)] = 3600.0
    # Auth methods beyond the most used N are summed up as auth="other".
    auth_labels: Annotated[int, Field(ge=1, le=50)] = 10


@dataclass(frozen=True, slots=True)
class Inventory:
    users: dict[str, int]  # active / suspended / deleted
    users_by_auth: dict[str, int]  # not deleted
    courses: dict[str, int]  # visible / hidden
    taken_at: float


@dataclass(frozen=True, slots=True)
class Activity:
    active: dict[str, int]
    logins: int | None  # None: the standard log store is disabled
    enrolments: int | None
    completions: int
    attempts_in_progress: int
    quizzes_closing: int


def _guest_id(conn: Connection, t: MoodleTables) -> int:
    """config siteguest: the guest account, left out of every user count."""
    value = conn.execute(sa.select(t.config.c.value).where(t.config.c.name == "siteguest"))
    try:
        return int(value.scalar() or 0)
    except ValueError:
        return 0


def active_users(conn: Connection, t: MoodleTables, now: int, guest: int) -> dict[str, int]:
    u = t.user
    longest = max(ACTIVE_WINDOWS.values())
    sums = [sa.func.sum(sa.case((u.c.lastaccess > now - span, 1), else_=0))
            for span in ACTIVE_WINDOWS.values()]
    row = conn.execute(sa.select(*sums).where(
        u.c.lastaccess > now - longest, u.c.deleted == 0, u.c.id != guest)).one()
    return {label: int(n or 0) for label, n in zip(ACTIVE_WINDOWS, row, strict=True)}


def log_counts(conn: Connection, t: MoodleTables, start: int, end: int) -> dict[str, int]:
    """Events per name with start < timecreated <= end (one range scan for both names)."""
    log = t.logstore_standard_log
    rows = conn.execute(sa.select(log.c.eventname, sa.func.count()).where(
        log.c.timecreated > start, log.c.timecreated <= end,
        log.c.eventname.in_([LOGGED_IN, ENROLMENT_CREATED])).group_by(log.c.eventname))
    return {name: int(n) for name, n in rows}


def _count(conn: Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))
               .scalar() or 0)


def activity(conn: Connection, t: MoodleTables, now: int, spec: UsageSpec) -> Activity:
    guest, start = _guest_id(conn, t), now - int(spec.count_window)
    events = log_counts(conn, t, start, now) if standard_log_enabled(conn, t) else None
    cc, qa, quiz = t.course_completions, t.quiz_attempts, t.quiz
    return Activity(
        active=active_users(conn, t, now, guest),
        logins=None if events is None else events.get(LOGGED_IN, 0),
        enrolments=None if events is None else events.get(ENROLMENT_CREATED, 0),
        completions=_count(conn, cc, cc.c.timecompleted > start, cc.c.timecompleted <= now),
        # Teachers' previews are not attempts (preview = 1).
        attempts_in_progress=_count(conn, qa, qa.c.state == "inprogress", qa.c.preview == 0),
        quizzes_closing=_count(conn, quiz, quiz.c.timeclose > now,
                               quiz.c.timeclose <= now + int(spec.quiz_close_horizon)))


def inventory(conn: Connection, t: MoodleTables, now: float, auth_labels: int) -> Inventory:
    u, c = t.user, t.course
    guest = _guest_id(conn, t)
    users = {"active": 0, "suspended": 0, "deleted": 0}
    for deleted, suspended, n in conn.execute(
            sa.select(u.c.deleted, u.c.suspended, sa.func.count()).where(u.c.id != guest)
            .group_by(u.c.deleted, u.c.suspended)):
        state = "deleted" if deleted else "suspended" if suspended else "active"
        users[state] += int(n)
    by_auth = sorted(((str(auth), int(n)) for auth, n in conn.execute(
        sa.select(u.c.auth, sa.func.count()).where(u.c.deleted == 0, u.c.id != guest)
        .group_by(u.c.auth))), key=lambda item: (-item[1], item[0]))
    # auth values are plugin names (bounded by the installed code); the long tail is summed.
    auth = dict(by_auth[:auth_labels])
    if len(by_auth) > auth_labels:
        auth["other"] = sum(n for _, n in by_auth[auth_labels:])
    courses = {"visible": 0, "hidden": 0}
    # category 0 is the front page, the SITEID course, which is not a course for users.
    for visible, n in conn.execute(sa.select(c.c.visible, sa.func.count())
                                   .where(c.c.category != 0).group_by(c.c.visible)):
        courses["visible" if visible else "hidden"] += int(n)
    return Inventory(users, auth, courses, now)


class UsageCheck:
    """Keeps the last inventory (users and courses by state) between runs."""

    def __init__(self, spec: UsageSpec) -> None:
        self.spec = spec
        self._inventory: Inventory | None = None

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        tables, now = moodle_tables(db.prefix), ctx.now()
        stale = (self._inventory is None
                 or now - self._inventory.taken_at >= self.spec.inventory_interval
                 or now < self._inventory.taken_at)

        def measure(conn: Connection) -> tuple[Activity, Inventory | None]:
            fresh = inventory(conn, tables, now, self.spec.auth_labels) if stale else None
            return activity(conn, tables, int(now), self.spec), fresh

        act, fresh = await db.run(ctx, measure)
        inv = self._inventory = fresh if fresh is not None else self._inventory
        if inv is None:  # unreachable: nothing cached means stale
            raise CheckUnavailable("no inventory of users and courses yet")
        return self._result(act, inv)

    def _result(self, act: Activity, inv: Inventory) -> Result:
        window = fmt_duration(self.spec.count_window)
        samples = [Sample("lms_moodle_active_users", n, {"window": label})
                   for label, n in act.active.items()]
        samples += [Sample("lms_moodle_course_completions", act.completions),
                    Sample("lms_moodle_quiz_attempts_in_progress", act.attempts_in_progress),
                    Sample("lms_moodle_quizzes_closing_soon", act.quizzes_closing)]
        if act.logins is not None and act.enrolments is not None:
            samples += [Sample("lms_moodle_logins", act.logins),
                        Sample("lms_moodle_enrolments_created", act.enrolments)]
        samples += [Sample("lms_moodle_users", n, {"state": s}) for s, n in inv.users.items()]
        samples += [Sample("lms_moodle_users_by_auth", n, {"auth": a})
                    for a, n in inv.users_by_auth.items()]
        samples += [Sample("lms_moodle_courses", n, {"state": s})
                    for s, n in inv.courses.items()]
        logged = ("standard log store disabled: logins and enrolments not counted"
                  if act.logins is None else
                  f"{act.logins:,} logins, {act.enrolments:,} new enrolments")
        summary = (f"{act.active['5m']:,} users active in the last 5m "
                   f"({act.active['24h']:,} in 24h); {logged}, {act.completions:,} course "
                   f"completions in the last {window}; {act.attempts_in_progress:,} quiz "
                   f"attempts in progress")
        details = {"active_users": act.active, "count_window_seconds": self.spec.count_window,
                   "logins": act.logins, "enrolments_created": act.enrolments,
                   "course_completions": act.completions,
                   "quiz_attempts_in_progress": act.attempts_in_progress,
                   "quizzes_closing_soon": act.quizzes_closing,
                   "users": inv.users, "users_by_auth": inv.users_by_auth,
                   "courses": inv.courses, "inventory_taken_at": inv.taken_at}
        return Result(Status.OK, summary, tuple(samples), details)
