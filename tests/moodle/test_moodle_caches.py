"""moodle_caches against the real Redis on 127.0.0.1:6379 (database 14, only keys this test
creates, removed after) and a closed port, with the session handler read from a fake site's
config.php; the sessions table on PostgreSQL and MariaDB; the judging rules in unit tests."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.caches import METRICS, CachesCheck, CachesSpec
from checks.moodle.caches_redis import RedisEndpoint, RedisStats, session_endpoint
from checks.moodle.settings import MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.sitedir import make_site

DB = 14  # a high Redis database number: nothing else on this machine uses it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_keys() -> Iterator[list[str]]:
    """Three keys of our own in database 14, deleted afterwards (never FLUSHDB)."""
    client = redis.Redis(db=DB)
    keys = [f"vigil_test_{uuid.uuid4().hex}_{i}" for i in range(3)]
    for key in keys:
        client.set(key, "x", ex=300)
    yield keys
    client.delete(*keys)
    client.close()


def redis_site(tmp_path: Path, config: str) -> CheckContext:
    """A site known only by its code directory (config.php), no database."""
    site = make_site(tmp_path, config_extra=config)
    return make_moodle_ctx(None, 0.0, site.root, site.dataroot)


SESSION_REDIS = f"""$CFG->session_handler_class = '\\\\core\\\\session\\\\redis';
$CFG->session_redis_host = '127.0.0.1';
$CFG->session_redis_port = {{port}};
$CFG->session_redis_database = {DB};
$CFG->session_redis_auth = {{auth}};
"""


def session_config(port: int = 6379, auth: str = "''") -> str:
    return SESSION_REDIS.format(port=port, auth=auth)


async def run(ctx: CheckContext, check: CachesCheck | None = None, **fields: Any) -> Result:
    check = check or CachesCheck(CachesSpec.model_validate(
        {"type": "moodle_caches", "timeout": 5, **fields}))
    result = await check.run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and sample.name in METRICS, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def value(result: Result, name: str, **labels: str) -> float | None:
    found = [s.value for s in result.samples if s.name == name and dict(s.labels) == labels]
    return found[0] if found else None


# ------------------------------------------------------------------ Redis, for real
async def test_session_redis_from_config_php_is_measured(
    tmp_path: Path, redis_keys: list[str]
) -> None:
    result = await run(redis_site(tmp_path, session_config()))

    assert result.status is Status.OK, result.summary
    assert result.summary.startswith(f"sessions in Redis 127.0.0.1:6379/{DB} (PING ")
    assert value(result, "lms_moodle_session_handler", handler="redis") == 1.0
    assert value(result, "lms_moodle_redis_up", store="session") == 1.0
    assert value(result, "lms_moodle_redis_keys", store="session") >= 3  # type: ignore[operator]
    assert value(result, "lms_moodle_redis_memory_used_bytes", store="session") > 0  # type: ignore[operator]
    assert value(result, "lms_moodle_redis_evicted_keys_total", store="session") is not None
    assert result.details["stores"][0]["source"] == "config.php"


async def test_a_closed_session_redis_port_is_critical(tmp_path: Path) -> None:
    port = free_port()

    result = await run(redis_site(tmp_path, session_config(port)))

    assert result.status is Status.CRITICAL
    assert result.summary == f"session Redis 127.0.0.1:{port}/{DB}: connection refused"
    assert value(result, "lms_moodle_redis_up", store="session") == 0.0


async def test_refused_credentials_are_named_and_never_shown(tmp_path: Path) -> None:
    result = await run(redis_site(tmp_path, session_config(auth="['nobody', 'pa55word']")))

    assert result.status is Status.CRITICAL
    assert "session Redis 127.0.0.1:6379/14: authentication failed" in result.summary
    assert "pa55word" not in result.summary + repr(result.details)


async def test_redis_handler_without_a_host_is_critical(tmp_path: Path) -> None:
    config = "$CFG->session_handler_class = '\\\\core\\\\session\\\\redis';"

    result = await run(redis_site(tmp_path, config))

    assert result.status is Status.CRITICAL
    assert "session handler is Redis but $CFG->session_redis_host is not set" in result.summary


async def test_the_spec_can_name_the_session_redis_without_any_site_access(
    redis_keys: list[str]
) -> None:
    ctx = make_moodle_ctx(None, 0.0, None, None)
    ctx.site = None

    result = await run(ctx, session_store={"name": "x", "port": 6379, "database": DB})

    assert result.status is Status.OK, result.summary
    assert result.details["stores"][0]["source"] == "spec"


async def test_redis_cache_stores_in_the_muc_config_are_probed(tmp_path: Path) -> None:
    ctx = redis_site(tmp_path, "")
    muc = ctx.site.dataroot / "muc"
    muc.mkdir()
    (muc / "config.php").write_text("""<?php defined('MOODLE_INTERNAL') || die();
 $configuration = array (
  'stores' => array (
    'default_application' => array ('name' => 'default_application', 'plugin' => 'file',
      'configuration' => array (), 'default' => true, 'class' => 'cachestore_file'),
    'appcache' => array ('name' => 'appcache', 'plugin' => 'redis',
      'configuration' => array ('server' => '127.0.0.1:6379', 'prefix' => 'mdl_',
                                'password' => 's3cretpw', 'encryption' => false),
      'class' => 'cachestore_redis'),
  ),
);""")

    result = await run(ctx, redis=[{"name": "extra", "port": free_port()}])

    stores = {s["store"]: s for s in result.details["stores"]}
    assert stores["appcache"]["ok"] is True and stores["appcache"]["source"] == "muc/config.php"
    assert stores["extra"]["ok"] is False
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("Redis 'extra' 127.0.0.1:")
    assert "s3cretpw" not in result.summary + repr(result.details)


async def test_nothing_to_probe_is_unknown() -> None:
    ctx = make_moodle_ctx(None, 0.0, None, None)
    ctx.site = None

    with pytest.raises(CheckUnavailable, match="nothing to probe"):
        await run(ctx)


# ------------------------------------------------------------------ sessions in the database
async def test_database_sessions_are_counted_and_sized(
    moodle_db: MoodleDouble, moodle_ctx: CheckContext
) -> None:
    moodle_db.scenario.healthy_site().set_config("dbsessions", 1).sessions([6, 7])

    result = await run(moodle_ctx)

    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("sessions in the database: 6 rows, ")
    assert value(result, "lms_moodle_session_handler", handler="database") == 1.0
    assert value(result, "lms_moodle_sessions") == 6.0  # the healthy site's 4, and 2
    assert value(result, "lms_moodle_sessions_table_bytes") > 0  # type: ignore[operator]


async def test_file_sessions_are_not_counted(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext
) -> None:
    moodle_db_fast.scenario.healthy_site().set_config("dbsessions", 0)

    result = await run(moodle_ctx_fast)

    assert result.status is Status.OK
    assert result.summary == "sessions handled by file"
    assert value(result, "lms_moodle_sessions") is None


async def test_config_php_handler_class_wins_over_dbsessions(
    moodle_db_fast: MoodleDouble, now: float, tmp_path: Path
) -> None:
    moodle_db_fast.scenario.healthy_site().set_config("dbsessions", 0)  # 4 sessions
    fake = make_site(tmp_path, config_extra=(
        "$CFG->session_handler_class = '\\\\core\\\\session\\\\database';"))
    ctx = make_moodle_ctx(moodle_db_fast.settings, now, fake.root, fake.dataroot)
    try:
        result = await run(ctx, sessions_warning=1)
    finally:
        ctx.site.close()

    assert result.status is Status.WARNING
    assert result.summary == "4 rows in the sessions table"
    assert result.details["session_handler_class"] == "core\\session\\database"


async def test_a_missing_sessions_table_is_unknown_with_the_cause(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext
) -> None:
    moodle_db_fast.scenario.healthy_site().set_config("dbsessions", 1)
    moodle_db_fast.drop_table("sessions")

    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)


# ------------------------------------------------------------------ judging, unit
def stats(**fields: Any) -> RedisStats:
    return RedisStats(RedisEndpoint("session"), **{"ping_seconds": 0.001, **fields})


def judge(check: CachesCheck, stat: RedisStats) -> list[tuple[Status, str]]:
    return check._judge_redis(stat)


def check(**fields: Any) -> CachesCheck:
    return CachesCheck(CachesSpec.model_validate({"type": "moodle_caches", **fields}))


def test_evictions_since_the_last_run_warn_and_a_restart_is_understood() -> None:
    probe = check()

    first = judge(probe, stats(evicted_keys=10, maxmemory_policy="allkeys-lru"))
    same = judge(probe, stats(evicted_keys=10))
    more = judge(probe, stats(evicted_keys=15, maxmemory_policy="allkeys-lru"))
    restarted = judge(probe, stats(evicted_keys=2, maxmemory_policy="allkeys-lru"))

    assert first == [] and same == []
    assert more == [(Status.WARNING, "session Redis evicted 5 keys since the last run "
                                     "(maxmemory-policy allkeys-lru)")]
    assert restarted[0][1].startswith("session Redis evicted 2 keys")


@pytest.mark.parametrize(("used", "status"), [(70, None), (85, Status.WARNING),
                                              (97, Status.CRITICAL)])
def test_memory_is_judged_against_maxmemory(used: int, status: Status | None) -> None:
    found = judge(check(), stats(used_memory=used * 1024**2, maxmemory=100 * 1024**2))

    assert [s for s, _ in found] == ([status] if status else [])
    if status:
        assert f"uses {used}% of maxmemory" in found[0][1]


def test_no_maxmemory_is_not_judged_and_slow_ping_is() -> None:
    found = judge(check(), stats(used_memory=10**9, maxmemory=0, ping_seconds=0.3))

    assert found == [(Status.WARNING, "session Redis answers PING in 300ms")]


def test_session_redis_settings_are_read_as_moodle_reads_them() -> None:
    cluster = session_endpoint({"session_redis_host": "r1:7000, r2:7001",
                                "session_redis_auth": "pw"})
    socket_path = session_endpoint({"session_redis_host": "/run/redis.sock"})

    assert cluster is not None and (cluster.host, cluster.port, cluster.cluster) == \
        ("r1", 7000, True)
    assert cluster.password == "pw" and "pw" not in repr(cluster)
    assert socket_path is not None and socket_path.socket == "/run/redis.sock"
    assert session_endpoint({"session_redis_port": 1}) is None


def test_spec_rejects_duplicate_names_and_inverted_limits() -> None:
    with pytest.raises(ValueError, match="its own name"):
        check(redis=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValueError, match="memory_critical"):
        check(memory_warning=0.9, memory_critical=0.5)
    assert MoodleSite(MoodleSettings()).database is None
