"""Helpers for bench/moodle_probes.py: the bench database, the realistic small tables, the
statement recorder and the EXPLAIN reader. Not a benchmark itself.

- BenchDatabase: a Moodle-shaped database with a read-only account, like
  tests.moodle_double.server.TestDatabase but under a fixed name per backend and scale
  (``vigil_bench_moodle_s100``), so that ``--keep`` can leave it and the next run reuse it.
  A meta table records what was loaded; a database whose load did not finish is rebuilt.
- populate(): tests.moodle_double.bulk.build_large_site (users, courses, enrolments, log,
  files) plus the tables the bulk loader leaves small, through the Scenario builders: a
  realistic adhoc queue, quizzes with finished, abandoned and in-progress attempts,
  database sessions, one backup_courses row per course, lockouts, config noise, plugins.
- StatementRecorder: SQLAlchemy before/after_cursor_execute events on the probes' own
  engine time every statement client-side (loopback; fetching included).
- explain(): EXPLAIN of a captured statement, reduced to the access path per table.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from checks.moodle.logstore import ENROLMENT_CREATED
from checks.moodle.mail import EMAIL_FAILED
from tests.moodle_double.bulk import build_large_site
from tests.moodle_double.ddl import TableDDL, install_ddl
from tests.moodle_double.scenario import NOW, Scenario
from tests.moodle_double.scenario_content import BACKUP_ERROR, BACKUP_OK, BACKUP_WARNING
from tests.moodle_double.scenario_tasks import ADHOC_TASKS
from tests.moodle_double.server import Backend, TestDatabase, create_tables, server_engine
from tests.moodle_double.sitedir import DEFAULT_PLUGINS
from tests.moodle_double.tables import DoubleTables

PREFIX = "mdl_"
DAY = 86400
LAYOUT_VERSION = "2"  # bump when populate() changes: a kept database is then rebuilt
PLUGIN_VERSION = 2025100600  # int(version) of sitedir's 5.1 core, as its plugins carry
# Plugins on disk and in config_plugins besides sitedir's defaults (a real site: ~400).
EXTRA_PLUGINS = tuple(f"{kind}_bench{i}" for i in range(60)
                      for kind in ("mod", "block", "tool", "local", "qtype"))


@dataclass(frozen=True)
class Size:
    users: int
    courses: int
    log_rows: int
    file_rows: int

    @classmethod
    def at(cls, scale: float) -> Size:
        return cls(max(1000, round(100_000 * scale)), max(100, round(10_000 * scale)),
                   max(10_000, round(5_000_000 * scale)), max(2_000, round(1_000_000 * scale)))

    def fingerprint(self) -> str:
        # The double's schema too: a kept database from before a table was added would
        # make the probe reading it UNKNOWN ("table missing") in every later run.
        ddl = [t.statements for t in install_ddl(PREFIX, "postgresql").values()]
        schema = hashlib.sha256(json.dumps(ddl).encode()).hexdigest()[:16]
        return json.dumps({"layout": LAYOUT_VERSION, "schema": schema, **self.__dict__},
                          sort_keys=True)


# ------------------------------------------------------------------ the database
def scale_tag(scale: float) -> str:
    return f"s{round(scale * 100)}"


def open_database(backend: Backend, size: Size, tag: str) -> tuple[TestDatabase, bool]:
    """The bench database for ``tag``: (database, True when a complete earlier load of the
    same size is reused). Drop it with .close(); keep it with keep_open()."""
    name, ro_user = f"vigil_bench_moodle_{tag}", f"vigil_bench_ro_{tag}"
    server = server_engine(backend)
    password = secrets.token_urlsafe(12)
    with server.connect() as conn:
        exists = name in _databases(conn, backend)
    reused = exists and _loaded(backend, name) == size.fingerprint()
    with server.connect() as conn:
        if exists and not reused:  # a different size, or a load that did not finish
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)' if backend ==
                                 "postgresql" else f"DROP DATABASE `{name}`")
        if not reused:
            conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"
                                 if backend == "postgresql" else
                                 f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                                 "COLLATE utf8mb4_unicode_ci")
        _read_only_account(conn, backend, name, ro_user, password)
    db = TestDatabase(backend, PREFIX, name, ro_user, password, server_engine(backend, name),
                      DoubleTables(PREFIX, backend), server)
    if not reused:
        create_tables(db.admin_engine, backend, PREFIX)
    if backend == "postgresql":
        db._grant_pg_select()  # noqa: SLF001 - the double's own grant, reused as is
    return db, reused


def keep_open(db: TestDatabase) -> None:
    """Leave the database for the next run (--keep): only close the pools."""
    db.admin_engine.dispose()
    db._server.dispose()  # noqa: SLF001


def mark_loaded(db: TestDatabase, size: Size) -> None:
    with db.admin_engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE vigil_bench_meta (fingerprint TEXT)")
        conn.execute(sa.text("INSERT INTO vigil_bench_meta VALUES (:f)"),
                     {"f": size.fingerprint()})


def _databases(conn: Connection, backend: Backend) -> list[str]:
    if backend == "postgresql":
        return list(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
    return list(conn.exec_driver_sql("SHOW DATABASES").scalars())


def _loaded(backend: Backend, name: str) -> str | None:
    engine = server_engine(backend, name)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT fingerprint FROM vigil_bench_meta").scalar()
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()


def _read_only_account(conn: Connection, backend: Backend, name: str, user: str,
                       password: str) -> None:
    """Create the SELECT-only account, or give an existing one a fresh password."""
    if backend == "postgresql":
        known = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                     (user,)).scalar()
        verb = "ALTER" if known else "CREATE"
        conn.exec_driver_sql(f"{verb} ROLE \"{user}\" LOGIN PASSWORD '{password}'")
        return
    for host in ("localhost", "127.0.0.1"):
        conn.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' "
                             f"IDENTIFIED BY '{password}'")
        conn.exec_driver_sql(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{name}`.* TO '{user}'@'{host}'")


def table_rows(db: TestDatabase) -> dict[str, int]:
    """Exact rows per Moodle table (without the prefix)."""
    with db.admin_engine.connect() as conn:
        return {name: int(conn.execute(sa.select(sa.func.count()).select_from(
            db.tables[name])).scalar_one()) for name in db.tables.names()}


# ------------------------------------------------------------------ the site's rows
def populate(db: TestDatabase, size: Size, say: Callable[[str], None]) -> dict[str, float]:
    """The large site, then the realistic small tables; returns seconds per step."""
    timings = build_large_site(db.admin_engine, db.tables, users=size.users,
                               courses=size.courses, log_rows=size.log_rows,
                               file_rows=size.file_rows, now=NOW, progress=say)
    start = time.monotonic()
    SmallTables(Scenario(db.admin_engine, db.tables, now=NOW), size).add_all(say)
    with db.admin_engine.connect() as conn:  # the planner must see the new rows too
        for name in ("quiz", "quiz_attempts", "task_adhoc", "sessions", "backup_courses",
                     "user_preferences", "config", "config_plugins", "config_log"):
            quoted = db.admin_engine.dialect.identifier_preparer.quote(db.tables[name].name)
            conn.exec_driver_sql(f"ANALYZE {quoted}" if db.backend == "postgresql"
                                 else f"ANALYZE TABLE {quoted}")
    timings["small_tables"] = time.monotonic() - start
    return timings


@dataclass
class SmallTables:
    """Rows a busy 100k-user site has in the tables build_large_site leaves small."""

    s: Scenario
    size: Size
    rng: random.Random = field(default_factory=lambda: random.Random(20270115))

    def add_all(self, say: Callable[[str], None]) -> None:
        with self.s.engine.connect() as conn:
            t = self.s.tables
            self.first_user = int(conn.execute(sa.select(sa.func.max(t.user.c.id))).scalar_one()
                                  ) - self.size.users + 1
            self.first_course = int(conn.execute(sa.select(sa.func.max(t.course.c.id)))
                                    .scalar_one()) - self.size.courses + 1
        for step in (self.config, self.tasks, self.quizzes, self.people, self.backups,
                     self.events):
            begin = time.monotonic()
            step()
            say(f"{step.__name__}: {time.monotonic() - begin:.1f}s")

    def bulk(self, table: str, rows: list[dict[str, Any]], batch: int = 20_000) -> None:
        """Plain multi-row INSERTs of Scenario-completed rows (no RETURNING: much faster
        than Scenario.insert for 100k rows, on MariaDB above all)."""
        target = self.s.tables[table]
        with self.s.engine.begin() as conn:
            for i in range(0, len(rows), batch):
                conn.execute(target.insert(), [self.s.complete(table, r)
                                               for r in rows[i:i + batch]])

    def config(self) -> None:
        s, now = self.s, self.s.now
        s.set_config("dbsessions", 1)  # sessions in the database: the costly case
        s.set_config("lockoutthreshold", 10)
        for component in (*DEFAULT_PLUGINS, *EXTRA_PLUGINS):
            s.plugin_version(component, PLUGIN_VERSION)
        # A real site holds ~600 config and a few thousand config_plugins rows.
        self.bulk("config", [{"name": f"bench_setting_{i}", "value": str(i)}
                             for i in range(600)])
        self.bulk("config_plugins", [{"plugin": component, "name": f"setting_{i}",
                                      "value": str(i)}
                                     for component in EXTRA_PLUGINS for i in range(10)])
        self.bulk("config_log", [{"userid": 2, "timemodified": now - self.rng.randrange(
            365 * DAY), "plugin": None, "name": f"bench_setting_{i % 600}", "value": "1",
            "oldvalue": "0"} for i in range(2000)])

    def tasks(self) -> None:
        s, now = self.s, self.s.now
        s.adhoc_backlog(ADHOC_TASKS[2], count=2000, oldest_age=240)  # forum mails queued
        s.adhoc_backlog(ADHOC_TASKS[4], count=300, oldest_age=60)
        s.failing_adhoc(ADHOC_TASKS[1], faildelay=240, count=5)
        s.dead_adhoc(ADHOC_TASKS[1], count=2)
        s.long_running_task(hours=0.2, adhoc=True, classname=ADHOC_TASKS[0])
        # Tasks queued for later (course backups, calendar refreshes): not due yet.
        self.bulk("task_adhoc", [{
            "component": "core", "classname": ADHOC_TASKS[i % 2 * 4], "nextruntime":
            now + 60 + i * 7, "faildelay": 0, "customdata": f'{{"courseid":{i}}}',
            "timecreated": now - 600, "attemptsavailable": 12} for i in range(5000)])

    def quizzes(self) -> None:
        """Two quizzes per course (a third without close date), two finished attempts per
        user, 0.5 % abandoned ones, and three exams running now."""
        s, now, rng, size = self.s, self.s.now, self.rng, self.size
        count = size.courses * 2
        self.bulk("quiz", [{
            "course": self.first_course + i % size.courses, "name": f"Quiz {i}", "intro": "",
            "timeopen": now - rng.randrange(90 * DAY),
            "timeclose": 0 if i % 3 == 0 else now + rng.randrange(-60 * DAY, 60 * DAY),
            "timelimit": 3600, "preferredbehaviour": "deferredfeedback", "sumgrades": 10,
            "grade": 10, "timecreated": now - 100 * DAY, "timemodified": now - 100 * DAY,
            "password": "", "subnet": "", "browsersecurity": "-"} for i in range(count)])
        with s.engine.connect() as conn:
            quiz_ids = list(conn.execute(sa.select(s.tables.quiz.c.id)).scalars())
        rows = []
        for j in range(size.users * 2):
            abandoned = j % 200 == 0
            start = now - rng.randrange(2 * DAY if abandoned else 120 * DAY) - 3600
            rows.append({
                "quiz": rng.choice(quiz_ids), "userid": self.first_user + j % size.users,
                "attempt": 1 + j // size.users, "uniqueid": 9_000_000_000 + j,
                "layout": "1,2,3,0", "state": "inprogress" if abandoned else "finished",
                "preview": 1 if j % 997 == 0 else 0, "timestart": start,
                "timefinish": 0 if abandoned else start + 1200,
                "timemodified": start + (120 if abandoned else 1200),
                "timecheckstate": start + 3600 if abandoned else None,
                "sumgrades": None if abandoned else rng.randrange(11)})
        self.bulk("quiz_attempts", rows)
        for attempts, closes_in, name in ((180, 3600, "Final exam A"),
                                          (60, 3 * 3600, "Midterm B"), (25, 5 * 3600, "Test C")):
            s.quiz_open_with_attempts(attempts, now + closes_in, course_id=self.first_course,
                                      n_finished=20, name=name)

    def people(self) -> None:
        s, now, size = self.s, self.s.now, self.size
        first = self.first_user
        s.sessions(range(first, first + max(100, size.users // 20)), idle=300)
        # user_preferences: one row per user, plus lockouts (current and expired ones).
        prefs = [{"userid": first + i, "name": "email_bounce_count", "value": "0"}
                 for i in range(size.users)]
        prefs += [{"userid": first + i, "name": "login_lockout",
                   "value": str(now - (600 if i < 3 else 30 * DAY))} for i in range(40)]
        self.bulk("user_preferences", prefs)

    def backups(self) -> None:
        ids = range(self.first_course, self.first_course + self.size.courses)
        status = {BACKUP_ERROR: list(ids[::100]), BACKUP_WARNING: list(ids[1::100])}
        special = set(status[BACKUP_ERROR]) | set(status[BACKUP_WARNING])
        status[BACKUP_OK] = [i for i in ids if i not in special]
        for laststatus, course_ids in status.items():
            for i in range(0, len(course_ids), 5000):  # one INSERT each; ids not needed
                self.s.backup_status(course_ids[i:i + 5000], laststatus, ended_ago=5 * 3600)

    def events(self) -> None:
        s, now = self.s, self.s.now
        for i in range(3):
            s.log_event(EMAIL_FAILED, userid=self.first_user + i, at=now - 60 * (i + 1),
                        other={"subject": "Forum post", "message": "...",
                               "errorinfo": "SMTP Error: Could not connect to SMTP host."})
        for i in range(50):
            s.log_event(ENROLMENT_CREATED, userid=2, at=now - 70 * i, crud="c",
                        relateduserid=self.first_user + i, courseid=self.first_course,
                        contextlevel=50)


# ------------------------------------------------------------------ statement capture
@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Any
    seconds: float


class StatementRecorder:
    """Times every statement the probes' engines send (client-side, fetch included)."""

    def __init__(self) -> None:
        self._current: list[Statement] | None = None
        self._started: dict[int, float] = {}
        self._lock = threading.Lock()

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Connection, cursor: Any, statement: str, parameters: Any,
                context: Any, executemany: bool) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Connection, cursor: Any, statement: str, parameters: Any,
               context: Any, executemany: bool) -> None:
        seconds = time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())
        with self._lock:
            if self._current is not None:
                self._current.append(Statement(statement, parameters, seconds))

    @contextmanager
    def capture(self) -> Iterator[list[Statement]]:
        found: list[Statement] = []
        with self._lock:
            self._current = found
        try:
            yield found
        finally:
            with self._lock:
                self._current = None


