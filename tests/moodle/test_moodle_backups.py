"""The moodle_backups probe on PostgreSQL and MariaDB: status counts of backup_courses, the
age of the newest successful course backup, stuck and failed backups, disabled backups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.backups import BackupsCheck, BackupsSpec, schedule_gap_days
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.scenario_content import (
    BACKUP_ERROR,
    BACKUP_NOTYETRUN,
    BACKUP_OK,
    BACKUP_QUEUED,
    BACKUP_SKIPPED,
    BACKUP_UNFINISHED,
)

DAY = 86400


def spec(**fields: object) -> BackupsSpec:
    return BackupsSpec.model_validate({"type": "moodle_backups", **fields})


async def run(ctx: CheckContext, **fields: object) -> Result:
    result = await BackupsCheck(spec(**fields)).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def by_status(result: Result) -> dict[str, float]:
    return {s.labels["status"]: s.value for s in result.samples
            if s.name == "lms_moodle_backup_courses" and s.value}


def site(db: MoodleDouble, weekdays: str = "1111111") -> Scenario:
    """A healthy site without its backup rows, scheduled on ``weekdays``."""
    s = db.scenario.healthy_site()
    s.delete("backup_courses")
    s.set_plugin_config("backup", "backup_auto_weekdays", weekdays)
    return s


@pytest.mark.parametrize(("weekdays", "gap"), [
    ("1111111", 1), ("1000000", 7), ("0100010", 4), ("1010100", 3), ("0000000", None)])
def test_the_schedule_gap_is_the_longest_wait_between_backup_days(weekdays: str,
                                                                  gap: int | None) -> None:
    assert schedule_gap_days(weekdays) == gap


def test_limits_in_the_wrong_order_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"max_age_critical \(3600\) must be >="):
        spec(max_age_warning="2h", max_age_critical="1h")


async def test_a_healthy_site_with_daily_backups_is_ok(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK, result.summary
    assert result.summary == "newest successful course backup 3h ago (scheduled daily); 2 ok"
    assert by_status(result) == {"ok": 2}
    values = {x.name: x.value for x in result.samples if not x.labels}
    assert values == {"lms_moodle_backup_auto_active": 1, "lms_moodle_backup_stuck": 0,
                      "lms_moodle_backup_last_success_timestamp_seconds": s.now - 3 * 3600}


@pytest.mark.parametrize(("disabled_status", "status"), [
    ("warning", Status.WARNING), ("ok", Status.OK)])
async def test_disabled_automated_backups_are_their_own_state(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, disabled_status: str,
        status: Status) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.set_plugin_config("backup", "backup_auto_active", 0)
    result = await run(moodle_ctx_fast, disabled_status=disabled_status)
    assert result.status == status
    assert result.summary == "automated backups are disabled (backup | backup_auto_active = 0)"


async def test_a_missing_setting_means_disabled_as_moodle_defaults_it(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.unset_plugin_config("backup", "backup_auto_active")
    result = await run(moodle_ctx_fast)  # Moodle's default, and core_backup's "OK"
    assert result.status == Status.OK and "disabled" in result.summary
    result = await run(moodle_ctx_fast, disabled_status="warning")  # a site relying on them
    assert result.status == Status.WARNING and "disabled" in result.summary


async def test_enabled_backups_on_no_weekday_never_run(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    site(moodle_db_fast, weekdays="0000000").backup_status([2], BACKUP_OK)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert "scheduled on no weekday" in result.summary


async def test_courses_whose_backup_failed_are_named(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = site(moodle_db)
    good, bad1, bad2 = s.course("GOOD"), s.course("PHYS101"), s.course("CHEM2")
    s.backup_status([good], BACKUP_OK).backup_status([bad1, bad2], BACKUP_ERROR)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == "2 courses failed their last automated backup (PHYS101, CHEM2)"
    assert by_status(result) == {"ok": 1, "error": 2}
    assert (await run(moodle_ctx, errors_critical=2)).status == Status.CRITICAL


@pytest.mark.parametrize(("weekdays", "ended_days_ago", "status"), [
    ("1111111", 1, Status.OK),
    ("1111111", 2, Status.WARNING),
    ("1111111", 4, Status.CRITICAL),
    ("1000000", 5, Status.OK),  # weekly on Sundays: five days is normal
    ("1000000", 8, Status.WARNING)])
async def test_the_newest_successful_backup_is_judged_against_the_schedule(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, weekdays: str,
        ended_days_ago: int, status: Status) -> None:
    s = site(moodle_db_fast, weekdays)
    s.backup_status(s.courses(2), BACKUP_OK, ended_ago=ended_days_ago * DAY)
    result = await run(moodle_ctx_fast)
    assert result.status == status, result.summary
    if status != Status.OK:
        assert result.summary.startswith(
            f"no successful automated course backup for {ended_days_ago}d")


async def test_explicit_age_limits_replace_the_schedule_defaults(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = site(moodle_db_fast)
    s.backup_status(s.courses(1), BACKUP_OK, ended_ago=8 * 3600)
    result = await run(moodle_ctx_fast, max_age_warning="6h", max_age_critical="12h")
    assert result.status == Status.WARNING


async def test_a_backup_unfinished_for_hours_is_stuck_but_one_running_now_is_not(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = site(moodle_db_fast)
    ok, running, crashed = s.courses(3)
    s.backup_status([ok], BACKUP_OK)
    s.backup_status([running], BACKUP_UNFINISHED, ended_ago=DAY, took=-DAY + 600)
    s.backup_status([crashed], BACKUP_UNFINISHED, ended_ago=2 * DAY, took=-DAY)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == "1 course backup unfinished for over 12h"
    assert {x.name: x.value for x in result.samples}["lms_moodle_backup_stuck"] == 1


async def test_a_site_where_no_backup_has_succeeded_yet_is_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = site(moodle_db_fast)
    courses = s.courses(3)
    s.backup_status(courses[:1], BACKUP_NOTYETRUN).backup_status(courses[1:], BACKUP_QUEUED)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == ("no course has a successful automated backup yet "
                              "(scheduled daily)")
    assert by_status(result) == {"notyetrun": 1, "queued": 2}


async def test_skipped_and_unknown_statuses_are_counted_with_bounded_labels(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = site(moodle_db_fast)
    courses = s.courses(3)
    s.backup_status(courses[:1], BACKUP_OK).backup_status(courses[1:2], BACKUP_SKIPPED)
    s.backup_status(courses[2:], "9")
    result = await run(moodle_ctx_fast)
    assert by_status(result) == {"ok": 1, "skipped": 1, "unknown": 1}
    assert result.status == Status.OK


async def test_manual_mode_expects_a_daily_cli_run(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = site(moodle_db_fast, weekdays="0000000")
    s.set_plugin_config("backup", "backup_auto_active", 2)
    s.backup_status(s.courses(1), BACKUP_OK, ended_ago=3 * DAY)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == "no successful automated course backup for 3d (manual (CLI) runs)"


async def test_a_missing_backup_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    moodle_db_fast.drop_table("backup_courses")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)
