"""The fault matrix behind an LMS: its database refuses connections, its database hangs on
a lock, its Redis is gone. Checks run through the daemon's real CheckRunner (timeouts,
exceptions -> UNKNOWN, the state store) against the Moodle double on the real PostgreSQL
(tests/moodle_double/) and the real Redis; nothing shared is stopped: "down" is a port
with nothing listening.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from checks.moodle.caches import CachesCheck, CachesSpec
from checks.moodle.cron import CronCheck, CronSpec
from checks.moodle.settings import DatabaseSettings, MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.app.runner import CheckRunner
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.target import Target
from tests.conftest import FakeClock
from tests.helpers import TargetServer, free_port
from tests.moodle_double.scenario import NOW, Scenario
from tests.moodle_double.server import TestDatabase

pytestmark = pytest.mark.integration
SITE = Target(name="moodle", kind="moodle", url="https://moodle.example.test")


@pytest.fixture(scope="module")
def pg() -> Iterator[TestDatabase]:
    database = TestDatabase.create("postgresql")
    yield database
    database.close()


@pytest.fixture
def healthy_pg(pg: TestDatabase) -> TestDatabase:
    pg.reset()
    Scenario(pg.admin_engine, pg.tables, now=NOW).healthy_site()
    return pg


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[CheckRunner]:
    store = StateStore(tmp_path / "state.sqlite3")
    yield CheckRunner(FakeClock(start=NOW), store=store)
    store.close()


def cron(settings: DatabaseSettings | None, timeout: float = 3.0) -> CheckJob:
    """moodle_cron on its own site (its own pool), as the daemon wires a Moodle site."""
    check = CronCheck(CronSpec(type="moodle_cron", interval=60, timeout=timeout))
    return CheckJob(SITE, "cron", check.spec, check,
                    site=MoodleSite(MoodleSettings(database=settings)))


@pytest.mark.parametrize("kind", ["pgsql", "mariadb"])
async def test_a_database_that_refuses_connections_is_unknown_naming_the_database(
    runner: CheckRunner, kind: str
) -> None:
    port = free_port()  # nothing listens there
    settings = DatabaseSettings(type=kind, host="127.0.0.1", port=port, name="moodle",
                                user="vigil_ro", connect_timeout=2, statement_timeout=2)
    job = cron(settings)

    result = await runner.run(job)

    assert result.status is Status.UNKNOWN  # the check cannot see the site: not a verdict
    assert result.summary.startswith(f"cannot query {kind} database 'moodle' on "
                                     f"127.0.0.1:{port} as 'vigil_ro': "), result.summary
    assert "refused" in result.summary.lower() or "can't connect" in result.summary.lower()
    assert runner.store is not None
    state = runner.store.get_state("moodle", "cron")
    assert state is not None and state.result.status is Status.UNKNOWN
    job.site.close()


class Lock:
    """A real PostgreSQL session holding ACCESS EXCLUSIVE on a table until released."""

    def __init__(self, database: TestDatabase, table: str) -> None:
        # The admin engine autocommits; a lock lives only inside a transaction.
        self._connection = database.admin_engine.connect().execution_options(
            isolation_level="READ COMMITTED")
        self._transaction = self._connection.begin()
        self._connection.exec_driver_sql(
            f'LOCK TABLE "{database.prefix}{table}" IN ACCESS EXCLUSIVE MODE')

    def release(self) -> None:
        if not self._connection.closed:
            self._transaction.rollback()
            self._connection.close()


@pytest.fixture
def locked_config_plugins(healthy_pg: TestDatabase) -> Iterator[Lock]:
    lock = Lock(healthy_pg, "config_plugins")  # what moodle_cron reads first
    yield lock
    lock.release()


async def _others_meanwhile(runner: CheckRunner, jobs: list[CheckJob],
                            blocked: asyncio.Task[Result]) -> list[Result]:
    """Run ``jobs`` while ``blocked`` waits on the lock; they must finish first."""
    results = [await runner.run(job) for job in jobs]
    assert not blocked.done(), "the locked probe did not wait on the lock"
    return results


def neighbours(web: TargetServer) -> list[CheckJob]:
    """Checks of the same daemon that share nothing with the locked database."""
    http = HttpCheck(HttpSpec(type="http", url=web.url, timeout=2))
    caches = CachesCheck(CachesSpec(type="moodle_caches", cache_stores=False, timeout=2,
                                    redis=[{"name": "cache", "port": 6379}]))
    return [CheckJob(SITE, "http", http.spec, http),
            CheckJob(SITE, "caches", caches.spec, caches)]


async def test_a_lock_is_cut_off_by_the_statement_timeout_while_other_checks_run(
    runner: CheckRunner, healthy_pg: TestDatabase, locked_config_plugins: Lock
) -> None:
    job = cron(healthy_pg.settings(statement_timeout=1.5), timeout=5.0)
    web = TargetServer()
    try:
        blocked = asyncio.create_task(runner.run(job))
        await asyncio.sleep(0.2)  # let it reach the lock (asserted below: not done)
        others = await _others_meanwhile(runner, neighbours(web), blocked)
        result = await blocked
    finally:
        web.close()

    assert [r.status for r in others] == [Status.OK, Status.OK], [r.summary for r in others]
    assert result.status is Status.UNKNOWN
    assert result.summary == (f"query exceeded the 1.5s statement timeout on pgsql database "
                              f"'{healthy_pg.name}' on 127.0.0.1:5432")
    locked_config_plugins.release()
    assert (await runner.run(job)).status is Status.OK  # the pool was not left broken
    job.site.close()


async def test_a_check_timeout_shorter_than_the_lock_is_critical_and_the_site_recovers(
    runner: CheckRunner, healthy_pg: TestDatabase, locked_config_plugins: Lock
) -> None:
    # statement_timeout (3 s) outlives the check's (1 s): the runner gives up first and
    # the query keeps a blocking-pool thread until the server cancels it.
    job = cron(healthy_pg.settings(statement_timeout=3.0), timeout=1.0)
    web = TargetServer()
    try:
        blocked = asyncio.create_task(runner.run(job))
        await asyncio.sleep(0.2)
        others = await _others_meanwhile(runner, neighbours(web), blocked)
        result = await blocked
        again = await runner.run(job)  # still locked: the same verdict, nothing piles up
    finally:
        web.close()

    assert [r.status for r in others] == [Status.OK, Status.OK]
    assert (result.status, result.summary) == (Status.CRITICAL, "timed out after 1s")
    assert (again.status, again.summary) == (Status.CRITICAL, "timed out after 1s")
    locked_config_plugins.release()
    await asyncio.sleep(3.0)  # the abandoned queries end at their statement timeout
    assert (await runner.run(job)).status is Status.OK
    job.site.close()


async def test_a_redis_that_is_down_is_critical_naming_the_store_and_address(
    runner: CheckRunner
) -> None:
    port = free_port()
    check = CachesCheck(CachesSpec(type="moodle_caches", cache_stores=False, timeout=2,
                                   redis=[{"name": "cache", "port": port},
                                          {"name": "sessions", "port": 6379}]))
    result = await runner.run(CheckJob(SITE, "caches", check.spec, check))

    assert result.status is Status.CRITICAL
    assert f"127.0.0.1:{port}" in result.summary and "connection refused" in result.summary
    assert "cache" in result.summary and "6379" not in result.summary  # the live one is fine
    ups = {dict(s.labels)["store"]: s.value for s in result.samples
           if s.name == "lms_moodle_redis_up"}
    assert ups == {"cache": 0.0, "sessions": 1.0}


def test_the_lock_really_blocks_a_reader(healthy_pg: TestDatabase,
                                         locked_config_plugins: Lock) -> None:
    """The premise of the lock tests: a plain reader waits on the table."""
    engine = sa.create_engine(sa.engine.make_url(
        f"postgresql+psycopg://postgres@127.0.0.1:5432/{healthy_pg.name}"),
        connect_args={"options": "-c statement_timeout=300"})
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError,
                                                     match="statement timeout"):
            conn.exec_driver_sql(f"SELECT 1 FROM {healthy_pg.prefix}config_plugins")
    finally:
        engine.dispose()