# ------------------------------------------------------------------ EXPLAIN
@dataclass(frozen=True, slots=True)
class Access:
    table: str  # without the prefix
    how: str  # "index", "full scan", "full index scan", "other"
    index: str | None
    columns: str  # the index's columns, "" when unknown


def index_columns(tables: DoubleTables) -> dict[str, str]:
    """Index name -> its columns, for every index of the double (primary keys: "id")."""
    known: dict[str, str] = {"PRIMARY": "id"}
    for table in install_ddl(tables.prefix, "postgresql").values():  # same names on MariaDB
        known[table.primary_key] = "id"
        for ix in table.indexes:
            known[ix.name] = known[f"{ix.name}_pattern"] = ", ".join(ix.fields)
    return known


def _raw_query(engine: Engine, sql: str, params: Any) -> tuple[list[str], list[Any]]:
    """(column names, rows) of ``sql`` run on a raw DBAPI connection of ``engine``, with the
    parameters exactly as the probe's driver got them."""
    raw: Any = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            import psycopg  # the probes' driver; client-side binding keeps EXPLAIN simple

            cursor: Any = psycopg.ClientCursor(raw.driver_connection)
        else:
            cursor = raw.cursor()
        try:
            cursor.execute(sql, params)
            return [d[0] for d in cursor.description or ()], list(cursor.fetchall())
        finally:
            cursor.close()
    finally:
        raw.close()


