"""The moodle_cron probe against a Moodle-shaped database on PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.cron import CronCheck, CronSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx


def spec(**fields: object) -> CronSpec:
    return CronSpec.model_validate({"type": "moodle_cron", **fields})


async def run(ctx: CheckContext, **fields: object) -> Result:
    result = await CronCheck(spec(**fields)).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE, sample.name
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


def enabled(db: MoodleDouble) -> MoodleDouble:
    db.scenario.set_config("cron_enabled", 1)
    return db


# ------------------------------------------------------------------ spec defaults
def test_defaults_follow_core_for_warning_and_page_after_fifteen_minutes() -> None:
    s = spec()
    assert (s.expected_frequency, s.warning_after, s.interval_warning) == (60, 120, 120)
    assert s.critical_after == 900 and s.disabled_status == "warning"


def test_a_keep_alive_loop_frequency_moves_every_default_along() -> None:
    s = spec(expected_frequency="15m")
    assert (s.warning_after, s.interval_warning, s.critical_after) == (960, 960, 1860)


def test_a_critical_limit_below_the_warning_limit_is_rejected_naming_both() -> None:
    with pytest.raises(ValidationError, match=r"critical_after \(60s\) must be >= "
                                              r"warning_after \(120s\)"):
        spec(critical_after="1m")


def test_a_bad_duration_is_reported_once_on_its_own_field() -> None:
    with pytest.raises(ValidationError) as info:
        spec(expected_frequency="often")
    assert [e["loc"] for e in info.value.errors()] == [("expected_frequency",)]


# ------------------------------------------------------------------ healthy and stale
async def test_a_healthy_site_whose_cron_started_half_a_minute_ago_is_ok(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, now: float) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK
    assert result.summary == "cron started 30s ago (expected every 1m)"
    assert values(result) == {
        "lms_moodle_cron_enabled": 1, "lms_moodle_cron_last_start_timestamp_seconds": now - 30,
        "lms_moodle_cron_age_seconds": 30, "lms_moodle_cron_interval_seconds": 60}
    assert result.details["source"] == "tool_task/lastcronstart"


async def test_a_cron_five_minutes_late_is_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(300)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == "cron has not started for 5m (expected every 1m)"


async def test_a_cron_two_hours_late_is_critical_long_before_cores_one_day(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    enabled(moodle_db).scenario.cron_stale(2 * 3600 + 14 * 60)
    result = await run(moodle_ctx)
    assert result.status == Status.CRITICAL
    assert result.summary == "cron has not started for 2h 14m (expected every 1m)"
    assert values(result)["lms_moodle_cron_age_seconds"] == 8040


async def test_critical_can_be_turned_off_to_keep_only_the_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(3 * 86400)
    assert (await run(moodle_ctx_fast, critical_after=None)).status == Status.WARNING


async def test_a_long_gap_between_the_last_two_starts_is_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_infrequent(interval=600)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == ("cron runs infrequently: 10m between the last two starts "
                              "(expected every 1m)")


async def test_a_start_one_second_late_is_not_worth_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_ran(ago=10, interval=61)
    assert (await run(moodle_ctx_fast)).status == Status.OK


async def test_a_cron_that_never_ran_anything_is_critical(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_never_ran()
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == "cron has never run (expected every 1m)"
    assert values(result) == {"lms_moodle_cron_enabled": 1}


async def test_without_lastcronstart_the_newest_scheduled_task_run_stands_in(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float) -> None:
    db = enabled(moodle_db_fast)
    db.scenario.insert("task_scheduled", [
        {"component": "moodle", "classname": "\\core\\task\\session_cleanup_task",
         "lastruntime": int(now) - 3 * 3600, "nextruntime": int(now) + 60, "faildelay": 0},
        {"component": "moodle", "classname": "\\core\\task\\send_new_user_passwords_task",
         "lastruntime": int(now) - 2 * 3600, "nextruntime": int(now) + 60, "faildelay": 0}])
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("cron has not run (no lastcronstart; newest scheduled "
                                     "task run) for 2h")
    assert result.details["source"] == "task_scheduled.lastruntime"


# ------------------------------------------------------------------ deliberately stopped
async def test_cron_disabled_by_an_admin_is_its_own_warning_state(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.cron_disabled().cron_stale(3 * 3600)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == ("cron disabled by an admin (admin/cli/cron.php --disable); "
                              "last started 3h ago")
    assert values(result)["lms_moodle_cron_enabled"] == 0


async def test_a_site_that_disables_cron_on_purpose_can_make_that_ok(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.cron_disabled().cron_stale(3 * 3600)
    assert (await run(moodle_ctx_fast, disabled_status="ok")).status == Status.OK


async def test_a_missing_cron_enabled_setting_stops_cron_just_the_same(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.cron_ran(ago=30)  # cron.php: !get_config('core', 'cron_enabled')
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert "cron_enabled is not set" in result.summary


async def test_stale_cron_under_cli_maintenance_says_why(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext,
        moodle_dataroot: Path) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(1800).cli_maintenance_on(moodle_dataroot)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == ("cron has not started for 30m (expected every 1m); CLI "
                              "maintenance mode is on (climaintenance.html), so cron.php "
                              "refuses to run")


async def test_without_a_dataroot_the_cli_mode_setting_explains_a_stale_cron(
        moodle_db_fast: MoodleDouble, now: float) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(1800).set_config("maintenance_enabled",
                                                                 "cli mode")
    ctx = make_moodle_ctx(moodle_db_fast.settings, now, None, None)
    try:
        result = await run(ctx)
    finally:
        ctx.site.close()
    assert "CLI maintenance mode is on" in result.summary


async def test_web_maintenance_does_not_explain_a_stale_cron(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(1800).maintenance_on()
    result = await run(moodle_ctx_fast)
    assert result.summary == "cron has not started for 30m (expected every 1m)"


async def test_stale_cron_during_an_upgrade_says_why(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    enabled(moodle_db).scenario.cron_stale(1200).upgrade_running(since=60)
    result = await run(moodle_ctx)
    assert result.status == Status.CRITICAL
    assert result.summary.endswith("; an upgrade is in progress (config upgraderunning is "
                                   "set), so cron.php refuses to run until it completes")


async def test_an_upgrade_flag_left_behind_reads_as_interrupted(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_stale(7200).upgrade_running(since=7000)
    assert "an upgrade is interrupted" in (await run(moodle_ctx_fast)).summary


async def test_a_healthy_cron_does_not_mention_an_upgrade_flag(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    enabled(moodle_db_fast).scenario.cron_ran(ago=20).upgrade_running(since=60)
    assert (await run(moodle_ctx_fast)).summary == "cron started 20s ago (expected every 1m)"


# ------------------------------------------------------------------ cannot judge
async def test_a_missing_config_plugins_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.drop_table("config_plugins")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)


async def test_a_site_without_a_database_is_unknown_with_the_fix(now: float) -> None:
    ctx = make_moodle_ctx(None, now, None, None)
    with pytest.raises(CheckUnavailable, match=r"no database configured"):
        await run(ctx)
