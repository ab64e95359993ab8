"""The moodle_branch_support probe and its bundled tables: dates judged with an injected
``now``, the branch from a fake site directory or the database (PostgreSQL and MariaDB), the
PHP version from the site's (fake) php binary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from checks.base import CheckContext, CheckUnavailable
from checks.moodle import branches as MODULE
from checks.moodle.branch_table import (
    MOODLE_BRANCHES,
    PHP_BRANCHES,
    branch_from_code,
    major_version,
    moodle_branch,
    timestamp,
    version_key,
)
from checks.moodle.branches import BranchSupportCheck, BranchSupportSpec
from checks.moodle.registry import MOODLE_METRICS
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.sitedir import FakeSite, make_site


def at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def spec(**fields: object) -> BranchSupportSpec:
    return BranchSupportSpec.model_validate({"type": "moodle_branch_support", **fields})


@pytest.fixture
def site(tmp_path: Path) -> FakeSite:
    """Moodle 4.5 LTS (4.x layout) whose php says 8.3.14."""
    return make_site(tmp_path, "4.5")


async def run(ctx: CheckContext, **fields: object) -> Result:
    result = await BranchSupportCheck(spec(**fields)).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


# -- the tables ------------------------------------------------------------------------------
def test_every_branch_row_is_ordered_sourced_and_consistent() -> None:
    names = [b.name for b in MOODLE_BRANCHES]
    assert names == sorted(names, key=version_key) and len(set(names)) == len(names)
    for row in MOODLE_BRANCHES:
        assert row.released < row.general_end <= row.security_end, row.name
        assert version_key(row.php_min) <= version_key(row.php_max), row.name
        assert "versions.json" in row.source or "moodledev.io" in row.source, row.name
        if row.lts:  # LTS: three years of security fixes
            assert (row.security_end - row.released).days >= 3 * 365 - 60, row.name
    assert {"4.1", "4.5", "5.0", "5.1", "5.2"} <= set(names)
    assert moodle_branch("4.5").security_end == date(2027, 10, 6)  # type: ignore[union-attr]


def test_every_php_row_is_ordered_and_ends_after_it_starts() -> None:
    assert [p.name for p in PHP_BRANCHES] == sorted((p.name for p in PHP_BRANCHES),
                                                    key=version_key)
    for row in PHP_BRANCHES:
        assert row.released < row.active_end < row.security_end, row.name
    assert {"8.1", "8.2", "8.3", "8.4"} <= {p.name for p in PHP_BRANCHES}


def test_branch_names_come_from_release_or_branch_as_moodle_reads_them() -> None:
    assert major_version("4.5.3+ (Build: 20250321)") == "4.5"
    assert major_version("5.1+ (Build: 20251017)") == "5.1"
    assert [branch_from_code(b) for b in ("39", "311", "405", "501", "x")] == [
        "3.9", "3.11", "4.5", "5.1", None]


# -- the branch's dates ----------------------------------------------------------------------
@pytest.mark.parametrize(("day", "status", "summary"), [
    ("2025-01-15", Status.OK, "Moodle 4.5 LTS security support until 06 Oct 2027 (994d)"),
    ("2026-01-15", Status.OK, "Moodle 4.5 LTS security support until 06 Oct 2027 (629d), bug "
                              "fixes ended"),
    ("2027-08-01", Status.WARNING, "Moodle 4.5 LTS security support ends in 66d (06 Oct 2027)"
                                   ": plan the upgrade"),
    ("2027-11-05", Status.CRITICAL, "Moodle 4.5 LTS security support ended 30d ago (06 Oct "
                                    "2027): no more security fixes"),
])
async def test_the_branch_warns_90_days_before_security_support_ends_and_is_critical_after(
        site: FakeSite, day: str, status: Status, summary: str) -> None:
    result = await run(site.context(at(day), cli=False))
    assert result.status == status
    assert result.summary.startswith(summary)
    assert values(result)["lms_moodle_branch_security_support_end_timestamp_seconds"] == \
        timestamp(date(2027, 10, 6))


async def test_the_warning_period_is_configurable(site: FakeSite) -> None:
    result = await run(site.context(at("2027-08-01"), cli=False), warn_before="30d")
    assert result.status == Status.OK


async def test_a_51_site_reads_its_branch_from_public_version_php(tmp_path: Path) -> None:
    site = make_site(tmp_path, "5.1")
    result = await run(site.context(at("2027-01-20"), cli=False))
    assert result.status == Status.WARNING  # 5.1 security support ends 19 Apr 2027
    assert result.summary.startswith("Moodle 5.1 security support ends in 89d (19 Apr 2027)")
    assert result.details["branch"] == "5.1" and result.details["branch_from"] == "version.php"


async def test_a_branch_older_than_the_table_is_critical_and_a_newer_one_unknown(
        site: FakeSite) -> None:
    site.set_core_version(2020061500.00, "3.9 (Build: 20200615)")
    old = await run(site.context(at("2027-01-15"), cli=False))
    assert old.status == Status.CRITICAL
    assert old.summary == ("Moodle 3.9 is older than every branch in Vigil's table (3.11+): "
                           "out of security support; PHP version unknown (set php_version or "
                           "[lms.moodle.cli])")
    site.set_core_version(2028100600.00, "6.2 (Build: 20281006)")
    new = await run(site.context(at("2029-01-15"), cli=False))
    assert new.status == Status.UNKNOWN
    assert new.summary.startswith("Moodle 6.2 is not in Vigil's branch table (newest 5.3): "
                                  "update Vigil")


async def test_the_branch_comes_from_the_database_without_a_code_directory(
        moodle_db: MoodleDouble) -> None:
    moodle_db.scenario.site_version("2022112810.00", "4.1.10 (Build: 20240422)", "401")
    ctx = make_moodle_ctx(moodle_db.settings, at("2026-01-15"), None, None)
    try:
        result = await run(ctx)
    finally:
        ctx.site.close()
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("Moodle 4.1 LTS security support ended 38d ago (08 Dec "
                                     "2025): no more security fixes")
    assert result.details["branch_from"] == "database"


async def test_an_empty_database_is_unavailable(moodle_db_fast: MoodleDouble) -> None:
    ctx = make_moodle_ctx(moodle_db_fast.settings, at("2026-01-15"), None, None)
    try:
        with pytest.raises(CheckUnavailable, match="no config release/branch in "):
            await run(ctx)
    finally:
        ctx.site.close()


# -- PHP -----------------------------------------------------------------------------------
async def test_php_from_the_sites_php_binary_is_judged_against_the_branch_and_php_net(
        site: FakeSite) -> None:
    result = await run(site.context(at("2026-01-15")))
    assert result.status == Status.OK
    assert result.summary.endswith("PHP 8.3 until 31 Dec 2027")
    assert values(result)["lms_moodle_php_supported"] == 1
    assert values(result)["lms_moodle_php_security_support_end_timestamp_seconds"] == \
        timestamp(date(2027, 12, 31))
    assert site.calls()[-1]["argv"] == ["-r", "echo PHP_VERSION;"]


async def test_a_php_the_branch_does_not_support_is_critical(site: FakeSite) -> None:
    site.update_state(php_version="8.4.3")
    result = await run(site.context(at("2026-01-15")))
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("PHP 8.4 is not supported by Moodle 4.5 (PHP 8.1-8.3)")
    assert values(result)["lms_moodle_php_supported"] == 0
    accepted = await run(site.context(at("2026-01-15")), extra_php_versions=["8.4"])
    assert accepted.status == Status.OK


@pytest.mark.parametrize(("day", "status", "text"), [
    ("2025-11-01", Status.WARNING, "PHP 8.1 security support ends in 60d (31 Dec 2025)"),
    ("2026-01-15", Status.CRITICAL, "PHP 8.1 security support ended 15d ago (31 Dec 2025)"),
])
async def test_php_support_ending_warns_then_is_critical(
        site: FakeSite, day: str, status: Status, text: str) -> None:
    site.update_state(php_version="8.1.31")
    result = await run(site.context(at(day)))
    assert result.status == status
    assert text in result.summary


async def test_a_vendors_php_support_date_overrides_php_net(site: FakeSite) -> None:
    site.update_state(php_version="8.1.2-1ubuntu2.20")  # Ubuntu's PHP_VERSION
    result = await run(site.context(at("2026-01-15")), php_security_end="2027-04-30")
    assert result.status == Status.OK
    assert result.summary.endswith("PHP 8.1 until 30 Apr 2027")


async def test_a_php_version_in_the_spec_skips_the_cli(site: FakeSite) -> None:
    result = await run(site.context(at("2026-01-15")), php_version="8.2.20")
    assert "PHP 8.2 until 31 Dec 2026" in result.summary
    assert not site.calls()


async def test_a_php_binary_that_prints_garbage_is_a_warning_naming_it(site: FakeSite) -> None:
    site.update_state(php_version="Segmentation fault")
    result = await run(site.context(at("2026-01-15")))
    assert result.status == Status.WARNING
    assert result.summary.startswith("cannot read the PHP version: php printed "
                                     "'Segmentation fault'")


async def test_a_missing_php_binary_is_a_warning_naming_it(site: FakeSite) -> None:
    site.php.unlink()
    result = await run(site.context(at("2026-01-15")))
    assert result.status == Status.WARNING
    assert result.summary.startswith("cannot read the PHP version: cannot run php -r echo "
                                     "PHP_VERSION;:")


def test_every_declared_sample_is_catalogued_and_the_type_is_registered() -> None:
    from checks.moodle.registry import MOODLE_CHECK_TYPES
    assert set(MODULE.METRICS) <= set(MOODLE_METRICS)
    assert MOODLE_CHECK_TYPES["moodle_branch_support"] == (BranchSupportSpec, BranchSupportCheck)
    assert "moodle_updates" in MOODLE_CHECK_TYPES
