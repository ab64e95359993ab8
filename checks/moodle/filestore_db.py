"""The files table as checks/moodle/filestore.py needs it: one streamed pass in contenthash
order, and the small look-ups that follow it.

Runs on the site's read-only connection in a worker thread (MoodleDatabase.run). The pass
is ``SELECT contenthash, filesize FROM files WHERE contenthash <> sha1('') ORDER BY
contenthash`` read through a server-side cursor (PostgreSQL: a named cursor, PyMySQL:
SSCursor, via SQLAlchemy ``yield_per``), so memory stays flat however many rows the site
has; rows are grouped by content in Python (filestore_reconcile.py). Measured on 1M rows
(bench/filedir.py), a GROUP BY in the query cost MariaDB 16-53 s (a temporary table, or
one primary-key look-up per row along the "contenthash" index of lib/db/install.xml)
against 5 s for the plain sorted rows. The site's per-statement limit (a few seconds) is
meant for point queries; this one statement gets the time left in the check's run
instead: ``SET LOCAL statement_timeout`` inside its transaction on PostgreSQL, the
session's max_statement_time (MariaDB) / max_execution_time (MySQL) and PyMySQL's socket
read timeout (the server sorts before the first row arrives) set and restored around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from checks.lazy import lazy_import
from checks.moodle.filestore_scan import EMPTY_SHA1, Row
from checks.moodle.schema import MoodleTables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

_BATCH = 5000  # rows per round trip of the server-side cursor
_IN_LIST = 500


def _mysql_limit(conn: Connection, seconds: float | None) -> None:
    """The session's statement limit, and the socket's read timeout to match (None: the
    connection's own read timeout again)."""
    limit = seconds if seconds is not None else conn.info.get("vigil_usual_limit", 0.0)
    if getattr(conn.dialect, "is_mariadb", False):
        conn.exec_driver_sql(f"SET SESSION max_statement_time = {max(limit, 0.001):.3f}")
    else:
        conn.exec_driver_sql(f"SET SESSION max_execution_time = {max(1, int(limit * 1000))}")
    raw = conn.connection.dbapi_connection
    sock = getattr(raw, "_sock", None)  # PyMySQL: set at connect from read_timeout
    if sock is not None:
        sock.settimeout(seconds + 5 if seconds is not None else getattr(raw, "_read_timeout",
                                                                         None))


@contextmanager
def content_rows(conn: Connection, t: MoodleTables, seconds: float,
                 usual_limit: float) -> Iterator[Iterator[Row]]:
    """(contenthash, filesize) of every files row with content, streamed in contenthash
    order; the statement may run for ``seconds``, then ``usual_limit`` applies again."""
    f = t.files
    query = (sa.select(f.c.contenthash, f.c.filesize).where(f.c.contenthash != EMPTY_SHA1)
             .order_by(f.c.contenthash))
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
    else:
        conn.info["vigil_usual_limit"] = usual_limit
        _mysql_limit(conn, seconds)
    result = conn.execution_options(yield_per=_BATCH).execute(query)
    finished = False
    try:
        yield ((str(h), int(size or 0)) for h, size in result)
        finished = True
    finally:
        if not finished and not postgres:
            # PyMySQL would read every remaining row to close an unbuffered result:
            # drop the connection instead (the pool opens a new one).
            conn.invalidate()
        else:
            result.close()
            if not postgres:
                _mysql_limit(conn, None)


def still_referenced(conn: Connection, t: MoodleTables, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` some files row still uses (a fresh look, after the pass)."""
    f = t.files
    found: set[str] = set()
    for start in range(0, len(hashes), _IN_LIST):
        chunk = hashes[start:start + _IN_LIST]
        found.update(conn.execute(sa.select(f.c.contenthash).distinct()
                                  .where(f.c.contenthash.in_(chunk))).scalars())
    return found


def where_used(conn: Connection, t: MoodleTables, hashes: list[str]
               ) -> dict[str, dict[str, Any]]:
    """For each hash, the first files row using it: where, not what. Component, file area,
    context and item locate the file for an admin; the file name, author and user are the
    user's data and are never read."""
    if not hashes:
        return {}
    f = t.files
    rows = conn.execute(sa.select(f.c.contenthash, f.c.contextid, f.c.component,
                                  f.c.filearea, f.c.itemid)
                        .where(f.c.contenthash.in_(hashes)).order_by(f.c.id).limit(500))
    first: dict[str, dict[str, Any]] = {}
    for digest, contextid, component, filearea, itemid in rows:
        first.setdefault(digest, {"contextid": int(contextid), "component": component,
                                  "filearea": filearea, "itemid": int(itemid)})
    return first


def config_values(conn: Connection, t: MoodleTables, names: list[str]) -> dict[str, str]:
    c = t.config
    rows = conn.execute(sa.select(c.c.name, c.c.value).where(c.c.name.in_(names)))
    return {str(name): str(value) for name, value in rows}
