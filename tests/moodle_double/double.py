"""What a Moodle probe test gets: MoodleDouble (the database handle behind the ``moodle_db``
fixtures) and make_moodle_ctx (the CheckContext behind ``moodle_ctx``).

Plain code so tests and bench/ can import it; the fixtures are in tests/moodle/conftest.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from checks.base import CheckContext
from checks.moodle.settings import DatabaseSettings, MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.kernel.target import Target
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.server import Backend, TestDatabase
from tests.moodle_double.tables import DoubleTables


@dataclass
class MoodleDouble:
    """What a test gets from ``moodle_db``: attributes documented in tests/moodle/conftest.py."""

    database: TestDatabase
    now: float
    scenario: Scenario = field(init=False)

    def __post_init__(self) -> None:
        self.scenario = Scenario(self.database.admin_engine, self.database.tables, now=self.now)

    @property
    def backend(self) -> Backend:
        return self.database.backend

    @property
    def prefix(self) -> str:
        return self.database.prefix

    @property
    def tables(self) -> DoubleTables:
        return self.database.tables

    @property
    def admin_engine(self) -> Engine:
        return self.database.admin_engine

    @property
    def settings(self) -> DatabaseSettings:
        return self.database.settings()

    def settings_with(self, **overrides: Any) -> DatabaseSettings:
        return self.database.settings(**overrides)

    def drop_table(self, name: str) -> None:
        self.database.drop_table(name)


def make_moodle_ctx(settings: DatabaseSettings | None, now: float, dirroot: Path | None,
                    dataroot: Path | None) -> CheckContext:
    """A CheckContext for a Moodle site; call ``ctx.site.close()`` when done."""
    site = MoodleSite(MoodleSettings(database=settings, dirroot=dirroot, dataroot=dataroot))
    return CheckContext(
        target=Target(name="moodle-test", kind="moodle", url="https://moodle.example.test"),
        timeout=10.0, now=lambda: now, run_blocking=asyncio.to_thread, site=site)
