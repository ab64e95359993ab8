"""Finding and measuring the Redis servers a Moodle site depends on (blocking I/O).

Used by checks/moodle/caches.py, which calls these through ctx.run_blocking. Where the
servers are named, per Moodle's source (moodle/moodle, public/ prefix from 5.1 on):
- sessions: lib/classes/session/redis.php __construct()/connect_to_redis():
  $CFG->session_redis_host (comma-separated: more than one is a cluster; "host:port";
  a path or unix:// is a socket), session_redis_port (default 6379), session_redis_database
  (selected when not 0), session_redis_auth, session_redis_encrypt (TLS);
  connection and read timeouts default to 3 s.
- cache stores: the MUC config, dataroot/muc/config.php (or $CFG->altcacheconfigpath,
  a file or a directory holding cacheconfig.php; cache/classes/config.php
  get_config_file_path()), ``$configuration['stores'][name]`` with plugin 'redis' and
  configuration server (newline-separated, first one unless clustermode), password,
  encryption (cache/stores/redis/lib.php new_redis()). No database is selected: 0.
Passwords are used to connect and never kept in anything shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.common import describe_os_error
from checks.lazy import lazy_import
from checks.moodle.config_php import PhpSyntaxError, parse_php_file, to_python

redis = lazy_import("redis")


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    name: str  # the ``store`` label: "session", a MUC store name, or a spec entry's name
    host: str = "127.0.0.1"
    port: int = 6379
    database: int = 0
    socket: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    cluster: bool = False  # several seeds configured: the first one is probed
    source: str = "spec"

    @property
    def where(self) -> str:
        place = self.socket or (f"[{self.host}]:{self.port}" if ":" in self.host
                                else f"{self.host}:{self.port}")
        return f"{place}/{self.database}" if self.database else place


@dataclass(frozen=True, slots=True)
class RedisStats:
    endpoint: RedisEndpoint
    error: str | None = None
    ping_seconds: float | None = None
    used_memory: int | None = None
    maxmemory: int | None = None
    maxmemory_policy: str | None = None
    evicted_keys: int | None = None
    keys: int | None = None  # in the selected database
    version: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def split_server(server: str, default_port: int) -> tuple[str, int, str | None]:
    """"host", "host:port" or a socket path, as redis.php and new_redis() split them."""
    server = server.strip()
    if server.startswith("/") or server.lower().startswith("unix://"):
        return "", 0, server.removeprefix("unix://")
    host, _, port = server.rpartition(":") if ":" in server.strip("[]") else (server, "", "")
    if not host or not port.isdigit():
        return server.strip("[]"), default_port, None
    return host.strip("[]"), int(port), None


def session_endpoint(cfg: dict[str, Any]) -> RedisEndpoint | None:
    """The session Redis from $CFG values (config.php), or None when no host is set."""
    seeds = [h.strip() for h in str(cfg.get("session_redis_host") or "").split(",") if h.strip()]
    if not seeds:
        return None
    default_port = _int(cfg.get("session_redis_port"), 6379)
    host, port, socket_path = split_server(seeds[0], default_port)
    auth = cfg.get("session_redis_auth")
    username, password = (auth if isinstance(auth, list) and len(auth) == 2 else (None, auth))
    return RedisEndpoint("session", host, port, _int(cfg.get("session_redis_database"), 0),
                         socket_path, str(username) if username else None,
                         str(password) if password else None,
                         bool(cfg.get("session_redis_encrypt")), len(seeds) > 1, "config.php")


def muc_config_path(dataroot: Path | None, altcacheconfigpath: Any) -> Path | None:
    if isinstance(altcacheconfigpath, str) and altcacheconfigpath:
        alt = Path(altcacheconfigpath)
        return alt / "cacheconfig.php" if alt.is_dir() else alt
    return dataroot / "muc" / "config.php" if dataroot else None


def muc_redis_stores(path: Path) -> tuple[list[RedisEndpoint], list[str]]:
    """The Redis cache stores in a MUC config file; notes for what could not be read."""
    if not path.is_file():
        return [], []  # no MUC config yet (never purged) or another layout: nothing to add
    try:
        parsed = parse_php_file(path)
    except (OSError, PhpSyntaxError) as exc:
        return [], [f"MUC config not read: {exc}"]
    config = to_python(parsed.variables.get("configuration"))
    stores = config.get("stores") if isinstance(config, dict) else None
    endpoints = []
    for name, store in (stores or {}).items() if isinstance(stores, dict) else ():
        if not isinstance(store, dict) or store.get("plugin") != "redis":
            continue
        conf: dict[str, Any] = store.get("configuration") or {}
        if not isinstance(conf, dict):
            continue
        servers = [s for s in str(conf.get("server") or "").split("\n") if s.strip()]
        if not servers:
            continue
        host, port, socket_path = split_server(servers[0], 6379)
        endpoints.append(RedisEndpoint(
            str(name), host, port, 0, socket_path, None, str(conf.get("password") or "") or None,
            bool(conf.get("encryption")), bool(conf.get("clustermode")), "muc/config.php"))
    return endpoints, []


def probe_redis(endpoint: RedisEndpoint, timeout: float) -> RedisStats:
    """PING (timed on an open connection), then INFO memory/stats/keyspace/server."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=endpoint.host or "localhost", port=endpoint.port, db=endpoint.database,
        unix_socket_path=endpoint.socket, username=endpoint.username,
        password=endpoint.password, ssl=endpoint.tls, socket_timeout=timeout,
        socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))  # one try: we measure
    try:
        client.ping()  # connects, authenticates, selects the database
        start = time.perf_counter()
        client.ping()
        ping = time.perf_counter() - start
        try:
            info = {**client.info("memory"), **client.info("stats"), **client.info("server")}
            keyspace = client.info("keyspace")
        except redis.ResponseError:  # proxies (twemproxy, envoy) may refuse INFO
            return RedisStats(endpoint, ping_seconds=ping)
        db = keyspace.get(f"db{endpoint.database}")
        return RedisStats(
            endpoint, None, ping, _int(info.get("used_memory"), None),
            _int(info.get("maxmemory"), None), info.get("maxmemory_policy"),
            _int(info.get("evicted_keys"), None),
            _int(db.get("keys"), 0) if isinstance(db, dict) else 0,
            str(info.get("redis_version")) if info.get("redis_version") else None)
    except redis.AuthenticationError as exc:
        return RedisStats(endpoint, f"authentication failed: {_first_line(exc)}")
    except redis.ResponseError as exc:
        return RedisStats(endpoint, f"refused: {_first_line(exc)}")
    except redis.TimeoutError:
        return RedisStats(endpoint, f"timed out after {timeout:g}s")
    except (redis.ConnectionError, OSError) as exc:
        return RedisStats(endpoint, _connection_error(exc))
    except redis.InvalidResponse as exc:  # something else listens there (a proxy, HTTP)
        return RedisStats(endpoint, f"not a Redis answer: {_first_line(exc)}")
    except redis.RedisError as exc:
        return RedisStats(endpoint, f"Redis error: {_first_line(exc)}")
    finally:
        client.close()


def _connection_error(exc: BaseException) -> str:
    cause = describe_os_error(exc)
    if "refused" in cause.lower():
        return "connection refused"
    return cause.split(". ")[0][:160]


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def _int(value: Any, default: int | None) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
