"""The moodle_usage probe on PostgreSQL and MariaDB: active users, logins, enrolments,
completions, quiz activity, and users and courses by state."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle import backups, exams, security, usage
from checks.moodle.logstore import ENROLMENT_CREATED
from checks.moodle.usage import UsageCheck, UsageSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx


def spec(**fields: object) -> UsageSpec:
    return UsageSpec.model_validate({"type": "moodle_usage", **fields})


async def run(ctx: CheckContext, check: UsageCheck | None = None, **fields: object) -> Result:
    result = await (check or UsageCheck(spec(**fields))).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def samples(result: Result, name: str) -> dict[str, float]:
    """Values of one metric keyed by its label value ('' when unlabelled)."""
    return {next(iter(s.labels.values()), ""): s.value for s in result.samples
            if s.name == name}


def value(result: Result, name: str) -> float:
    return samples(result, name)[""]


def test_defaults_count_the_last_hour_and_take_the_inventory_hourly() -> None:
    s = spec()
    assert (s.interval, s.count_window, s.inventory_interval, s.quiz_close_horizon) == (
        300, 3600, 3600, 86400)
    with pytest.raises(ValidationError, match="count_window"):
        spec(count_window="10s")


async def test_a_healthy_site_reports_its_users_courses_and_logins(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK
    # The admin was seen 2 minutes ago, the six students 5 minutes ago; guest never counts.
    assert samples(result, "lms_moodle_active_users") == {"5m": 1, "1h": 7, "24h": 7}
    assert samples(result, "lms_moodle_users") == {"active": 7, "suspended": 0, "deleted": 0}
    assert samples(result, "lms_moodle_users_by_auth") == {"manual": 7}
    assert samples(result, "lms_moodle_courses") == {"visible": 2, "hidden": 0}
    assert value(result, "lms_moodle_logins") == 6  # the 7th logged in exactly an hour ago
    assert value(result, "lms_moodle_course_completions") == 0  # completed 2 h ago
    assert value(result, "lms_moodle_quiz_attempts_in_progress") == 0
    assert result.summary == ("1 users active in the last 5m (7 in 24h); 6 logins, 0 new "
                              "enrolments, 0 course completions in the last 1h; 0 quiz "
                              "attempts in progress")


async def test_activity_counts_only_what_happened_in_the_window_and_only_real_users(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    gone = s.users(2, lastaccess_ago=30, deleted=1)
    s.users(1, lastaccess_ago=30, suspended=1)
    s.users(1, lastaccess_ago=2 * 86400)
    course = s.course(visible=0)
    s.course_completions(course, gone, completed_ago=600)
    for ago in (60, 1800, 7200):
        s.log_event(ENROLMENT_CREATED, userid=3, at=s.now - ago, courseid=course)
    s.quiz_open_with_attempts(12, timeclose=s.now + 2 * 3600, course_id=course)
    s.quiz_open_with_attempts(3, timeclose=s.now + 3 * 86400, course_id=course)
    s.update("quiz_attempts", {"preview": 1}, s.tables.quiz_attempts.c.userid == 1000)
    result = await run(moodle_ctx_fast)
    assert samples(result, "lms_moodle_active_users") == {"5m": 2, "1h": 8, "24h": 8}
    assert samples(result, "lms_moodle_users") == {"active": 8, "suspended": 1, "deleted": 2}
    assert samples(result, "lms_moodle_courses") == {"visible": 2, "hidden": 1}
    assert value(result, "lms_moodle_enrolments_created") == 2
    assert value(result, "lms_moodle_course_completions") == 2
    assert value(result, "lms_moodle_quiz_attempts_in_progress") == 15 - 2  # two previews
    assert value(result, "lms_moodle_quizzes_closing_soon") == 1


async def test_rare_auth_methods_are_summed_so_the_label_stays_bounded(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    for auth, n in (("ldap", 9), ("oauth2", 3), ("saml2", 2), ("cas", 1)):
        s.users(n, auth=auth)
    result = await run(moodle_ctx_fast, auth_labels=2)
    assert samples(result, "lms_moodle_users_by_auth") == {"ldap": 9, "manual": 7, "other": 6}


async def test_the_inventory_is_recounted_only_after_its_interval(
        moodle_db_fast: MoodleDouble, now: float) -> None:
    db = moodle_db_fast
    db.scenario.healthy_site()
    check = UsageCheck(spec(inventory_interval="1h"))
    contexts = [make_moodle_ctx(db.settings, now + dt, None, None) for dt in (0, 600, 3600)]
    try:
        counts = []
        for i, ctx in enumerate(contexts):
            if i == 1:
                db.scenario.users(5)
            result = await run(ctx, check)
            counts.append(samples(result, "lms_moodle_users")["active"])
        assert counts == [7, 7, 12]
    finally:
        for ctx in contexts:
            ctx.site.close()


async def test_with_the_standard_log_store_disabled_logins_are_left_out_not_zero(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.unset_plugin_config("tool_log", "enabled_stores")
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert "lms_moodle_logins" not in {x.name for x in result.samples}
    assert "standard log store disabled: logins and enrolments not counted" in result.summary


async def test_a_missing_quiz_table_is_unknown_with_the_cause(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    moodle_db.drop_table("quiz_attempts")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx)


async def test_a_database_refusing_the_account_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, now: float) -> None:
    moodle_db_fast.scenario.healthy_site()
    ctx = make_moodle_ctx(moodle_db_fast.settings_with(user="nobody", password="wrong"),
                          now, None, None)
    try:
        with pytest.raises(CheckUnavailable, match="cannot query"):
            await run(ctx)
    finally:
        ctx.site.close()


@pytest.mark.parametrize("module", [security, usage, exams, backups],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_sample_name_of_the_people_and_learning_probes_is_declared_and_catalogued(
        module: ModuleType) -> None:
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    assert set(re.findall(r'"(lms_[a-z0-9_]+)"', source)) == set(module.METRICS)
    for name in module.METRICS:
        metric = CATALOGUE[name]
        assert metric.type == "gauge" and metric.help.endswith("."), name
