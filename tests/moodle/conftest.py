"""Fixtures for the Moodle probe tests: a real Moodle-shaped database on BOTH PostgreSQL and
MariaDB, rows from a Scenario builder, and a ready CheckContext whose ``ctx.site`` points at it.

Fixture API (probe authors: this is the contract)
-------------------------------------------------
``now`` -> float
    The injected clock, 1_800_000_000.0. ``ctx.now()`` returns it and ``moodle_db.scenario``
    builds rows relative to it. Override it in a test module with your own ``now`` fixture.
``moodle_db`` -> MoodleDouble, parametrized x4, ids ``pg-mdl``, ``maria-mdl``, ``pg-vig``,
    ``maria-vig`` (backend x table prefix ``mdl_`` / ``vig_``).
``moodle_db_fast`` -> MoodleDouble, x2: ``pg-mdl``, ``maria-mdl``. Use it for the bulk of a
    probe's tests; keep a few tests (healthy site + one failure) on ``moodle_db`` so the
    custom prefix is covered.
``moodle_ctx`` / ``moodle_ctx_fast`` -> checks.base.CheckContext on moodle_db / moodle_db_fast:
    ``ctx.site`` is a checks.moodle.site.MoodleSite(MoodleSettings(database=<read-only
    account>, dirroot=moodle_dirroot, dataroot=moodle_dataroot)); ``ctx.now()`` is ``now``;
    ``ctx.run_blocking`` is asyncio.to_thread; ``ctx.timeout`` 10 s. The site's pool is
    disposed after the test.
``moodle_dirroot`` / ``moodle_dataroot`` -> Path: empty tmp dirs ``code/`` and ``moodledata/``.
    Override them in a module to point at a fixture tree, or return None for "not set".

MoodleDouble (one per test; the database is emptied before each test):
    backend       "postgresql" | "mariadb"
    prefix        "mdl_" | "vig_"
    tables        tests.moodle_double.tables.DoubleTables: the double's own handles on its
                  tables (transcribed from install.xml): ``tables.task_adhoc`` ...
    settings      DatabaseSettings of the READ-ONLY account (SELECT only; what probes get)
    settings_with(**overrides) -> DatabaseSettings, e.g. statement_timeout=1.0
    admin_engine  writable SQLAlchemy engine (autocommit) for setup, never for probes
    scenario      tests.moodle_double.scenario.Scenario on admin_engine with ``now``:
                  ``moodle_db.scenario.healthy_site().cron_stale(7200)`` (see that module)
    drop_table("quiz")  drop a table, as when a plugin is not installed (restored after)
    database      the underlying tests.moodle_double.server.TestDatabase
MoodleDouble and make_moodle_ctx(settings, now, dirroot, dataroot) are plain code in
tests/moodle_double/double.py (also re-exported here).

Each (backend, prefix) database is created once per pytest session (~1 s) and dropped at
the end; tests that use these fixtures are marked ``integration``. Note: the local
PostgreSQL trusts 127.0.0.1, so a wrong password is accepted there; to test a refused login
use ``settings_with(user="no_such_role")`` (MariaDB checks passwords). A large site for
bench/: tests.moodle_double.bulk.build_large_site(engine, tables, users=..., ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.base import CheckContext
from tests.moodle_double.double import MoodleDouble, make_moodle_ctx
from tests.moodle_double.scenario import NOW
from tests.moodle_double.server import Backend, TestDatabase

__all__ = ["MoodleDouble", "make_moodle_ctx"]  # also importable from tests.moodle_double.double

_ALL = [("postgresql", "mdl_"), ("mariadb", "mdl_"), ("postgresql", "vig_"), ("mariadb", "vig_")]
_FAST = _ALL[:2]


def _id(param: tuple[str, str]) -> str:
    backend, prefix = param
    return f"{'pg' if backend == 'postgresql' else 'maria'}-{prefix.rstrip('_')}"


class _Databases:
    """The session's databases, created on first use and dropped at session end."""

    def __init__(self) -> None:
        self._dbs: dict[tuple[str, str], TestDatabase] = {}

    def get(self, backend: Backend, prefix: str) -> TestDatabase:
        key = (backend, prefix)
        if key not in self._dbs:
            self._dbs[key] = TestDatabase.create(backend, prefix)
        return self._dbs[key]

    def close(self) -> None:
        while self._dbs:
            _key, db = self._dbs.popitem()
            db.close()


@pytest.fixture(scope="session")
def _moodle_databases() -> Iterator[_Databases]:
    dbs = _Databases()
    try:
        yield dbs
    finally:
        dbs.close()


def _double(request: pytest.FixtureRequest, dbs: _Databases, now: float) -> MoodleDouble:
    backend, prefix = request.param
    db = dbs.get(backend, prefix)
    db.reset()  # before, not after: a failed test leaves its rows for inspection
    return MoodleDouble(db, now)


@pytest.fixture
def now() -> float:
    return NOW


@pytest.fixture(params=_ALL, ids=_id)
def moodle_db(request: pytest.FixtureRequest, _moodle_databases: _Databases,
              now: float) -> MoodleDouble:
    return _double(request, _moodle_databases, now)


@pytest.fixture(params=_FAST, ids=_id)
def moodle_db_fast(request: pytest.FixtureRequest, _moodle_databases: _Databases,
                   now: float) -> MoodleDouble:
    return _double(request, _moodle_databases, now)


@pytest.fixture
def moodle_dirroot(tmp_path: Path) -> Path | None:
    path = tmp_path / "code"
    path.mkdir()
    return path


@pytest.fixture
def moodle_dataroot(tmp_path: Path) -> Path | None:
    path = tmp_path / "moodledata"
    path.mkdir()
    return path


@pytest.fixture
def moodle_ctx(moodle_db: MoodleDouble, now: float, moodle_dirroot: Path | None,
               moodle_dataroot: Path | None) -> Iterator[CheckContext]:
    ctx = make_moodle_ctx(moodle_db.settings, now, moodle_dirroot, moodle_dataroot)
    yield ctx
    ctx.site.close()


@pytest.fixture
def moodle_ctx_fast(moodle_db_fast: MoodleDouble, now: float, moodle_dirroot: Path | None,
                    moodle_dataroot: Path | None) -> Iterator[CheckContext]:
    ctx = make_moodle_ctx(moodle_db_fast.settings, now, moodle_dirroot, moodle_dataroot)
    yield ctx
    ctx.site.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"moodle_db", "moodle_db_fast"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