def explain(engine: Engine, statement: Statement, tables: DoubleTables) -> list[Access]:
    """The access path per table of ``statement`` as the server would run it now."""
    columns = index_columns(tables)
    if engine.dialect.name == "postgresql":
        _, rows = _raw_query(engine, "EXPLAIN (FORMAT JSON) " + statement.sql,
                             statement.params)
        return list(_pg_nodes(rows[0][0][0]["Plan"], columns))
    names, rows = _raw_query(engine, "EXPLAIN " + statement.sql, statement.params)
    return [_maria_access(dict(zip(names, row, strict=True)), columns) for row in rows]


def server_seconds(engine: Engine, statement: Statement) -> float:
    """Server-side time of one more execution of ``statement``: planning + execution from
    PostgreSQL's EXPLAIN ANALYZE, optimization + query block from MariaDB's ANALYZE
    FORMAT=JSON. Per-row instrumentation inflates it, most on big scans."""
    if engine.dialect.name == "postgresql":
        _, rows = _raw_query(engine, "EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql,
                             statement.params)
        plan = rows[0][0][0]
        return float(plan["Planning Time"] + plan["Execution Time"]) / 1000
    _, rows = _raw_query(engine, "ANALYZE FORMAT=JSON " + statement.sql, statement.params)
    analyzed = json.loads(rows[0][0])
    optimize = analyzed.get("query_optimization", {}).get("r_total_time_ms", 0.0)
    return float(optimize + analyzed["query_block"]["r_total_time_ms"]) / 1000


