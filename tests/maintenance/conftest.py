"""Fixtures for maintenance window tests: a book over a real SQLite state file with the
fake clock, spec builders, and ``exam_site``: a Moodle test double database (real
PostgreSQL and MariaDB, tests/moodle_double) for the exam-overlap refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.maintenance.book import MaintenanceBook, parse_spec
from alerts.maintenance.model import WindowSpec
from monitor.app.store import StateStore
from tests.conftest import FakeClock
from tests.moodle_double.double import MoodleDouble
from tests.moodle_double.scenario import NOW
from tests.moodle_double.server import TestDatabase

LMS_LABELS = {"prod": {"host": "db1", "team": "elearning"},
              "staging": {"host": "db1"}, "exams": {"host": "db2"}}


def ts(text: str, zone: str = "UTC") -> float:
    """Unix time of a local wall-clock time: ts("2026-03-29 03:30", "Europe/Berlin")."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(timestamp: float, zone: str) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %z")


def spec(**fields: Any) -> WindowSpec:
    return parse_spec({"name": "w", "lms": "prod", **fields})


@pytest.fixture
def book(store: StateStore, clock: FakeClock) -> Iterator[MaintenanceBook]:
    yield MaintenanceBook(store.database, clock, LMS_LABELS)


@pytest.fixture(scope="session")
def _exam_databases() -> Iterator[dict[str, TestDatabase]]:
    dbs: dict[str, TestDatabase] = {}
    yield dbs
    for db in dbs.values():
        db.close()


@pytest.fixture(params=["postgresql", "mariadb"], ids=["pg", "maria"])
def exam_site(request: pytest.FixtureRequest, _exam_databases: dict[str, TestDatabase]
              ) -> MoodleDouble:
    """A Moodle database (emptied first) with rows relative to the clock's start (NOW)."""
    backend = request.param
    if backend not in _exam_databases:
        _exam_databases[backend] = TestDatabase.create(backend, "mdl_")
    db = _exam_databases[backend]
    db.reset()
    return MoodleDouble(db, NOW)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "exam_site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
