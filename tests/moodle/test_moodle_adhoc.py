"""The moodle_adhoc_tasks probe against a Moodle-shaped database on PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle import adhoc
from checks.moodle.adhoc import AdhocTasksCheck, AdhocTasksSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.scenario_tasks import ADHOC_TASKS

BACKUP, ASYNC_BACKUP, FORUM, DELETE_MODULES, CALENDAR = ADHOC_TASKS
HOST = "web1.example.org"
# Scenario.adhoc_backlog(count=n) spreads n rows from oldest_age ago up to exactly now; the
# newest is not due yet (core picks nextruntime < now), so n - 1 of them are the backlog.


class FakeProcesses:
    def __init__(self, *alive: int) -> None:
        self.alive = set(alive)

    def hostname(self) -> str:
        return HOST

    def pid_exists(self, pid: int) -> bool:
        return pid in self.alive


async def run(ctx: CheckContext, processes: FakeProcesses | None = None,
              **fields: object) -> Result:
    spec = AdhocTasksSpec.model_validate({"type": "moodle_adhoc_tasks", **fields})
    result = await AdhocTasksCheck(spec, processes or FakeProcesses()).run(ctx)
    assert all(s.name in CATALOGUE for s in result.samples)
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


def test_defaults_are_cores_adhoc_age_limits_and_no_count_limit() -> None:
    s = AdhocTasksSpec(type="moodle_adhoc_tasks")
    assert (s.age_warning, s.age_critical) == (600, 4 * 3600)
    assert (s.backlog_warning, s.backlog_critical, s.dead_status) == (None, None, "warning")


def test_dead_tasks_cannot_be_configured_to_page() -> None:
    with pytest.raises(ValidationError, match="dead_status"):
        AdhocTasksSpec(type="moodle_adhoc_tasks", dead_status="critical")  # type: ignore[arg-type]


# ------------------------------------------------------------------ healthy
async def test_a_healthy_site_with_an_empty_queue_is_ok(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK
    assert result.summary == "0 adhoc task(s) due"
    assert set(values(result).values()) == {0}


async def test_a_queue_that_drains_in_time_is_ok_however_long(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().adhoc_backlog(FORUM, count=500, oldest_age=120)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert result.summary == "499 adhoc task(s) due, oldest waiting 2m"
    assert values(result)["lms_moodle_adhoc_tasks_due"] == 499
    assert values(result)["lms_moodle_adhoc_oldest_due_age_seconds"] == 120


async def test_tasks_scheduled_for_later_or_already_running_are_not_the_backlog(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.adhoc_task(CALENDAR, nextruntime=int(now) + 3600)
    s.adhoc_task(BACKUP, nextruntime=int(now) - 7200, timestarted=int(now) - 60,
                 hostname="web2", pid=5)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert values(result)["lms_moodle_adhoc_tasks_due"] == 0
    assert values(result)["lms_moodle_adhoc_tasks_running"] == 1


async def test_a_task_due_this_very_second_is_not_yet_waiting(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float) -> None:
    moodle_db_fast.scenario.healthy_site().adhoc_task(FORUM, nextruntime=int(now))
    assert values(await run(moodle_ctx_fast))["lms_moodle_adhoc_tasks_due"] == 0


# ------------------------------------------------------------------ waiting too long
async def test_an_oldest_due_task_waiting_half_an_hour_is_a_warning_naming_its_class(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().adhoc_backlog(FORUM, count=40, oldest_age=1800)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == f"oldest due adhoc task waiting 30m ({FORUM}); 39 due"


async def test_an_oldest_due_task_waiting_five_hours_is_critical(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.adhoc_backlog(FORUM, count=30, oldest_age=600)
    s.adhoc_backlog(ASYNC_BACKUP, count=3, oldest_age=5 * 3600)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == f"oldest due adhoc task waiting 5h ({ASYNC_BACKUP}); 31 due"
    assert result.details["backlog"] == [
        {"classname": FORUM, "due": 29, "oldest_due_age_seconds": 600},
        {"classname": ASYNC_BACKUP, "due": 2, "oldest_due_age_seconds": 5 * 3600}]


async def test_rows_from_before_attempt_counting_are_still_picked_so_still_counted(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float) -> None:
    moodle_db_fast.scenario.healthy_site().adhoc_task(
        BACKUP, nextruntime=int(now) - 3600, attemptsavailable=None)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert values(result)["lms_moodle_adhoc_tasks_due"] == 1


async def test_a_backlog_count_limit_is_available_when_an_admin_wants_one(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().adhoc_backlog(FORUM, count=51, oldest_age=60)
    result = await run(moodle_ctx_fast, backlog_warning=40, backlog_critical=100)
    assert result.status == Status.WARNING


async def test_the_backlog_details_list_the_ten_largest_classes(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.insert("task_adhoc", [
        {"component": "local_x", "classname": f"\\local_x\\task\\job{n:02d}",
         "nextruntime": int(now) - 60, "attemptsavailable": 12}
        for n in range(12) for _ in range(n + 1)])
    result = await run(moodle_ctx_fast)
    assert [row["due"] for row in result.details["backlog"]] == list(range(12, 2, -1))
    assert values(result)["lms_moodle_adhoc_tasks_due"] == sum(range(1, 13))


async def test_a_runaway_queue_is_counted_up_to_the_limit_with_the_oldest_age_exact(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.adhoc_backlog(FORUM, count=30, oldest_age=60).adhoc_task(BACKUP, nextruntime=s.now - 900)
    result = await run(moodle_ctx_fast, backlog_count_limit=5)
    assert result.summary == f"oldest due adhoc task waiting 15m ({BACKUP}); 5+ due"
    assert values(result)["lms_moodle_adhoc_tasks_due"] == 5
    assert result.details["backlog_truncated"] is True


# ------------------------------------------------------------------ failing and dead
async def test_dead_tasks_are_a_warning_and_never_hold_the_check_critical(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    # Due for a day: core's adhocqueue check (MAX(now - nextruntime) over every row) is in
    # error for the four weeks these rows are kept.
    moodle_db.scenario.healthy_site().dead_adhoc(ASYNC_BACKUP, count=3,
                                                 first_started_ago=3 * 86400)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == (f"3 adhoc task(s) dead (no attempts left, deleted 4 weeks after "
                              f"first start): {ASYNC_BACKUP} (3)")
    assert values(result)["lms_moodle_adhoc_tasks_dead"] == 3
    assert values(result)["lms_moodle_adhoc_tasks_due"] == 0
    assert values(result)["lms_moodle_adhoc_oldest_due_age_seconds"] == 0
    assert values(result)["lms_moodle_adhoc_max_fail_delay_seconds"] == 0


async def test_a_site_that_accepts_dead_tasks_can_make_them_ok(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().dead_adhoc(ASYNC_BACKUP)
    result = await run(moodle_ctx_fast, dead_status="ok")
    assert result.status == Status.OK
    assert "1 adhoc task(s) dead" in result.summary


async def test_failing_tasks_with_attempts_left_grow_in_severity_with_their_fail_delay(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.failing_adhoc(ASYNC_BACKUP, faildelay=3840, count=2)
    s.failing_adhoc(BACKUP, faildelay=120)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == (f"3 adhoc task(s) failing and retrying: {ASYNC_BACKUP} (2), "
                              f"{BACKUP} (1); worst fail delay 1h 4m")
    s.failing_adhoc(DELETE_MODULES, faildelay=15360)
    assert (await run(moodle_ctx_fast)).status == Status.CRITICAL


async def test_failing_and_dead_tasks_are_reported_side_by_side(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    s.failing_adhoc(BACKUP, faildelay=960).dead_adhoc(ASYNC_BACKUP, count=2)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert values(result)["lms_moodle_adhoc_tasks_failing"] == 1
    assert values(result)["lms_moodle_adhoc_tasks_dead"] == 2
    assert result.details["failing"] == [{"classname": BACKUP, "count": 1,
                                          "max_faildelay": 960}]
    assert result.details["dead"] == [{"classname": ASYNC_BACKUP, "count": 2}]


async def test_a_timeout_counting_failures_still_reports_the_backlog_age(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def timed_out(conn: object, prefix: str) -> None:
        raise CheckUnavailable("query exceeded the 5s statement timeout on mariadb database")

    monkeypatch.setattr(adhoc, "read_failures", timed_out)
    moodle_db_fast.scenario.healthy_site().adhoc_backlog(FORUM, count=11, oldest_age=5 * 3600)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == (f"oldest due adhoc task waiting 5h ({FORUM}); 10 due; failing "
                              "and dead adhoc tasks not counted: query exceeded the 5s "
                              "statement timeout on mariadb database")
    assert "lms_moodle_adhoc_tasks_dead" not in values(result)


# ------------------------------------------------------------------ running
async def test_an_adhoc_task_running_more_than_a_day_is_critical(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().long_running_task(
        hours=25, hostname="web2", pid=9, classname=BACKUP, adhoc=True)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary.startswith(f"1 adhoc task(s) running too long: {BACKUP} #")
    assert result.summary.endswith(" for 1d 1h")
    assert values(result)["lms_moodle_adhoc_longest_runtime_seconds"] == 25 * 3600


async def test_an_adhoc_row_left_by_a_dead_process_on_this_host_is_stale(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().long_running_task(
        hours=2, hostname=HOST, pid=31337, classname=BACKUP, adhoc=True)
    result = await run(moodle_ctx, FakeProcesses())
    assert result.status == Status.WARNING
    assert "marked running by a process that no longer exists on this host" in result.summary
    assert values(result)["lms_moodle_adhoc_tasks_stale"] == 1
    assert (await run(moodle_ctx, FakeProcesses(31337))).status == Status.OK


# ------------------------------------------------------------------ cannot judge
async def test_a_missing_task_adhoc_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.drop_table("task_adhoc")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)
