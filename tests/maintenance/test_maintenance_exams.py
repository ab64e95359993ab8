"""Scheduling over Moodle exams is refused unless forced, on a real Moodle-shaped database
(PostgreSQL and MariaDB, tests/moodle_double): quizzes closing (or opening) inside an
occurrence, and attempts in progress when the window starts now. A site whose database
cannot be read refuses too; a Moodle site without a database is noted, not refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.scheduling import Outcome, add_window
from checks.actions_registry import MAINTENANCE_ACTIONS
from checks.moodle.settings import DatabaseSettings
from monitor.app.config import VigilConfig
from monitor.app.metrics import build_registry
from monitor.app.sites import SiteRegistry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from tests.conftest import FakeClock
from tests.maintenance.conftest import spec
from tests.maintenance.test_maintenance_api import AUTH, TOKEN, View
from tests.moodle_double.double import MoodleDouble
from tests.token_kit import sign_in

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC, the double's NOW too
DAY = 86400


def config_for(tmp_path: Path, database: DatabaseSettings | None) -> VigilConfig:
    moodle: dict[str, Any] = {}
    if database is not None:
        moodle["database"] = {**database.model_dump(),
                              "password": database.password.get_secret_value()}
    return VigilConfig.model_validate({
        "state": {"dir": str(tmp_path)}, "server": {"api_token": TOKEN},
        "lms": [{"name": "prod", "kind": "moodle", "url": "https://prod.example",
                 "moodle": moodle},
                {"name": "web", "url": "https://web.example"}]})


class Env:
    def __init__(self, store: StateStore, clock: FakeClock, config: VigilConfig) -> None:
        self.config, self.clock = config, clock
        self.book = MaintenanceBook(store.database, clock)
        self.book.apply_config(config)
        self.registry = SiteRegistry()
        self.sites = self.registry.lms_for(config)

    async def add(self, force: bool = False, **fields: Any) -> Outcome:
        return await add_window(self.book, spec(**fields), self.sites,
                                actions=MAINTENANCE_ACTIONS, source="api", force=force,
                                now=self.clock.time())


@pytest.fixture
def env(store: StateStore, clock: FakeClock, tmp_path: Path,
        exam_site: MoodleDouble) -> Iterator[Env]:
    env = Env(store, clock, config_for(tmp_path, exam_site.settings))
    yield env
    env.registry.close()


def final_exam(site: MoodleDouble, closes: float, attempts: int = 0) -> int:
    s = site.scenario.healthy_site()
    course = s.course("PHYS101")
    return s.quiz_open_with_attempts(attempts, timeclose=int(closes), course_id=course,
                                     name="Final exam")


async def test_a_quiz_closing_inside_the_window_refuses_it_unless_forced(
        env: Env, exam_site: MoodleDouble) -> None:
    quiz = final_exam(exam_site, NOW + 3 * DAY + 3600)
    window = {"start": "2027-01-18T08:00", "duration": "2h"}
    refused = await env.add(**window)
    assert refused.refused and env.book.list() == []
    [conflict] = refused.exams.conflicts
    assert (conflict.lms, conflict.quiz_id, conflict.quiz, conflict.course) == (
        "prod", quiz, "Final exam", "PHYS101")
    assert refused.exams.lines() == [
        f"prod: quiz 'Final exam' (id {quiz}, course PHYS101): closes at 2027-01-18 09:00 UTC "
        "during the window"]
    assert refused.exams.checked == ["prod"]  # "web" is no Moodle: nothing to check
    forced = await env.add(force=True, **window)
    assert forced.window is not None and forced.window.forced
    assert [w.id for w in env.book.list()] == [forced.window.id]


async def test_attempts_in_progress_refuse_a_window_starting_now(
        env: Env, exam_site: MoodleDouble) -> None:
    final_exam(exam_site, NOW + 3600, attempts=30)
    refused = await env.add(kind="manual")
    [conflict] = refused.exams.conflicts
    assert conflict.reasons == ("closes at 2027-01-15 09:00 UTC during the window",
                                "30 attempt(s) in progress now")
    # The same quiz is no obstacle for a window next week.
    later = await env.add(start="2027-01-22T08:00", duration="2h")
    assert later.window is not None and not later.exams.conflicts


async def test_a_recurring_window_is_checked_over_its_coming_occurrences(
        env: Env, exam_site: MoodleDouble) -> None:
    final_exam(exam_site, NOW + 14 * DAY + 30 * 60)  # the third Friday 08:30 UTC
    refused = await env.add(start="2027-01-15T10:00", duration="1h",
                            rrule="FREQ=WEEKLY;BYDAY=FR")
    assert not refused.refused  # 10:00-11:00 never meets 08:30
    early = await env.add(name="early", start="2027-01-15T08:00", duration="1h",
                          rrule="FREQ=WEEKLY;BYDAY=FR")
    assert early.refused and "closes at 2027-01-29 08:30 UTC" in early.exams.lines()[0]


async def test_windows_scoped_elsewhere_do_not_read_the_moodle_database(
        env: Env, exam_site: MoodleDouble) -> None:
    final_exam(exam_site, NOW + 3600, attempts=30)
    outcome = await env.add(kind="manual", lms="web")
    assert outcome.window is not None and outcome.exams.checked == []


async def test_an_unreachable_database_refuses_unless_forced(
        store: StateStore, clock: FakeClock, tmp_path: Path, exam_site: MoodleDouble) -> None:
    env = Env(store, clock, config_for(tmp_path, exam_site.settings_with(
        user="no_such_role", connect_timeout=2.0)))
    try:
        refused = await env.add(start="2027-01-18T08:00", duration="2h")
        assert refused.refused and list(refused.exams.unreachable) == ["prod"]
        [line] = refused.exams.lines()
        assert line.startswith("prod: cannot check for exams: cannot query")
        assert "no_such_role" in line
        forced = await env.add(force=True, start="2027-01-18T08:00", duration="2h")
        assert forced.window is not None and forced.window.forced
    finally:
        env.registry.close()


async def test_a_moodle_site_without_database_is_noted_not_refused(
        store: StateStore, clock: FakeClock, tmp_path: Path) -> None:
    env = Env(store, clock, config_for(tmp_path, None))
    outcome = await env.add(kind="manual")
    assert outcome.window is not None and not outcome.window.forced
    assert outcome.exams.unchecked == {"prod": "no database configured ([lms.moodle.database])"}


def test_the_api_answers_409_with_the_quizzes_and_the_page_offers_force(
        env: Env, store: StateStore, exam_site: MoodleDouble) -> None:
    quiz = final_exam(exam_site, NOW + 3 * DAY + 3600)
    registry, _ = build_registry(store)
    client = TestClient(create_app(View(store, registry, env.config, env.clock, env.book,
                                        env.registry)))
    body = {"name": "upgrade", "lms": "prod", "start": "2027-01-18T08:00", "duration": "2h"}
    refused = client.post("/api/v1/maintenance", json=body, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["exams"]["conflicts"][0]["quiz_id"] == quiz
    assert "set force" in refused.json()["error"]
    assert "Final exam" in refused.json()["problems"][0]
    csrf = sign_in(client, TOKEN)
    page = client.post("/maintenance", data={**body, "kind": "once", "csrf": csrf})
    assert page.status_code == 409 and "Final exam" in page.text and 'name="force"' in page.text
    forced = client.post("/api/v1/maintenance", json={**body, "force": True}, headers=AUTH)
    assert forced.status_code == 201 and forced.json()["window"]["forced"] is True
    assert forced.json()["exams"]["conflicts"][0]["quiz"] == "Final exam"
    assert "scheduled over exams (forced)" in client.get("/maintenance").text
