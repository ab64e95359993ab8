"""Read-only, pooled access to a Moodle database (PostgreSQL or MySQL/MariaDB).

SQLAlchemy Core with the sync drivers (psycopg 3, PyMySQL) run in the daemon's thread
pool through ``ctx.run_blocking``. Every session is read-only and every statement is
bounded by ``statement_timeout``; driver errors become CheckUnavailable with a cause a
human understands (refused login, missing table, timeout), never a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.settings import DatabaseSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

T = TypeVar("T")

# Error codes that mean "the statement timeout cut the query off".
_PG_QUERY_CANCELED = "57014"
_MYSQL_TIMEOUTS = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_PG_UNDEFINED_TABLE = "42P01"
_MYSQL_NO_SUCH_TABLE = 1146


def database_url(settings: DatabaseSettings) -> URL:
    if settings.is_postgres:
        query = {"host": settings.socket} if settings.socket else {}
        return sa.engine.URL.create("postgresql+psycopg", username=settings.user,
                          password=settings.password.get_secret_value() or None,
                          host=None if settings.socket else settings.host,
                          port=settings.port, database=settings.name, query=query)
    query = {"unix_socket": settings.socket} if settings.socket else {}
    return sa.engine.URL.create("mysql+pymysql", username=settings.user,
                      password=settings.password.get_secret_value() or None,
                      host=settings.host, port=settings.port, database=settings.name,
                      query={**query, "charset": "utf8mb4"})


def create_engine(settings: DatabaseSettings) -> Engine:
    timeout_ms = int(settings.statement_timeout * 1000)
    if settings.is_postgres:
        connect_args: dict[str, Any] = {
            "connect_timeout": max(1, int(settings.connect_timeout)),
            "options": f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on",
        }
    else:
        connect_args = {"connect_timeout": max(1, int(settings.connect_timeout)),
                        # The socket read timeout backs up the server-side limit.
                        "read_timeout": int(settings.statement_timeout) + 5}
    engine = sa.create_engine(
        database_url(settings), connect_args=connect_args, pool_size=settings.pool_size,
        max_overflow=0, pool_pre_ping=True, pool_recycle=300, pool_timeout=10,
    )
    if not settings.is_postgres:
        sa.event.listen(engine, "connect", _mysql_session_limits(settings.statement_timeout))
    return engine


def _mysql_session_limits(seconds: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0])
            if "mariadb" in version.lower():
                cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(seconds * 1000)}")
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        finally:
            cursor.close()

    return on_connect


class MoodleDatabase:
    """One site's database: a lazily created pool and a prefix for table names."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.prefix = settings.prefix
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = create_engine(self.settings)
            return self._engine

    def run_sync(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a pooled read-only connection; errors become CheckUnavailable."""
        try:
            with self.engine.connect() as connection:
                return work(connection)
        except sa.exc.DBAPIError as exc:
            raise CheckUnavailable(describe_db_error(exc, self.settings)) from None
        except sa.exc.SQLAlchemyError as exc:
            raise CheckUnavailable(f"database error: {type(exc).__name__}: {exc}") from None

    async def run(self, ctx: CheckContext, work: Callable[[Connection], T]) -> T:
        return await ctx.run_blocking(lambda: self.run_sync(work))

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def describe_db_error(exc: sa.exc.DBAPIError, settings: DatabaseSettings) -> str:
    """One line naming the cause; never the password or the full SQL."""
    orig = exc.orig
    args: tuple[Any, ...] = getattr(orig, "args", ())
    sqlstate = getattr(orig, "sqlstate", None)
    code = args[0] if args and isinstance(args[0], int) else None
    server = settings.socket or (
        f"{settings.host}:{settings.port}" if settings.port else settings.host)
    where = f"{settings.type} database {settings.name!r} on {server}"
    # PyMySQL errors are (code, message) tuples: show the message, not the tuple's repr.
    text = str(args[1]) if code is not None and len(args) > 1 else str(orig or exc)
    lines = text.strip().splitlines()
    first_line = lines[0] if lines else type(orig or exc).__name__
    if sqlstate == _PG_QUERY_CANCELED or code in _MYSQL_TIMEOUTS:
        return f"query exceeded the {settings.statement_timeout:g}s statement timeout on {where}"
    if sqlstate == _PG_UNDEFINED_TABLE or code == _MYSQL_NO_SUCH_TABLE:
        return f"table missing in {where} (plugin not installed?): {first_line}"
    if isinstance(exc, sa.exc.OperationalError):
        return f"cannot query {where} as {settings.user!r}: {first_line}"
    return f"database error on {where}: {first_line}"
