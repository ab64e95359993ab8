"""The moodle_upgrade probe: fake site directories (4.5 and 5.1 layouts) against a
Moodle-shaped database on PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.base import CheckContext, CheckUnavailable
from checks.moodle import upgrade as MODULE
from checks.moodle.codebase import read_code_versions
from checks.moodle.registry import MOODLE_METRICS
from checks.moodle.upgrade import UpgradeCheck, UpgradeSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.sitedir import DEFAULT_PLUGINS, FakeSite, make_site

NOW = 1_800_000_000.0


def spec(**fields: object) -> UpgradeSpec:
    return UpgradeSpec.model_validate({"type": "moodle_upgrade", **fields})


@pytest.fixture(params=["4.5", "5.1"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> FakeSite:
    return make_site(tmp_path, request.param)


def in_sync(db: MoodleDouble, site: FakeSite) -> MoodleDouble:
    """The database as after a finished upgrade of exactly this code."""
    core = site.state()
    db.scenario.site_version(f"{core['version']:.2f}", core["release"], site.layout.replace(
        ".", "0"))
    for plugin in read_code_versions(site.root).plugins.values():
        db.scenario.plugin_version(plugin.component, int(plugin.version or 0))
    return db


@pytest.fixture
def make_ctx(site: FakeSite) -> Iterator:
    opened: list[CheckContext] = []

    def build(db: MoodleDouble, now: float = NOW, cli: bool = False) -> CheckContext:
        ctx = site.context(now, database=db.settings, cli=cli)
        opened.append(ctx)
        return ctx

    yield build
    for ctx in opened:
        ctx.site.close()


async def run(check: UpgradeCheck, ctx: CheckContext) -> Result:
    result = await check.run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
            for s in result.samples}


async def test_a_site_whose_code_matches_the_database_is_ok(
        moodle_db: MoodleDouble, site: FakeSite, make_ctx) -> None:
    result = await run(UpgradeCheck(spec()), make_ctx(in_sync(moodle_db, site)))
    assert result.status == Status.OK
    assert result.summary.startswith(f"code and database agree (core {site.state()['version']:.2f}"
                                     f", {len(DEFAULT_PLUGINS)} plugins)")
    assert values(result)["lms_moodle_upgrade_pending"] == 0.0
    assert values(result)["lms_moodle_plugins{uptodate}"] == len(DEFAULT_PLUGINS)
    assert values(result)["lms_moodle_core_version{disk}"] == site.state()["version"]


async def test_new_core_code_is_an_upgrade_pending_then_critical_after_an_hour(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    site.set_core_version(site.state()["version"] + 0.01)
    check = UpgradeCheck(spec())
    first = await run(check, make_ctx(moodle_db_fast, NOW))
    assert first.status == Status.WARNING
    assert first.summary.startswith("upgrade pending (core ")
    assert "cron is suspended until admin/cli/upgrade.php runs" in first.summary
    later = await run(check, make_ctx(moodle_db_fast, NOW + 3600))
    assert later.status == Status.CRITICAL
    assert later.summary.startswith("upgrade pending for 1h 0m")
    assert later.details["pending_since"] == NOW


async def test_a_plugin_upgrade_and_a_new_plugin_are_pending(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    site.set_plugin("mod_quiz", 2030010100)
    site.set_plugin("local_reports", 2024010100)
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast))
    assert result.status == Status.WARNING
    assert "1 plugin(s) to upgrade: mod_quiz" in result.summary
    assert "1 plugin(s) to new: local_reports" in result.summary
    assert result.details["plugins"] == {"upgrade": ["mod_quiz"], "new": ["local_reports"]}


async def test_code_older_than_the_database_is_critical(
        moodle_db: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db, site)
    site.set_plugin("mod_assign", 2020010100)
    site.set_core_version(2020010100.00)
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db))
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("core code on disk (2020010100.00) is older than the "
                                     "database")
    assert "1 plugin(s) older on disk than in the database: mod_assign" in result.summary
    assert values(result)["lms_moodle_plugins{downgrade}"] == 1.0


async def test_a_plugin_in_the_database_but_missing_from_disk_is_critical(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    site.set_plugin("block_html", None)
    moodle_db_fast.scenario.plugin_version("qtype_someone", 2023010100)  # subplugin-less type
    moodle_db_fast.scenario.plugin_version("foo_bar", 2023010100)  # a type nobody knows
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast))
    assert result.status == Status.CRITICAL
    assert "2 plugin(s) in the database but missing from disk: block_html, qtype_someone" \
        in result.summary
    assert result.details["unchecked_components"] == ["foo_bar"]


async def test_a_standard_plugin_core_deleted_is_an_upgrade_not_missing(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    moodle_db_fast.scenario.plugin_version("block_oldone", 2019010100)
    (site.root / "lib" / "plugins.json").write_text(json.dumps(
        {"standard": {}, "deleted": {"block": ["oldone"]}}))
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast))
    assert result.status == Status.WARNING
    assert "1 plugin(s) to delete: block_oldone" in result.summary


async def test_subplugins_are_found_through_subplugins_json(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    quiz = site.set_plugin("mod_quiz", 2024100700)
    (quiz / "db").mkdir()
    (quiz / "db" / "subplugins.json").write_text(json.dumps(
        {"subplugintypes": {"quiz": "report"}}))
    (quiz / "report" / "overview").mkdir(parents=True)
    (quiz / "report" / "overview" / "version.php").write_text(
        "<?php\n$plugin->version = 2024100701;\n$plugin->component = 'quiz_overview';\n")
    in_sync(moodle_db_fast, site)
    moodle_db_fast.scenario.plugin_version("quiz_statistics", 2024100700)
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast))
    assert result.status == Status.CRITICAL
    assert "missing from disk: quiz_statistics" in result.summary


async def test_a_stuck_upgrade_is_critical_and_a_running_one_a_warning(
        moodle_db: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db, site)
    moodle_db.scenario.upgrade_running(since=600)
    running = await run(UpgradeCheck(spec()), make_ctx(moodle_db))
    assert running.status == Status.WARNING
    assert running.summary.startswith("upgrade running")
    moodle_db.scenario.upgrade_running(since=3 * 3600)
    stuck = await run(UpgradeCheck(spec()), make_ctx(moodle_db))
    assert stuck.status == Status.CRITICAL
    assert stuck.summary.startswith("upgrade stuck: config upgraderunning expected it to end "
                                    "2h 55m ago")
    assert values(stuck)["lms_moodle_upgrade_running"] == 1.0


async def test_an_outageless_upgrade_lock_left_set_is_a_warning(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site).scenario.outageless_upgrade()
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast))
    assert result.status == Status.WARNING
    assert result.summary.startswith("outageless upgrade lock left set")


async def test_the_cli_cross_check_is_used_when_cli_access_is_configured(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast, cli=True))
    assert result.status == Status.OK and result.details["cli_is_pending"] is False
    site.update_state(upgrade_pending=True)  # e.g. a hash difference only Moodle sees
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast, cli=True))
    assert result.status == Status.WARNING
    assert "admin/cli/upgrade.php --is-pending says so" in result.summary
    site.cli_mode("upgrade.php", "fatal")
    result = await run(UpgradeCheck(spec()), make_ctx(moodle_db_fast, cli=True))
    assert result.status == Status.OK
    assert "PHP fatal error" in result.details["cli_is_pending"]


async def test_a_database_without_moodle_is_unavailable(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    with pytest.raises(CheckUnavailable, match="no config.version row in the mdl_config table"):
        await UpgradeCheck(spec()).run(make_ctx(moodle_db_fast))


async def test_a_code_directory_without_version_php_is_unavailable(
        moodle_db_fast: MoodleDouble, site: FakeSite, make_ctx) -> None:
    in_sync(moodle_db_fast, site)
    site.version_php.unlink()
    with pytest.raises(CheckUnavailable, match="no version.php under"):
        await UpgradeCheck(spec()).run(make_ctx(moodle_db_fast))


async def test_a_refused_database_login_is_unavailable(
        moodle_db_fast: MoodleDouble, site: FakeSite) -> None:
    ctx = site.context(database=moodle_db_fast.settings_with(user="vigil_no_such_user"), cli=False)
    try:
        with pytest.raises(CheckUnavailable, match="cannot query"):
            await UpgradeCheck(spec()).run(ctx)
    finally:
        ctx.site.close()


def test_every_sample_name_in_the_module_is_declared_and_catalogued() -> None:
    source = Path(MODULE.__file__ or "").read_text(encoding="utf-8")
    used = set(re.findall(r'"(lms_[a-z0-9_]+)"', source))
    assert used == set(MODULE.METRICS)
    assert all(name in MOODLE_METRICS for name in MODULE.METRICS)
