"""The moodle_scheduled_tasks probe against a Moodle-shaped database on PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.tasks import (
    LocalProcesses,
    ScheduledTasksCheck,
    ScheduledTasksSpec,
    fmt_duration,
)
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.scenario_tasks import (
    CORE_DISABLED_TASKS,
    CORE_SCHEDULED_TASKS,
    STOCK_DISABLED_PLUGIN_TASKS,
    STOCK_PLUGIN_TASKS,
)

HOST = "web1.example.org"
PLUGIN_DISABLED = len(STOCK_DISABLED_PLUGIN_TASKS)
ENABLED = len(CORE_SCHEDULED_TASKS) + len(STOCK_PLUGIN_TASKS) + PLUGIN_DISABLED


class FakeProcesses:
    """The process table of host ``web1.example.org`` where only ``alive`` pids run."""

    def __init__(self, *alive: int, host: str = HOST) -> None:
        self.alive, self.host = set(alive), host

    def hostname(self) -> str:
        return self.host

    def pid_exists(self, pid: int) -> bool:
        return pid in self.alive


async def run(ctx: CheckContext, processes: object | None = None, **fields: object) -> Result:
    spec = ScheduledTasksSpec.model_validate({"type": "moodle_scheduled_tasks", **fields})
    check = ScheduledTasksCheck(spec, processes or FakeProcesses())  # type: ignore[arg-type]
    result = await check.run(ctx)
    assert all(s.name in CATALOGUE for s in result.samples)
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


# ------------------------------------------------------------------ spec and helpers
def test_defaults_are_cores_thresholds_and_an_hour_of_grace() -> None:
    s = ScheduledTasksSpec(type="moodle_scheduled_tasks")
    assert (s.fail_delay_warning, s.fail_delay_critical) == (300, 4 * 3600)
    assert (s.runtime_warning, s.runtime_critical, s.overdue_grace) == (12 * 3600, 86400, 3600)


def test_ignored_classnames_get_moodles_leading_backslash() -> None:
    s = ScheduledTasksSpec(type="moodle_scheduled_tasks", overdue_ignore=("tool_x\\task\\y",))
    assert s.overdue_ignore == ("\\tool_x\\task\\y",)


def test_a_milder_critical_fail_delay_is_rejected() -> None:
    with pytest.raises(ValidationError, match="fail_delay_critical"):
        ScheduledTasksSpec(type="moodle_scheduled_tasks", fail_delay_warning="1h",
                           fail_delay_critical="10m")


def test_durations_read_like_moodles_short_format() -> None:
    assert [fmt_duration(s) for s in (0, 45, 60, 8040, 15360, 3 * 86400 + 7200)] == [
        "0s", "45s", "1m", "2h 14m", "4h 16m", "3d 2h"]


# ------------------------------------------------------------------ healthy
async def test_a_healthy_site_has_no_failing_overdue_or_running_task(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK
    assert result.summary == (f"{ENABLED} scheduled tasks enabled ({PLUGIN_DISABLED} of "
                              "disabled plugins, not expected to run), none failing or "
                              "overdue; 0 running")
    assert set(values(result).values()) == {0}


# ------------------------------------------------------------------ failing
async def test_a_first_failure_is_named_but_not_yet_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().failing_scheduled_task(faildelay=60)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert result.summary == ("1 scheduled task(s) failing: \\core\\task\\search_index_task; "
                              "worst fail delay 1m")


async def test_a_fourth_consecutive_failure_is_a_warning(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().failing_scheduled_task(faildelay=480)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert values(result)["lms_moodle_scheduled_tasks_failing"] == 1
    assert values(result)["lms_moodle_scheduled_max_fail_delay_seconds"] == 480
    assert result.details["failing"][0]["classname"] == "\\core\\task\\search_index_task"


async def test_a_fail_delay_past_four_hours_is_critical_and_names_every_failing_task(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.failing_scheduled_task("\\core\\task\\search_index_task", faildelay=15360)
    s.failing_scheduled_task("\\mod_forum\\task\\cron_task", faildelay=120)
    s.failing_scheduled_task("\\core\\task\\grade_cron_task", faildelay=960)
    s.failing_scheduled_task("\\core\\task\\tag_cron_task", faildelay=60)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == (
        "4 scheduled task(s) failing: \\core\\task\\search_index_task, "
        "\\core\\task\\grade_cron_task, \\mod_forum\\task\\cron_task, +1 more; "
        "worst fail delay 4h 16m")
    assert [row["faildelay"] for row in result.details["failing"]] == [15360, 960, 120, 60]


async def test_a_disabled_task_that_failed_is_not_reported(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().scheduled_task(
        CORE_DISABLED_TASKS[0], disabled=1, faildelay=86400)
    assert (await run(moodle_ctx_fast)).status == Status.OK


async def test_details_list_at_most_ten_failing_tasks_but_count_them_all(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    for classname, *_ in CORE_SCHEDULED_TASKS[:12]:
        s.failing_scheduled_task(classname, faildelay=600)
    result = await run(moodle_ctx_fast)
    assert values(result)["lms_moodle_scheduled_tasks_failing"] == 12
    assert len(result.details["failing"]) == 10
    assert ", +9 more;" in result.summary


# ------------------------------------------------------------------ overdue
async def test_a_task_three_hours_overdue_is_a_warning(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().overdue_task(overdue_by=3 * 3600)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == ("1 scheduled task(s) overdue: \\core\\task\\automated_backup_task "
                              "by 3h")
    assert result.details["overdue"][0]["overdue_seconds"] == 3 * 3600


async def test_a_task_due_half_an_hour_ago_is_within_the_grace(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().overdue_task(overdue_by=1800)
    assert (await run(moodle_ctx_fast)).status == Status.OK


async def test_an_ignored_or_unchecked_overdue_task_is_not_reported(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().overdue_task(overdue_by=3 * 3600)
    ignored = await run(moodle_ctx_fast, overdue_ignore=["core\\task\\automated_backup_task"])
    assert ignored.status == Status.OK
    assert (await run(moodle_ctx_fast, overdue_grace=None)).status == Status.OK


async def test_when_most_tasks_are_overdue_the_summary_points_at_cron(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    for classname, *_ in CORE_SCHEDULED_TASKS:
        s.overdue_task(classname, overdue_by=5 * 3600)
    result = await run(moodle_ctx_fast)
    assert result.summary.endswith("(most tasks are overdue: is cron running?)")
    assert values(result)["lms_moodle_scheduled_tasks_overdue"] == len(CORE_SCHEDULED_TASKS)


# ------------------------------------------------------------------ running
async def test_a_task_running_thirteen_hours_is_a_warning(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().long_running_task(hours=13, hostname="web2", pid=7)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert result.summary == ("1 scheduled task(s) running too long: "
                              "\\core\\task\\stats_cron_task for 13h")
    assert values(result)["lms_moodle_scheduled_longest_runtime_seconds"] == 13 * 3600
    assert values(result)["lms_moodle_scheduled_tasks_running"] == 1


async def test_a_task_running_more_than_a_day_is_critical(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().long_running_task(hours=25, hostname="web2", pid=7)
    assert (await run(moodle_ctx)).status == Status.CRITICAL


async def test_a_running_row_whose_process_died_on_this_host_is_stale(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().long_running_task(hours=0.5, hostname=HOST, pid=4242)
    result = await run(moodle_ctx, FakeProcesses(1))
    assert result.status == Status.WARNING
    assert result.summary == ("1 scheduled task(s) marked running by a process that no longer "
                              "exists on this host: \\core\\task\\stats_cron_task (pid 4242)")
    assert values(result)["lms_moodle_scheduled_tasks_stale"] == 1
    assert result.details["running"][0]["stale"] is True


async def test_a_live_process_or_another_host_is_not_stale(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.long_running_task(hours=0.5, hostname=HOST, pid=4242)
    s.long_running_task(hours=0.5, hostname="web2", pid=99,
                        classname="\\core\\task\\grade_cron_task")
    result = await run(moodle_ctx_fast, FakeProcesses(4242))
    assert result.status == Status.OK
    assert values(result)["lms_moodle_scheduled_tasks_running"] == 2
    assert values(result)["lms_moodle_scheduled_tasks_stale"] == 0


async def test_pid_checks_can_be_turned_off_for_a_container_with_the_sites_hostname(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().long_running_task(hours=0.5, hostname=HOST, pid=4242)
    assert (await run(moodle_ctx_fast, FakeProcesses(), check_local_pids=False)
            ).status == Status.OK


async def test_the_real_process_table_tells_a_live_pid_from_a_finished_one(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    gone = subprocess.Popen(["true"])  # noqa: S603,S607
    gone.wait()
    s = moodle_db_fast.scenario.healthy_site()
    s.long_running_task(hours=0.2, hostname=socket.gethostname(), pid=os.getpid())
    s.long_running_task(hours=0.2, hostname=socket.gethostname(), pid=gone.pid,
                        classname="\\core\\task\\grade_cron_task")
    result = await run(moodle_ctx_fast, LocalProcesses())
    assert {r["task"]: r["stale"] for r in result.details["running"]} == {
        "\\core\\task\\stats_cron_task": False, "\\core\\task\\grade_cron_task": True}


# ------------------------------------------------------------------ cannot judge
async def test_a_missing_task_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.drop_table("task_scheduled")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)
