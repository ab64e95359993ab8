"""Where a Moodle site keeps its sessions: the handler, and the sessions table's size.

Read by checks/moodle/caches.py ``CachesCheck`` on the site's read-only pool (a worker
thread). Semantics from Moodle (moodle/moodle): lib/classes/session/manager.php
get_handler_class(): session_handler_class, else \\core\\session\\database when the
dbsessions setting is on, else \\core\\session\\file. The sessions table only fills with
the database (and file, memcached) handlers. Index use: COUNT(*) on sessions (its primary
key); sizes from pg_total_relation_size() and information_schema.TABLES, both catalogue
look-ups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checks.lazy import lazy_import
from checks.moodle.schema import moodle_tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

_HANDLERS = {"core\\session\\redis": "redis", "core\\session\\database": "database",
             "core\\session\\file": "file", "core\\session\\memcached": "memcached"}


def read_sessions(conn: Connection, prefix: str, postgres: bool, handler_class: str,
                   dbsessions_php: Any) -> tuple[bool, int | None, int | None]:
    """(dbsessions on, rows, bytes): rows and bytes only when sessions live in the table."""
    t = moodle_tables(prefix)
    dbsessions = dbsessions_php
    if dbsessions is None:
        dbsessions = conn.execute(sa.select(t.config.c.value)
                                  .where(t.config.c.name == "dbsessions")).scalar()
    on = str(dbsessions or "").strip() not in ("", "0") and dbsessions is not False
    if session_handler(handler_class, (on, None, None), False) != "database":
        return on, None, None
    rows = conn.execute(sa.select(sa.func.count()).select_from(t.sessions)).scalar() or 0
    name = t.sessions.name
    if postgres:
        size = conn.execute(sa.select(sa.func.pg_total_relation_size(
            sa.cast(name, _regclass())))).scalar()
    else:
        tables = sa.table("TABLES", sa.column("TABLE_SCHEMA"), sa.column("TABLE_NAME"),
                          sa.column("DATA_LENGTH"), sa.column("INDEX_LENGTH"),
                          schema="information_schema")
        size = conn.execute(sa.select(tables.c.DATA_LENGTH + tables.c.INDEX_LENGTH).where(
            tables.c.TABLE_SCHEMA == sa.func.database(), tables.c.TABLE_NAME == name)).scalar()
    return on, int(rows), int(size) if size is not None else None


def session_handler(handler_class: str, sessions: tuple[bool, Any, Any] | None,
             override: bool) -> str | None:
    """manager::get_handler_class(), reduced to a label; None when it cannot be known."""
    if handler_class:
        return _HANDLERS.get(handler_class.lower(), "other")
    if override:
        return "redis"
    if sessions is None:
        return None  # neither config.php nor the database could be read
    return "database" if sessions[0] else "file"


def _regclass() -> Any:
    from sqlalchemy.dialects.postgresql import REGCLASS  # PostgreSQL sites only

    return REGCLASS
