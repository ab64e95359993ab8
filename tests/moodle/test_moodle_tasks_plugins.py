"""moodle_scheduled_tasks leaves out tasks of disabled plugins, as Moodle's cron skips them.

On PostgreSQL and MariaDB, through the double's stock plugin state (scenario_plugins.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.base import CheckContext
from checks.moodle.plugin_state import JUDGED_TYPES, split_component
from monitor.kernel.result import Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle.test_moodle_tasks import ENABLED, PLUGIN_DISABLED, run, values
from tests.moodle_double.scenario_tasks import STOCK_DISABLED_PLUGIN_TASKS
from tests.moodle_double.sitedir import make_site

HOURS_3 = 3 * 3600

# One plugin per judged type: (component, a scheduled task of it, enabled in a stock site).
# Tasks not in a stock tree are named example_task: what a plugin of that type could add.
PLUGINS = (
    ("enrol_category", "\\enrol_category\\task\\enrol_category_sync", False),
    ("auth_db", "\\auth_db\\task\\sync_users", False),
    ("antivirus_clamav", "\\antivirus_clamav\\task\\example_task", False),
    ("mod_bigbluebuttonbn", "\\mod_bigbluebuttonbn\\task\\check_pending_recordings", False),
    ("block_rss_client", "\\block_rss_client\\task\\refreshfeeds", False),
    ("message_sms", "\\message_sms\\task\\example_task", False),
    ("repository_dropbox", "\\repository_dropbox\\task\\cron_task", False),
    ("logstore_database", "\\logstore_database\\task\\example_task", False),
    ("factor_grace", "\\factor_grace\\task\\revoke_expired_factors", False),
    ("customfield_number", "\\customfield_number\\task\\cron", True),
    ("aiprovider_openai", "\\aiprovider_openai\\task\\example_task", True),
    ("availability_date", "\\availability_date\\task\\example_task", True),
    ("communication_matrix", "\\communication_matrix\\task\\example_task", True),
    ("smsgateway_aws", "\\smsgateway_aws\\task\\example_task", True),
    ("dataformat_csv", "\\dataformat_csv\\task\\example_task", True),
    ("format_weeks", "\\format_weeks\\task\\example_task", True),
    ("qbank_comment", "\\qbank_comment\\task\\example_task", True),
    ("contenttype_h5p", "\\contenttype_h5p\\task\\example_task", True),
)


def _stock_tasks_of(component: str) -> int:
    return sum(1 for c, *_ in STOCK_DISABLED_PLUGIN_TASKS if c.startswith(f"\\{component}\\"))


def test_every_judged_plugin_type_is_tested() -> None:
    assert sorted(component.split("_")[0] for component, *_ in PLUGINS) == list(JUDGED_TYPES)


def test_components_split_as_moodles_normalize_component() -> None:
    assert split_component("enrol_lti") == ("enrol", "lti")
    assert split_component("block_rss_client") == ("block", "rss_client")
    assert [split_component(c) for c in ("moodle", "core", "core_course", "forum", "")] == [
        None] * 5


async def test_a_stock_site_whose_disabled_plugins_tasks_are_days_past_due_is_ok(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK
    assert values(result)["lms_moodle_scheduled_tasks_overdue"] == 0
    assert result.details["plugin_disabled"] == PLUGIN_DISABLED
    assert result.details["disabled_components"][:3] == [
        "block_rss_client", "enrol_category", "enrol_flatfile"]
    assert f"({PLUGIN_DISABLED} of disabled plugins, not expected to run)" in result.summary
    # Without the plugin state Moodle keeps, the same rows would all be overdue.
    moodle_db.scenario.enable_plugin("enrol_category")
    assert values(await run(moodle_ctx))["lms_moodle_scheduled_tasks_overdue"] == 1


@pytest.mark.parametrize(("component", "classname", "stock_enabled"), PLUGINS,
                         ids=[p[0] for p in PLUGINS])
async def test_the_task_of_a_disabled_plugin_is_overdue_once_the_plugin_is_enabled(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, component: str,
        classname: str, stock_enabled: bool) -> None:
    s = moodle_db_fast.scenario.healthy_site().overdue_task(classname, overdue_by=HOURS_3)
    if stock_enabled:
        s.enable_plugin(component, 0)
    off = await run(moodle_ctx_fast)
    assert off.status == Status.OK
    assert values(off)["lms_moodle_scheduled_tasks_overdue"] == 0
    s.enable_plugin(component, 1)
    on = await run(moodle_ctx_fast)
    assert on.status == Status.WARNING
    assert classname in [row["classname"] for row in on.details["overdue"]]
    late = max(1, _stock_tasks_of(component))
    assert values(on)["lms_moodle_scheduled_tasks_overdue"] == late
    assert on.details["plugin_disabled"] == off.details["plugin_disabled"] - late


async def test_a_repository_enabled_but_hidden_still_runs_its_tasks(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    # plugininfo/repository.php: any repository row is enabled, visible 0 or 1.
    s = moodle_db_fast.scenario.healthy_site().enable_plugin("repository_dropbox", 0)
    assert values(await run(moodle_ctx_fast))["lms_moodle_scheduled_tasks_overdue"] == 1
    s.enable_plugin("repository_dropbox", -1)
    assert (await run(moodle_ctx_fast)).status == Status.OK


async def test_an_overdue_task_of_an_enabled_plugin_warns(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().overdue_task("\\enrol_manual\\task\\sync_enrolments",
                                                   overdue_by=HOURS_3)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == ("1 scheduled task(s) overdue: "
                              "\\enrol_manual\\task\\sync_enrolments by 3h")


@pytest.mark.parametrize("classname", ["\\local_reports\\task\\example_task",
                                       "\\tool_monitor\\task\\clean_events",
                                       "\\qtype_essay\\task\\example_task",
                                       "\\filter_mathjaxloader\\task\\example_task"])
async def test_tasks_of_types_that_always_run_or_are_not_judged_stay_in(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, classname: str) -> None:
    # local/tool: Moodle runs them always; qtype/filter: not read here, so never hidden.
    moodle_db_fast.scenario.healthy_site().overdue_task(classname, overdue_by=HOURS_3)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert [row["classname"] for row in result.details["overdue"]] == [classname]


async def test_an_unset_enrol_list_disables_every_enrol_plugin_as_in_php(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    # explode(',', null) is [''] (plugininfo/enrol.php:48): no enrol plugin is enabled.
    s = moodle_db_fast.scenario.healthy_site().unset_config("enrol_plugins_enabled")
    s.overdue_task("\\enrol_manual\\task\\sync_enrolments", overdue_by=HOURS_3)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    assert result.details["plugin_disabled"] == PLUGIN_DISABLED + 5  # manual x2, self x2, cohort


async def test_a_factor_counts_as_enabled_only_when_its_setting_equals_one(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    for value, overdue in (("1", 1), (" 1.0", 1), ("yes", 0), ("", 0)):
        s.set_plugin_config("factor_grace", "enabled", value)
        result = await run(moodle_ctx_fast)
        assert values(result)["lms_moodle_scheduled_tasks_overdue"] == overdue, value


async def test_a_failing_task_of_a_disabled_plugin_is_still_counted_as_maxfaildelay_does(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().failing_scheduled_task(
        "\\enrol_category\\task\\enrol_category_sync", faildelay=480)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert values(result)["lms_moodle_scheduled_tasks_failing"] == 1
    assert values(result)["lms_moodle_scheduled_tasks_overdue"] == 0


async def test_an_ignored_task_and_a_disabled_plugin_combine(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site().enable_plugin("block_rss_client")
    result = await run(moodle_ctx_fast, overdue_ignore=["block_rss_client\\task\\refreshfeeds"])
    assert result.status == Status.OK
    assert result.details["enabled"] == ENABLED
    s.enable_plugin("block_rss_client", 0)
    assert (await run(moodle_ctx_fast)).status == Status.OK


async def test_settings_forced_in_config_php_win_over_the_tables(
        moodle_db_fast: MoodleDouble, now: float, tmp_path: Path) -> None:
    # initialise_cfg() keeps $CFG set in config.php; get_config() returns
    # forced_plugin_settings first. A non-plain forced list judges nothing (kept in).
    s = moodle_db_fast.scenario.healthy_site()
    for classname in ("\\auth_db\\task\\sync_users", "\\enrol_manual\\task\\sync_enrolments",
                      "\\logstore_database\\task\\example_task",
                      "\\antivirus_clamav\\task\\example_task"):
        s.overdue_task(classname, overdue_by=HOURS_3)
    fake = make_site(tmp_path, config_extra=(
        "$CFG->auth = 'email,db';\n$CFG->enrol_plugins_enabled = 'guest';\n"
        "$CFG->antiviruses = ['clamav'];\n$CFG->forced_plugin_settings = ['tool_log' => "
        "['enabled_stores' => 'logstore_standard,logstore_database']];"))
    overdue = {}
    for dirroot in (fake.root, None):
        ctx = make_moodle_ctx(moodle_db_fast.settings, now, dirroot, None)
        try:
            result = await run(ctx)
        finally:
            ctx.site.close()
        overdue[dirroot] = sorted(row["classname"] for row in result.details["overdue"])
    assert overdue[fake.root] == [
        "\\antivirus_clamav\\task\\example_task", "\\auth_db\\task\\sync_users",
        "\\logstore_database\\task\\example_task"]
    # The tables alone judge the other way round for all but the antivirus.
    assert overdue[None] == ["\\enrol_manual\\task\\sync_enrolments"]
