"""The `moodle_exams` check: is an exam running now, and which quizzes close soon.

Data flow: scheduler -> ExamsCheck.run(ctx) -> one read-only round on the site's database
(site_database(ctx).run, in a worker thread) -> in-progress attempts per open quiz and the
quizzes closing within ``horizon`` -> Result with the lms_moodle_exam_* signal.
Informational (OK): the alerting side uses the signal to raise severity, and
``exams_between`` (a pure function over a Connection; checks/moodle/window_exams.py asks
it for maintenance) to refuse maintenance windows that would cut through an exam.

What counts (mod/quiz/db/install.xml, mod/quiz/classes/quiz_attempt.php):
- an attempt is in progress while quiz_attempts.state = 'inprogress'; preview = 1 marks a
  teacher's preview. Every page a student submits sets timemodified, so attempts untouched
  for longer than ``active_within`` are abandoned ones (a quiz without a time limit keeps
  them 'inprogress' for ever), not students sitting an exam now.
- a quiz is open while timeclose = 0 (no close date) or timeclose > now.
Indexes: quiz_attempts."state-timecheckstate" (state prefix) finds the in-progress
attempts; "quiz-userid-attempt" (quiz prefix) counts them per quiz; quiz and course are
read by primary key, except the close-time range: quiz has no index on timeclose, and its
one row per quiz is read with a narrow predicate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from checks.base import CheckContext
from checks.lazy import lazy_import
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.site import site_database
from checks.moodle.tasks import fmt_duration
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, PositiveDuration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_exam_in_progress", "gauge",
               "1 when an open quiz has at least min_attempts active attempts in progress."),
    MetricSpec("lms_moodle_exam_quizzes_in_progress", "gauge",
               "Open quizzes with at least min_attempts active attempts in progress."),
    MetricSpec("lms_moodle_exam_attempts_in_progress", "gauge",
               "Active attempts in progress (saved within active_within) on open quizzes."),
    MetricSpec("lms_moodle_exam_quizzes_closing", "gauge",
               "Quizzes closing within the check's horizon (default 6 h)."),
)
DETAIL_LIMIT = 10
_MAX_EXAMS = 500  # exams_between returns at most this many quizzes, soonest first


class ExamsSpec(CheckSpec):
    type: Literal["moodle_exams"]
    # An open quiz with at least this many active attempts in progress is an exam.
    min_attempts: Annotated[int, Field(ge=1)] = 20
    # Attempts not saved for longer than this are abandoned, not being sat.
    active_within: PositiveDuration = 10800.0
    # Quizzes closing within this span from now are listed.
    horizon: PositiveDuration = 21600.0


@dataclass(frozen=True, slots=True)
class ExamInfo:
    """One quiz as the alerting side sees it (times are Unix seconds, 0 = not set)."""

    quiz_id: int
    course_id: int
    course_shortname: str
    name: str
    timeopen: int
    timeclose: int
    attempts_in_progress: int


def _attempts_in_progress(t: MoodleTables, *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    qa = t.quiz_attempts
    return (sa.select(qa.c.quiz, sa.func.count().label("attempts"))
            .where(qa.c.state == "inprogress", qa.c.preview == 0, *where)
            .group_by(qa.c.quiz))


def quiz_infos(conn: Connection, t: MoodleTables, attempts: dict[int, int]
               ) -> list[ExamInfo]:
    """ExamInfo for the quizzes in ``attempts`` (quiz id -> attempts in progress)."""
    if not attempts:
        return []
    q, c = t.quiz, t.course
    rows = conn.execute(sa.select(q.c.id, q.c.course, c.c.shortname, q.c.name, q.c.timeopen,
                                  q.c.timeclose)
                        .select_from(q.outerjoin(c, c.c.id == q.c.course))
                        .where(q.c.id.in_(list(attempts))))
    return [ExamInfo(int(i), int(course), shortname or "", name, int(opens), int(closes),
                     attempts[int(i)]) for i, course, shortname, name, opens, closes in rows]


def exams_between(conn: Connection, tables: MoodleTables, start: float, end: float, *,
                  active_since: float | None = None) -> list[ExamInfo]:
    """Quizzes that open or close within [start, end], soonest deadline first.

    Those are the moments students crowd into a quiz: a maintenance window over them cuts
    through an exam. A quiz open for weeks with no date inside the span is not included.
    ``attempts_in_progress`` counts non-preview attempts in progress now, only those saved
    since ``active_since`` when given. At most 500 quizzes.
    """
    q = tables.quiz
    lo, hi = int(start), int(end)
    found = conn.execute(
        sa.select(q.c.id).where(sa.or_(
            sa.and_(q.c.timeclose >= lo, q.c.timeclose <= hi, q.c.timeclose > 0),
            sa.and_(q.c.timeopen >= lo, q.c.timeopen <= hi, q.c.timeopen > 0)))
        .order_by(q.c.timeclose, q.c.id).limit(_MAX_EXAMS)).scalars().all()
    if not found:
        return []
    qa = tables.quiz_attempts
    recent = () if active_since is None else (qa.c.timemodified >= int(active_since),)
    counts = {int(quiz): int(n) for quiz, n in conn.execute(
        _attempts_in_progress(tables, qa.c.quiz.in_(found), *recent))}
    infos = quiz_infos(conn, tables, {int(i): counts.get(int(i), 0) for i in found})
    return sorted(infos, key=lambda e: (e.timeclose or e.timeopen, e.quiz_id))


@dataclass(frozen=True, slots=True)
class ExamState:
    attempts_per_open_quiz: dict[int, int]
    exams: list[ExamInfo]  # open quizzes with >= min_attempts, most attempts first
    closing: list[ExamInfo]


def read_exams(conn: Connection, t: MoodleTables, now: float, spec: ExamsSpec) -> ExamState:
    qa, q = t.quiz_attempts, t.quiz
    per_quiz = {int(quiz): int(n) for quiz, n in conn.execute(
        _attempts_in_progress(t, qa.c.timemodified >= int(now - spec.active_within))
        .join_from(qa, q, q.c.id == qa.c.quiz)
        .where(sa.or_(q.c.timeclose == 0, q.c.timeclose > int(now))))}
    big = {quiz: n for quiz, n in per_quiz.items() if n >= spec.min_attempts}
    exams = sorted(quiz_infos(conn, t, big), key=lambda e: (-e.attempts_in_progress, e.quiz_id))
    until = now + spec.horizon
    closing = [e for e in exams_between(conn, t, now, until,
                                        active_since=now - spec.active_within)
               if now < e.timeclose <= until]  # not those that only open in the span
    return ExamState(per_quiz, exams, closing)


class ExamsCheck:
    def __init__(self, spec: ExamsSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        tables, now = moodle_tables(db.prefix), ctx.now()
        state = await db.run(ctx, lambda conn: read_exams(conn, tables, now, self.spec))
        exam_attempts = sum(e.attempts_in_progress for e in state.exams)
        open_attempts = sum(state.attempts_per_open_quiz.values())
        horizon = fmt_duration(self.spec.horizon)
        if state.exams:
            head = (f"{len(state.exams)} {_quizzes(len(state.exams))} with {exam_attempts:,} "
                    f"attempts in progress")
        else:
            head = (f"no exam in progress ({open_attempts:,} attempts in progress on open "
                    f"quizzes, exam from {self.spec.min_attempts} on one quiz)")
        summary = f"{head}; {len(state.closing)} closing within {horizon}"
        samples = (
            Sample("lms_moodle_exam_in_progress", 1.0 if state.exams else 0.0),
            Sample("lms_moodle_exam_quizzes_in_progress", len(state.exams)),
            Sample("lms_moodle_exam_attempts_in_progress", open_attempts),
            Sample("lms_moodle_exam_quizzes_closing", len(state.closing)))
        details = {
            "exams": [asdict(e) for e in state.exams[:DETAIL_LIMIT]],
            "closing": [asdict(e) for e in state.closing[:DETAIL_LIMIT]],
            "attempts_in_progress_on_open_quizzes": open_attempts,
            "min_attempts": self.spec.min_attempts, "horizon_seconds": self.spec.horizon}
        return Result(Status.OK, summary, samples, details)


def _quizzes(n: int) -> str:
    return "quiz" if n == 1 else "quizzes"
