"""Throwaway Moodle-shaped databases on the local PostgreSQL and MariaDB servers.

``TestDatabase.create(backend, prefix)`` makes a database named ``vigil_test_<time>_<rand>``,
creates the double's tables in it (tests/moodle_double/install_xml/, with the SQL Moodle's
installer would run: ddl.py), and a SELECT-only account for the probes
(``settings``: a DatabaseSettings as an admin would write in [lms.moodle.database]).
``reset()`` empties it between tests (and recreates a table a test dropped); ``close()``
drops the database and the account. Used by tests/moodle/conftest.py and by bench/.

Servers: VIGIL_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
and VIGIL_TEST_MARIADB_URL (default mysql+pymysql://root@127.0.0.1:3306/).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from checks.moodle.settings import DatabaseSettings
from tests.moodle_double.ddl import Backend, install_ddl
from tests.moodle_double.tables import DoubleTables

ADMIN_URLS: dict[str, str] = {
    "postgresql": os.environ.get("VIGIL_TEST_PG_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("VIGIL_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
}
NAME_PREFIX = "vigil_test_"
STALE_AFTER = 3 * 3600  # databases left behind by a killed run are dropped after this


def server_engine(backend: Backend, database: str | None = None) -> Engine:
    """An admin (autocommit) engine on the server, or on one of its databases."""
    url = make_url(ADMIN_URLS[backend])
    if database is not None:
        url = url.set(database=database)
    if backend == "mariadb":
        url = url.update_query_dict({"charset": "utf8mb4", "local_infile": "1"})
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=4)


@dataclass
class TestDatabase:
    """One throwaway database and its read-only account. Not a pytest class."""

    __test__ = False  # pytest: do not collect

    backend: Backend
    prefix: str
    name: str
    ro_user: str
    ro_password: str
    admin_engine: Engine  # writable, autocommit; for setup only
    tables: DoubleTables
    _server: Engine = field(repr=False)

    @classmethod
    def create(cls, backend: Backend, prefix: str = "mdl_") -> TestDatabase:
        stamp, rand = int(time.time()), secrets.token_hex(3)
        name, ro_user = f"{NAME_PREFIX}{stamp}_{rand}", f"vigil_ro_{stamp}_{rand}"
        server = server_engine(backend)
        _drop_stale(server, backend)
        password = secrets.token_urlsafe(12)
        with server.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" ENCODING \'UTF8\'')
                conn.exec_driver_sql(f"CREATE ROLE \"{ro_user}\" LOGIN PASSWORD '{password}'")
            else:
                conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                                     "COLLATE utf8mb4_unicode_ci")
                for host in ("localhost", "127.0.0.1"):
                    conn.exec_driver_sql(f"CREATE USER '{ro_user}'@'{host}' "
                                         f"IDENTIFIED BY '{password}'")
                    conn.exec_driver_sql(f"GRANT SELECT ON `{name}`.* TO '{ro_user}'@'{host}'")
        db = cls(backend, prefix, name, ro_user, password, server_engine(backend, name),
                 DoubleTables(prefix, backend), server)
        try:
            create_tables(db.admin_engine, backend, prefix)
            if backend == "postgresql":
                db._grant_pg_select()
        except BaseException:
            db.close()
            raise
        return db

    def _grant_pg_select(self) -> None:
        with self.admin_engine.connect() as conn:
            conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{self.name}" TO "{self.ro_user}"')
            conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{self.ro_user}"')
            conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{self.ro_user}"')
            # Tables recreated later (reset after drop_table) stay readable.
            conn.exec_driver_sql("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                                 f'GRANT SELECT ON TABLES TO "{self.ro_user}"')

    @property
    def port(self) -> int:
        return make_url(ADMIN_URLS[self.backend]).port or (
            5432 if self.backend == "postgresql" else 3306)

    @property
    def host(self) -> str:
        return make_url(ADMIN_URLS[self.backend]).host or "127.0.0.1"

    def settings(self, **overrides: object) -> DatabaseSettings:
        """DatabaseSettings for the read-only account (override e.g. statement_timeout)."""
        values: dict[str, object] = {
            "type": "pgsql" if self.backend == "postgresql" else "mariadb",
            "host": self.host, "port": self.port, "name": self.name, "user": self.ro_user,
            "password": self.ro_password, "prefix": self.prefix, "statement_timeout": 5.0,
            "connect_timeout": 5.0,
        }
        values.update(overrides)
        return DatabaseSettings.model_validate(values)

    def reset(self) -> None:
        """Empty every table (ids restart at 1) and recreate any table a test dropped."""
        present = set(sa.inspect(self.admin_engine).get_table_names())
        missing = [n for n in self.tables.names() if self.prefix + n not in present]
        if missing:
            create_tables(self.admin_engine, self.backend, self.prefix, missing)
        names = [t.name for t in self.tables]
        with self.admin_engine.connect() as conn:
            if self.backend == "postgresql":
                # TRUNCATE costs per table, so only the tables that hold rows.
                probe = " UNION ALL ".join(
                    f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM \"{n}\")" for n in names)
                dirty = conn.exec_driver_sql(probe).scalars().all()
                if dirty:
                    quoted = ", ".join(f'"{n}"' for n in dirty)
                    conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY")
            else:
                # DELETE + resetting AUTO_INCREMENT is much faster than TRUNCATE for the
                # handful of rows a test inserts; only tables that were written need it.
                dirty = conn.exec_driver_sql(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                    "AND AUTO_INCREMENT > 1", (self.name,)).scalars().all()
                for table in dirty:
                    conn.exec_driver_sql(f"DELETE FROM `{table}`")
                    conn.exec_driver_sql(f"ALTER TABLE `{table}` AUTO_INCREMENT = 1")

    def drop_table(self, name: str) -> None:
        """Drop one Moodle table (``"quiz"``), as when a plugin is not installed.
        The next reset() recreates it."""
        quoted = f'"{self.prefix}{name}"' if self.backend == "postgresql" else (
            f"`{self.prefix}{name}`")
        with self.admin_engine.connect() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted}")

    def close(self) -> None:
        """Drop the database and the read-only account (idempotent)."""
        self.admin_engine.dispose()
        with self._server.connect() as conn:
            if self.backend == "postgresql":
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.ro_user}"')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self.name}`")
                for host in ("localhost", "127.0.0.1"):
                    conn.exec_driver_sql(f"DROP USER IF EXISTS '{self.ro_user}'@'{host}'")
        self._server.dispose()


def create_tables(engine: Engine, backend: Backend, prefix: str,
                  names: list[str] | None = None) -> None:
    """Create the double's tables (all, or ``names``) as Moodle's installer would."""
    ddl = install_ddl(prefix, backend)
    with engine.connect() as conn:
        for name in names if names is not None else list(ddl):
            for statement in ddl[name].statements:
                conn.exec_driver_sql(statement)


def _drop_stale(server: Engine, backend: Backend) -> None:
    """Drop databases and accounts of earlier runs that were killed before their teardown.
    Only ones older than STALE_AFTER: other test sessions may be running right now."""
    cutoff = time.time() - STALE_AFTER
    with server.connect() as conn:
        if backend == "postgresql":
            dbs = conn.exec_driver_sql("SELECT datname FROM pg_database").scalars().all()
            roles = conn.exec_driver_sql("SELECT rolname FROM pg_roles").scalars().all()
        else:
            dbs = conn.exec_driver_sql("SHOW DATABASES").scalars().all()
            roles = conn.exec_driver_sql("SELECT DISTINCT User FROM mysql.user").scalars().all()
        for db in dbs:
            if _is_stale(db, NAME_PREFIX, cutoff):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'
                                     if backend == "postgresql"
                                     else f"DROP DATABASE IF EXISTS `{db}`")
        for role in roles:
            if not _is_stale(role, "vigil_ro_", cutoff):
                continue
            if backend == "postgresql":
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
            else:
                for host in ("localhost", "127.0.0.1"):
                    conn.exec_driver_sql(f"DROP USER IF EXISTS '{role}'@'{host}'")


def _is_stale(name: str, prefix: str, cutoff: float) -> bool:
    if not name.startswith(prefix):
        return False
    stamp = name[len(prefix):].split("_", 1)[0]
    return stamp.isdigit() and int(stamp) < cutoff
