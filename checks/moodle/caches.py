"""The `moodle_caches` check: where Moodle keeps its sessions and caches, and are they well.

Data flow: scheduler -> CachesCheck.run(ctx) -> config.php ($CFG->session_handler_class,
session_redis_*, altcacheconfigpath; checks/moodle/site_config.py) and the MUC config's
Redis stores (checks/moodle/caches_redis.py) -> the config table (dbsessions) and, when
sessions live in the database, the size of the sessions table, through the site's
read-only pool -> PING and INFO on each Redis (thread pool, redis-py) -> Result with
lms_moodle_redis_* / lms_moodle_sessions* samples.

Semantics from Moodle (moodle/moodle): lib/classes/session/manager.php
get_handler_class(): session_handler_class, else \\core\\session\\database when the
dbsessions setting is on, else \\core\\session\\file. The sessions table only fills with
the database (and file, memcached) handlers; the Redis handler keeps sessions in Redis.
A Redis that evicts keys drops sessions (users are logged out) or cache entries.

The sessions reads (handler, rows, table size) are in checks/moodle/sessions.py.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from checks.base import CheckContext, CheckUnavailable
from checks.common import Port, Ratio, check_order
from checks.moodle.caches_redis import (
    RedisEndpoint,
    RedisStats,
    muc_config_path,
    muc_redis_stores,
    probe_redis,
    session_endpoint,
)
from checks.moodle.sessions import read_sessions, session_handler
from checks.moodle.site import MoodleSite
from checks.moodle.site_config import config_php_settings
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec, Duration, StrictModel
from monitor.kernel.units import fmt_bytes, fmt_seconds

METRICS = declare(
    MetricSpec("lms_moodle_session_handler", "gauge",
               "1 for the session handler Moodle uses (redis, database, file, memcached, "
               "other).", ("handler",)),
    MetricSpec("lms_moodle_redis_up", "gauge",
               "1 if the Redis server (the session store or a cache store) answered PING, "
               "else 0.", ("store",)),
    MetricSpec("lms_moodle_redis_ping_seconds", "gauge",
               "Round trip of a PING on an open connection to the Redis server.", ("store",)),
    MetricSpec("lms_moodle_redis_memory_used_bytes", "gauge",
               "Memory the Redis server uses (INFO memory used_memory).", ("store",)),
    MetricSpec("lms_moodle_redis_memory_max_bytes", "gauge",
               "The Redis server's maxmemory limit; 0 means no limit.", ("store",)),
    MetricSpec("lms_moodle_redis_evicted_keys_total", "counter",
               "Keys the Redis server evicted since it started (INFO stats evicted_keys).",
               ("store",)),
    MetricSpec("lms_moodle_redis_keys", "gauge",
               "Keys in the Redis database Moodle uses.", ("store",)),
    MetricSpec("lms_moodle_sessions", "gauge",
               "Rows in Moodle's sessions table (when sessions live in the database)."),
    MetricSpec("lms_moodle_sessions_table_bytes", "gauge",
               "Size of Moodle's sessions table with its indexes."),
)
_CFG = ("session_handler_class", "dbsessions", "session_redis_host", "session_redis_port",
        "session_redis_database", "session_redis_auth", "session_redis_encrypt",
        "altcacheconfigpath")


class RedisTarget(StrictModel):
    name: str = Field(min_length=1, max_length=64)  # the ``store`` label
    host: str = "127.0.0.1"
    port: Port = 6379
    database: int = Field(default=0, ge=0)
    socket: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False

    def endpoint(self, name: str | None = None) -> RedisEndpoint:
        password = self.password.get_secret_value() if self.password else None
        return RedisEndpoint(name or self.name, self.host, self.port, self.database,
                             self.socket, self.username, password, self.tls, source="spec")


class CachesSpec(CheckSpec):
    type: Literal["moodle_caches"]
    # The session Redis, overriding config.php's session_redis_* (or when it cannot be read).
    session_store: RedisTarget | None = None
    cache_stores: bool = True  # also probe the Redis stores of the MUC config
    redis: list[RedisTarget] = Field(default_factory=list)  # further Redis servers
    # Moodle gives a session Redis 3 s to connect and to answer (session/redis.php).
    latency_warning: Duration = Field(default=0.1, gt=0)
    latency_critical: Duration = Field(default=1.0, gt=0)
    memory_warning: Ratio = 0.8  # used_memory / maxmemory, when maxmemory is set
    memory_critical: Ratio = 0.95
    evictions_warning: int | None = Field(default=1, ge=1)  # evicted since the last run
    sessions_warning: int | None = Field(default=None, ge=1)  # rows in the sessions table
    sessions_critical: int | None = Field(default=None, ge=1)
    max_stores: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _order(self) -> CachesSpec:
        for warning, critical in (("latency_warning", "latency_critical"),
                                  ("memory_warning", "memory_critical"),
                                  ("sessions_warning", "sessions_critical")):
            check_order(self, warning, critical, higher_is_worse=True)
        names = [t.name for t in self.redis]
        if len(set(names)) != len(names):
            raise ValueError("redis: every entry needs its own name")
        return self


class CachesCheck:
    def __init__(self, spec: CachesSpec) -> None:
        self.spec = spec
        self._evicted: dict[str, int] = {}  # evicted_keys last seen, by store and address

    async def run(self, ctx: CheckContext) -> Result:
        site = ctx.site if isinstance(ctx.site, MoodleSite) else None
        cfg, muc, notes = await ctx.run_blocking(lambda: self._local_config(ctx, site))
        handler_class = str(cfg.get("session_handler_class") or "").lstrip("\\")
        sessions: tuple[bool, int | None, int | None] | None = None
        if site is not None and site.database is not None:
            db = site.database
            pg = db.settings.is_postgres
            sessions = await db.run(ctx, lambda conn: read_sessions(
                conn, db.prefix, pg, handler_class, cfg.get("dbsessions")))
        handler = session_handler(handler_class, sessions, self.spec.session_store is not None)
        if handler is None and not muc and not self.spec.redis:
            raise CheckUnavailable("nothing to probe: no config.php or database to find the "
                                   "session handler (set lms.moodle dirroot/database) and no "
                                   "redis servers in the check")
        endpoints, found = self._endpoints(handler, cfg, muc)
        budget = max(0.5, ctx.timeout - min(ctx.timeout * 0.1, 0.5))
        stats = list(await asyncio.gather(*(
            ctx.run_blocking(functools.partial(probe_redis, endpoint, budget))
            for endpoint in endpoints)))
        return self._judge(handler, handler_class, sessions, stats, found, notes)

    def _local_config(self, ctx: CheckContext, site: MoodleSite | None
                      ) -> tuple[dict[str, Any], list[RedisEndpoint], list[str]]:
        cfg, notes = config_php_settings(ctx, _CFG)
        muc: list[RedisEndpoint] = []
        path = muc_config_path(site.dataroot if site else None, cfg.get("altcacheconfigpath"))
        if self.spec.cache_stores and path is not None:
            muc, muc_notes = muc_redis_stores(path)
            notes += muc_notes
        return cfg, muc, notes

    def _endpoints(self, handler: str | None, cfg: dict[str, Any], muc: list[RedisEndpoint]
                   ) -> tuple[list[RedisEndpoint], list[tuple[Status, str]]]:
        endpoints: list[RedisEndpoint] = []
        found: list[tuple[Status, str]] = []
        if handler == "redis":
            session = (self.spec.session_store.endpoint("session") if self.spec.session_store
                       else session_endpoint(cfg))
            if session is None:  # Moodle throws sessionhandlerproblem on every page then
                found.append((Status.CRITICAL, "session handler is Redis but "
                              "$CFG->session_redis_host is not set (or not a plain value)"))
            else:
                endpoints.append(session)
        endpoints += muc + [target.endpoint() for target in self.spec.redis]
        return endpoints[:self.spec.max_stores], found

    def _judge(self, handler: str | None, handler_class: str,
               sessions: tuple[bool, int | None, int | None] | None, stats: list[RedisStats],
               found: list[tuple[Status, str]], notes: list[str]) -> Result:
        samples: list[Sample] = []
        if handler is not None:
            samples.append(Sample("lms_moodle_session_handler", 1.0, {"handler": handler}))
        for stat in stats:
            found += self._judge_redis(stat)
            samples += _redis_samples(stat)
        rows, size = (sessions[1], sessions[2]) if sessions else (None, None)
        if rows is not None:
            samples.append(Sample("lms_moodle_sessions", rows))
            status = threshold_status(rows, self.spec.sessions_warning,
                                      self.spec.sessions_critical)
            if status is not Status.OK:
                found.append((status, f"{rows} row{'s' if rows != 1 else ''} in the "
                                      "sessions table"))
        if size is not None:
            samples.append(Sample("lms_moodle_sessions_table_bytes", size))
        status = Status.worst(s for s, _ in found) if found else Status.OK
        summary = ("; ".join(text for _, text in sorted(found, key=lambda f: -f[0].value))
                   if found else _healthy(handler, rows, size, stats))
        details: dict[str, Any] = {
            "session_handler": handler or "unknown",
            "session_handler_class": handler_class or None,
            "stores": [_store_details(s) for s in stats]}
        if rows is not None:
            details["sessions_table"] = {"rows": rows, "bytes": size}
        if notes:
            details["notes"] = notes[:10]
        return Result(status, summary, tuple(samples), details)

    def _judge_redis(self, stat: RedisStats) -> list[tuple[Status, str]]:
        spec, what = self.spec, _role(stat.endpoint)
        if stat.error is not None:
            return [(Status.CRITICAL, f"{what} {stat.endpoint.where}: {stat.error}")]
        found: list[tuple[Status, str]] = []
        ping = stat.ping_seconds or 0.0
        status = threshold_status(ping, spec.latency_warning, spec.latency_critical)
        if status is not Status.OK:
            found.append((status, f"{what} answers PING in {fmt_seconds(ping)}"))
        if stat.maxmemory and stat.used_memory is not None:
            ratio = stat.used_memory / stat.maxmemory
            status = threshold_status(ratio, spec.memory_warning, spec.memory_critical)
            if status is not Status.OK:
                found.append((status, f"{what} uses {ratio:.0%} of maxmemory "
                              f"({fmt_bytes(stat.used_memory)} of {fmt_bytes(stat.maxmemory)})"))
        key = f"{stat.endpoint.name}@{stat.endpoint.where}"
        previous, self._evicted[key] = self._evicted.get(key), stat.evicted_keys or 0
        if previous is not None and stat.evicted_keys is not None:
            evicted = stat.evicted_keys - previous if stat.evicted_keys >= previous \
                else stat.evicted_keys  # the counter restarted with the server
            status = threshold_status(evicted, spec.evictions_warning, None)
            if status is not Status.OK:
                found.append((status, f"{what} evicted {evicted} keys since the last run "
                              f"(maxmemory-policy {stat.maxmemory_policy})"))
        return found


def _role(endpoint: RedisEndpoint) -> str:
    return "session Redis" if endpoint.name == "session" else f"Redis '{endpoint.name}'"


def _redis_samples(stat: RedisStats) -> list[Sample]:
    labels = {"store": stat.endpoint.name}
    samples = [Sample("lms_moodle_redis_up", 1.0 if stat.ok else 0.0, labels)]
    values = {"lms_moodle_redis_ping_seconds": stat.ping_seconds,
              "lms_moodle_redis_memory_used_bytes": stat.used_memory,
              "lms_moodle_redis_memory_max_bytes": stat.maxmemory,
              "lms_moodle_redis_evicted_keys_total": stat.evicted_keys,
              "lms_moodle_redis_keys": stat.keys}
    samples += [Sample(name, value, labels) for name, value in values.items()
                if value is not None]
    return samples


def _store_details(stat: RedisStats) -> dict[str, Any]:
    ep = stat.endpoint
    info: dict[str, Any] = {"store": ep.name, "where": ep.where, "source": ep.source,
                            "ok": stat.ok}
    if ep.cluster:
        info["cluster"] = "several seeds configured; the first one was probed"
    if stat.error:
        info["error"] = stat.error
    for key in ("version", "maxmemory_policy", "keys", "evicted_keys"):
        if getattr(stat, key) is not None:
            info[key] = getattr(stat, key)
    return info


def _healthy(handler: str | None, rows: int | None, size: int | None,
             stats: list[RedisStats]) -> str:
    parts = []
    session = next((s for s in stats if s.endpoint.name == "session"), None)
    if session is not None:
        limit = fmt_bytes(session.maxmemory) if session.maxmemory else "no maxmemory"
        used = fmt_bytes(session.used_memory) if session.used_memory is not None else "?"
        parts.append(f"sessions in Redis {session.endpoint.where} (PING "
                     f"{fmt_seconds(session.ping_seconds or 0.0)}, {used} used, {limit})")
    elif handler == "database":
        size_text = f", {fmt_bytes(size)}" if size is not None else ""
        parts.append(f"sessions in the database: {rows} rows{size_text}")
    elif handler is not None:
        parts.append(f"sessions handled by {handler}")
    others = [s for s in stats if s.endpoint.name != "session"]
    if others:
        parts.append(f"{len(others)} Redis store{'s' if len(others) > 1 else ''} OK")
    return "; ".join(parts) or "nothing to report"