def _short(table: str | None) -> str:
    table = table or "?"
    return table[len(PREFIX):] if table.startswith(PREFIX) else table


def _pg_nodes(node: dict[str, Any], columns: dict[str, str]) -> Iterator[Access]:
    kind = node.get("Node Type", "")
    table = _short(node.get("Relation Name"))
    if kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        index = node.get("Index Name", "?")
        if kind == "Bitmap Index Scan":  # the heap side names no table: take the index's
            table = next((_short(t.name) for t in _tables_of(index)), "?")
        yield Access(table, "index", index, columns.get(index, ""))
    elif kind == "Seq Scan":
        yield Access(table, "full scan", None, "")
    for child in node.get("Plans", []):
        yield from _pg_nodes(child, columns)


def _tables_of(index: str) -> list[TableDDL]:
    return [t for t in install_ddl(PREFIX, "postgresql").values()
            if index == t.primary_key or any(index in (ix.name, f"{ix.name}_pattern")
                                             for ix in t.indexes)]


def _maria_access(row: dict[str, Any], columns: dict[str, str]) -> Access:
    table, kind, key = _short(row.get("table")), row.get("type"), row.get("key")
    if kind == "ALL":
        return Access(table, "full scan", None, "")
    # index_merge names several keys: "a,b" (MariaDB's EXPLAIN key column)
    cols = " | ".join(columns.get(k, "?") for k in re.split(r"[,|]", str(key or "")) if k)
    if kind == "index":
        return Access(table, "full index scan", key, cols)
    if key:
        return Access(table, "index", key, cols)
    return Access(table, "other", None, str(row.get("Extra") or ""))
