"""The moodle_maintenance probe: the climaintenance.html marker in a real directory and the
config rows on PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from checks.base import CheckContext, CheckUnavailable, covered_by_window
from checks.moodle import maintenance as MODULE
from checks.moodle.maintenance import (
    MaintenanceCheck,
    MaintenanceSpec,
    MaintenanceState,
    judge,
)
from checks.moodle.registry import MOODLE_METRICS
from checks.moodle.settings import MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble

NOW = 1_800_000_000.0


def spec(**fields: object) -> MaintenanceSpec:
    return MaintenanceSpec.model_validate({"type": "moodle_maintenance", **fields})


async def run(ctx: CheckContext, **fields: object) -> Result:
    result = await MaintenanceCheck(spec(**fields)).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def enabled(result: Result, mode: str) -> float:
    return next(s.value for s in result.samples
                if s.name == "lms_moodle_maintenance_enabled" and s.labels["mode"] == mode)


async def test_a_site_not_in_maintenance_is_ok(moodle_db: MoodleDouble,
                                               moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert (result.status, result.summary) == (Status.OK, "not in maintenance mode")
    assert enabled(result, "cli") == 0.0 and enabled(result, "web") == 0.0


async def test_cli_maintenance_is_critical_and_not_covered(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext, moodle_dataroot: Path) -> None:
    moodle_db.scenario.healthy_site().cli_maintenance_on(moodle_dataroot)
    os.utime(moodle_dataroot / "climaintenance.html", (NOW - 5400, NOW - 5400))
    moodle_db.scenario.set_config("maintenance_enabled", "cli mode")
    result = await run(moodle_ctx)
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("CLI maintenance mode on for 1h 30m (dataroot/"
                                     "climaintenance.html: every page answers 503)")
    assert result.summary.endswith("; not covered by a Vigil maintenance window")
    assert enabled(result, "cli") == 1.0
    assert result.details["covered"] is False


async def test_web_maintenance_is_critical(moodle_db_fast: MoodleDouble,
                                           moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().maintenance_on("Back at noon")
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.summary == ("web maintenance mode on: users without maintenance access get "
                              "a 503 page; not covered by a Vigil maintenance window")
    assert result.details["message"] == "Back at noon"
    assert enabled(result, "web") == 1.0


async def test_a_cli_mode_value_without_the_file_is_reported_as_left_over(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().set_config("maintenance_enabled", "cli mode")
    result = await run(moodle_ctx_fast, web_status="WARNING")
    assert result.status == Status.WARNING
    assert "(left over from CLI mode: climaintenance.html is gone)" in result.summary


async def test_scheduled_maintenance_is_a_warning_saying_when(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site().maintenance_later(int(NOW) + 1800)
    result = await run(moodle_ctx)
    assert result.status == Status.WARNING
    assert result.summary == ("CLI maintenance scheduled for 2027-01-15 08:30 UTC (in 30m); "
                              "not covered by a Vigil maintenance window")
    scheduled = [s for s in result.samples
                 if s.name == "lms_moodle_maintenance_scheduled_timestamp_seconds"]
    assert scheduled[0].value == NOW + 1800


async def test_scheduled_maintenance_that_is_due_says_it_starts_with_the_next_request(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site().maintenance_later(int(NOW) - 60)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.WARNING
    assert "it starts with the next web request" in result.summary


async def test_without_a_database_the_marker_file_is_still_checked(tmp_path: Path) -> None:
    (tmp_path / "climaintenance.html").write_text("<h1>maintenance</h1>")
    ctx = CheckContext(target=None, timeout=10, now=lambda: NOW,  # type: ignore[arg-type]
                       run_blocking=_to_thread, site=MoodleSite(MoodleSettings(dataroot=tmp_path)))
    assert (await run(ctx)).status == Status.CRITICAL


async def test_with_neither_dataroot_nor_database_it_is_unavailable() -> None:
    ctx = CheckContext(target=None, timeout=10, now=lambda: NOW,  # type: ignore[arg-type]
                       run_blocking=_to_thread, site=MoodleSite(MoodleSettings()))
    with pytest.raises(CheckUnavailable, match="needs lms.moodle.dataroot"):
        await run(ctx)


async def test_a_missing_config_table_is_unavailable(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.drop_table("config")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)


def test_covered_by_window_is_a_half_open_interval() -> None:
    windows = [(100.0, 200.0), (300.0, 400.0)]
    assert covered_by_window(100.0, windows) and covered_by_window(399.9, windows)
    assert not covered_by_window(200.0, windows) and not covered_by_window(50.0, windows)
    assert not covered_by_window(150.0, [])


def test_maintenance_inside_a_window_is_ok_and_says_so() -> None:
    state = MaintenanceState(NOW - 60, "cli mode", None, None, True)
    result = judge(spec(), state, NOW, windows=[(NOW - 600, NOW + 600)])
    assert result.status == Status.OK
    assert result.summary.endswith("(covered by a Vigil maintenance window)")
    assert next(s.value for s in result.samples
                if s.name == "lms_moodle_maintenance_covered") == 1.0


async def _to_thread(fn):  # type: ignore[no-untyped-def]
    return fn()


def test_every_sample_name_in_the_module_is_declared_and_catalogued() -> None:
    source = Path(MODULE.__file__ or "").read_text(encoding="utf-8")
    used = set(re.findall(r'"(lms_[a-z0-9_]+)"', source))
    assert used == set(MODULE.METRICS)
    assert all(name in MOODLE_METRICS for name in MODULE.METRICS)
