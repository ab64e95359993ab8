"""The LMS actions maintenance is handed (checks/actions.py): faults come back as results,
never as exceptions, and the lifecycle switches any LMS kind through the actions it is
given, with no knowledge of the family behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts.maintenance.book import MaintenanceBook, parse_spec
from alerts.maintenance.lifecycle import MaintenanceLifecycle
from alerts.maintenance.model import from_utc
from checks.actions import ExamQuery, ExamRead, MaintenanceActions, ModeResult
from checks.actions_registry import MAINTENANCE_ACTIONS
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.moodle.site import MoodleSite
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from tests.conftest import FakeClock
from tests.moodle_double.sitedir import make_site

HOUR = 3600.0
QUERY = ExamQuery(0.0, HOUR, 0.0, HOUR, in_progress=True)


class RecordingLms:
    """An LMS kind Vigil has no family for: records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.on = False

    def mode_status(self, site: Any) -> ModeResult:
        self.calls.append(("status", site))
        return ModeResult(True, "status", self.on)

    def switch_mode(self, site: Any, on: bool) -> ModeResult:
        self.calls.append(("on" if on else "off", site))
        self.on = on
        return ModeResult(True, "switched", on)

    def read_exams(self, site: Any, query: ExamQuery) -> ExamRead | None:
        return None


class Idle:
    async def run(self, ctx: Any) -> Result:
        return Result(Status.OK, "idle")


def test_an_lms_kind_without_actions_gets_a_failed_result_not_an_exception() -> None:
    status = MAINTENANCE_ACTIONS.mode_status("canvas", object())
    switched = MAINTENANCE_ACTIONS.switch_mode("canvas", object(), True)
    assert not status.ok and not switched.ok
    assert "'canvas'" in status.detail and "moodle" in status.detail
    assert MAINTENANCE_ACTIONS.read_exams("canvas", object(), QUERY) is None


def test_moodle_without_cli_access_answers_with_the_cause(tmp_path: Path) -> None:
    site = MoodleSite(make_site(tmp_path).moodle_settings(cli=False))
    found = MAINTENANCE_ACTIONS.mode_status("moodle", site)
    assert (found.ok, found.enabled) == (False, None)
    assert found.detail.startswith("no CLI access configured")


def test_moodle_exams_are_unchecked_without_a_database_and_skipped_without_a_site(
        tmp_path: Path) -> None:
    site = MoodleSite(make_site(tmp_path).moodle_settings())
    assert MAINTENANCE_ACTIONS.read_exams("moodle", site, QUERY) == ExamRead(
        unchecked="no database configured ([lms.moodle.database])")
    assert MAINTENANCE_ACTIONS.read_exams("moodle", None, QUERY) is None


def test_integrity_marks_without_a_baseline_carry_the_error(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    spec = CodeIntegritySpec(type="code_integrity")
    job = CheckJob(Target("lms1", "moodle", "https://lms1.example"), "code", spec,
                   CodeIntegrityCheck(spec), site=MoodleSite(site.moodle_settings()))
    acceptance = MAINTENANCE_ACTIONS.integrity
    assert acceptance is not None and acceptance.watches(job)
    marks = acceptance.mark(job, tmp_path / "state", 0.0)
    assert marks.error is not None and marks.error.startswith("no baseline for")
    accepted = acceptance.accept(job, tmp_path / "state", {}, 0.0, "test")
    assert accepted.error == marks.error and accepted.accepted == ()


async def test_the_lifecycle_switches_any_kind_through_the_actions_it_is_handed(
        store: StateStore, clock: FakeClock) -> None:
    canvas = RecordingLms()
    site = object()
    job = CheckJob(Target("lms1", "canvas", "https://lms1.example"), "idle",
                   CheckSpec(type="idle"), Idle(), site=site)
    book = MaintenanceBook(store.database, clock, {"lms1": {}})

    async def run_checks(keys: Any) -> dict[str, Result]:
        return {}

    lifecycle = MaintenanceLifecycle(
        store, book, jobs=lambda: {job.key: job}, run_checks=run_checks,
        receivers=lambda: [], actions=MaintenanceActions(lms={"canvas": canvas}))
    start = clock.now + HOUR
    book.add(parse_spec({"name": "upgrade", "lms": "lms1", "start": from_utc(start, "UTC"),
                         "end": from_utc(start + HOUR, "UTC"),
                         "actions": {"lms_maintenance_mode": True}}), "api", now=clock.now)
    await lifecycle.step(start)
    assert canvas.calls == [("status", site), ("on", site)]
    await lifecycle.step(start + HOUR)
    assert canvas.calls[2:] == [("off", site)] and not canvas.on
