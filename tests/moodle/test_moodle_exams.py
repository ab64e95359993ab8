"""The moodle_exams probe and the exams_between API on PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.exams import ExamInfo, ExamsCheck, ExamsSpec, exams_between
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble


def spec(**fields: object) -> ExamsSpec:
    return ExamsSpec.model_validate({"type": "moodle_exams", **fields})


async def run(ctx: CheckContext, **fields: object) -> Result:
    result = await ExamsCheck(spec(**fields)).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and not sample.labels, sample
    assert "\n" not in result.summary
    assert result.status == Status.OK  # informational: the alerting side acts on it
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


def test_defaults_call_twenty_attempts_an_exam_and_look_six_hours_ahead() -> None:
    s = spec()
    assert (s.min_attempts, s.active_within, s.horizon) == (20, 3 * 3600, 6 * 3600)


async def test_a_site_without_quizzes_has_no_exam(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert values(result) == {"lms_moodle_exam_in_progress": 0,
                              "lms_moodle_exam_quizzes_in_progress": 0,
                              "lms_moodle_exam_attempts_in_progress": 0,
                              "lms_moodle_exam_quizzes_closing": 0}
    assert result.summary == ("no exam in progress (0 attempts in progress on open quizzes, "
                              "exam from 20 on one quiz); 0 closing within 6h")


async def test_a_quiz_with_many_attempts_in_progress_is_an_exam_with_its_course(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    course = s.course("PHYS101")
    quiz = s.quiz_open_with_attempts(30, course_id=course, n_finished=5, name="Final")
    s.quiz_open_with_attempts(4, course_id=course, timeclose=s.now + 86400, name="Practice")
    result = await run(moodle_ctx)
    assert values(result) == {"lms_moodle_exam_in_progress": 1,
                              "lms_moodle_exam_quizzes_in_progress": 1,
                              "lms_moodle_exam_attempts_in_progress": 34,
                              "lms_moodle_exam_quizzes_closing": 1}
    assert result.summary == "1 quiz with 30 attempts in progress; 1 closing within 6h"
    assert result.details["exams"] == [{
        "quiz_id": quiz, "course_id": course, "course_shortname": "PHYS101",
        "name": "Final", "timeopen": s.now - 7200, "timeclose": s.now + 3600,
        "attempts_in_progress": 30}]


@pytest.mark.parametrize(("min_attempts", "exam"), [(20, 0), (10, 1)])
async def test_the_attempt_threshold_is_configurable(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, min_attempts: int,
        exam: int) -> None:
    moodle_db_fast.scenario.healthy_site().quiz_open_with_attempts(12)
    result = await run(moodle_ctx_fast, min_attempts=min_attempts)
    assert values(result)["lms_moodle_exam_in_progress"] == exam


async def test_previews_abandoned_attempts_and_closed_quizzes_are_no_exam(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    qa = s.tables.quiz_attempts
    previews = s.quiz_open_with_attempts(25, name="Previewed")
    s.update("quiz_attempts", {"preview": 1}, qa.c.quiz == previews)
    abandoned = s.quiz_open_with_attempts(25, timeclose=0, name="Self-paced")
    s.update("quiz_attempts", {"timemodified": s.now - 5 * 86400}, qa.c.quiz == abandoned)
    s.quiz_open_with_attempts(25, timeclose=s.now - 60, name="Closed a minute ago")
    result = await run(moodle_ctx_fast)
    assert values(result)["lms_moodle_exam_in_progress"] == 0
    assert values(result)["lms_moodle_exam_attempts_in_progress"] == 0


async def test_quizzes_closing_soon_are_listed_soonest_first_and_capped(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    for i in range(12):
        s.quiz_open_with_attempts(1, timeclose=s.now + 3600 + 60 * (11 - i), name=f"Q{i}")
    s.quiz_open_with_attempts(1, timeclose=s.now + 7 * 3600, name="Tomorrow-ish")
    result = await run(moodle_ctx_fast)
    assert values(result)["lms_moodle_exam_quizzes_closing"] == 12
    closing = result.details["closing"]
    assert [c["name"] for c in closing] == [f"Q{i}" for i in range(11, 1, -1)]
    assert closing[0]["attempts_in_progress"] == 1
    assert result.summary.endswith("; 12 closing within 6h")


async def test_exams_between_finds_quizzes_opening_or_closing_in_the_span(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    course = s.course("CHEM2")
    closes = s.quiz_open_with_attempts(3, timeclose=s.now + 2 * 3600, course_id=course,
                                       name="Closes in the span")
    opens = s.quiz_open_with_attempts(0, timeclose=s.now + 30 * 86400, course_id=course,
                                      name="Opens in the span")
    s.update("quiz", {"timeopen": s.now + 3 * 3600}, s.tables.quiz.c.id == opens)
    s.quiz_open_with_attempts(8, timeclose=s.now + 30 * 86400, name="Open for a month")
    s.quiz_open_with_attempts(8, timeclose=0, name="Never closes")
    engine = moodle_db_fast.admin_engine
    with engine.connect() as conn:
        found = exams_between(conn, moodle_db_fast.tables, s.now + 3600, s.now + 4 * 3600)
    assert found == [
        ExamInfo(closes, course, "CHEM2", "Closes in the span", s.now - 7200,
                 s.now + 2 * 3600, 3),
        ExamInfo(opens, course, "CHEM2", "Opens in the span", s.now + 3 * 3600,
                 s.now + 30 * 86400, 0)]
    with engine.connect() as conn:
        assert exams_between(conn, moodle_db_fast.tables, s.now + 5 * 3600,
                             s.now + 6 * 3600) == []


async def test_without_the_quiz_module_tables_the_check_is_unknown(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    moodle_db_fast.drop_table("quiz")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await ExamsCheck(spec()).run(moodle_ctx_fast)
