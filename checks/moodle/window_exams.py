"""Moodle's exams as a maintenance window sees them: the exam half of checks/actions.py's
``LmsActions`` for Moodle. alerts/maintenance/exams.py asks, before a window is stored,
which quizzes open or close inside its occurrences and which have attempts in progress;
it judges the conflicts, this only reads.

One read-only round on the site's database (checks/moodle/exams.py: ``exams_between`` and
``read_exams``, the moodle_exams check's own queries). Blocking (run it in a thread) and
never raises: a database that cannot be read is ``unreachable`` with the cause, a site
without a configured database is ``unchecked``, a site without Moodle access (None) has
nothing to read.
"""

from __future__ import annotations

from typing import Any

from checks.actions import Exam, ExamQuery, ExamRead
from checks.base import CheckUnavailable
from checks.moodle.exams import ExamInfo, ExamsSpec, exams_between
from checks.moodle.exams import read_exams as read_open_exams
from checks.moodle.schema import moodle_tables
from checks.moodle.site import MoodleSite


def read_exams(site: Any, query: ExamQuery) -> ExamRead | None:
    if not isinstance(site, MoodleSite):
        return None
    database = site.database
    if database is None:
        return ExamRead(unchecked="no database configured ([lms.moodle.database])")
    try:
        dated, running = database.run_sync(
            lambda conn: _read(conn, database.prefix, query))
    except CheckUnavailable as exc:
        return ExamRead(unreachable=str(exc))
    except Exception as exc:  # a broken site must not break scheduling elsewhere
        return ExamRead(unreachable=f"{type(exc).__name__}: {exc}")
    return ExamRead(dated=tuple(map(_exam, dated)), running=tuple(map(_exam, running)))


def _read(conn: Any, prefix: str, query: ExamQuery) -> tuple[list[ExamInfo], list[ExamInfo]]:
    tables = moodle_tables(prefix)
    dated = exams_between(conn, tables, query.start, query.end,
                          active_since=query.now - query.active_within)
    running: list[ExamInfo] = []
    if query.in_progress:
        spec = ExamsSpec(type="moodle_exams", min_attempts=1, active_within=query.active_within)
        running = read_open_exams(conn, tables, query.now, spec).exams
    return dated, running


def _exam(info: ExamInfo) -> Exam:
    return Exam(info.quiz_id, info.name, info.course_shortname or str(info.course_id),
                info.timeopen, info.timeclose, info.attempts_in_progress)
