"""Moodle probes: wall time and database time of every Moodle probe against a large site,
on PostgreSQL and on MariaDB, the load the whole set adds at default intervals, and the
indexes each query relies on.

What it does, per backend (everything local, bounded in time, stops by itself):

1. Creates a Moodle-shaped database (tests/moodle_double: real table, column and index
   names) and its read-only account, and loads a site of ``--scale`` x (100,000 users,
   10,000 courses, 5 million log rows, 1 million file rows) with
   tests.moodle_double.bulk.build_large_site, then the tables the bulk leaves small through
   the Scenario builders (bench/_moodle_support.py SmallTables): adhoc queue (2,300 due,
   5,000 queued for later, failing, dead, running), 20,000 quizzes with 200,000 attempts
   and three exams running, 5,000 database sessions, one backup_courses row per course,
   100,000 user preferences with lockouts, config noise, 300 plugins on disk and in the DB.
   With ``--keep`` the database stays (named vigil_bench_moodle_s<scale%>) and the next
   run reuses it (a run without --keep reuses and then drops it); otherwise it is dropped
   at the end, also on errors and Ctrl-C/SIGTERM.
2. A fake 5.1 site directory (config.php, version.php, plugins, dataroot, a fake ``php``
   for admin/cli), an SMTP stand-in (aiosmtpd) named in config smtphosts, the local Redis
   for the Redis-sessions variant of moodle_caches, the in-process demo LMS for
   moodle_availability. The probes get the read-only account, as in production.
3. Per probe, with its default spec: one warm-up run, then ``--runs`` runs of the same
   check object (steady state: stateful probes read only what is new), then ``--runs``
   runs of a fresh check object each (what a daemon start pays; moodle_usage also pays it
   every inventory_interval). Wall time = check.run(); database time = the sum of every
   statement's time measured client-side by SQLAlchemy before/after_cursor_execute events
   on the probe's own engine (loopback, fetch included; pg_stat_statements would need
   shared_preload_libraries, which this server does not load). As a cross-check, each
   statement of one run is executed once more under EXPLAIN ANALYZE / ANALYZE FORMAT=JSON
   for a server-side figure ("db srv"; instrumentation inflates it on big scans).
4. Load: sum over probes of (median database time per run / default interval), as a
   share of one database core (client-side time over-counts it slightly), against the
   2 % target; every probe's slowest run must stay under 1 s. PASS/MISS, exit 0 either way.
5. EXPLAIN (PostgreSQL: FORMAT JSON; MariaDB: the key column) of every distinct statement
   captured: the index each one uses, and any full scan with the table's row count.

Run (full size, both backends: about 3 minutes on 2 cores, mostly loading the two sites;
reusing databases kept with --keep: about 15 s; --scale 0.1: about 30 s):

    python bench/moodle_probes.py
    python bench/moodle_probes.py --backend mariadb --scale 0.1 --runs 3
    python bench/moodle_probes.py --keep        # then again: the load is skipped
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _support import LOOPBACK, ROOT, free_port, machine_line, verdict, warn_if_busy

sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on sys.path, the repo is not

import _moodle_support as ms  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.registry import MOODLE_CHECK_TYPES  # noqa: E402
from checks.moodle.settings import MoodleSettings  # noqa: E402
from checks.moodle.site import MoodleSite  # noqa: E402
from monitor.app.demo.server import DemoServer  # noqa: E402
from monitor.kernel.result import Status
from monitor.kernel.spec import CheckSpec  # noqa: E402
from monitor.kernel.target import Target  # noqa: E402
from tests.moodle_double.scenario import NOW, Scenario  # noqa: E402
from tests.moodle_double.server import TestDatabase  # noqa: E402
from tests.moodle_double.sitedir import FakeSite, make_site  # noqa: E402

WALL_TARGET = 1.0  # seconds, every run of every probe
LOAD_TARGET = 2.0  # % of one database core, the whole set at default intervals
BIG_TABLE = 100_000  # rows: a full scan of a table this size is flagged
DEMO_TOKEN = "vigil-demo-token"  # monitor.app.demo.lms.DemoSite's default web-service token
REDIS_SESSIONS = ("$CFG->session_handler_class = '\\\\core\\\\session\\\\redis';\n"
                  "$CFG->session_redis_host = '127.0.0.1';\n$CFG->session_redis_port = 6379;\n")


@dataclass
class Probe:
    label: str
    type: str
    uses: str  # what the probe touches besides nothing: "db", "db+SMTP", "HTTP", ...
    ctx: CheckContext
    counts_as_db: bool = True
    amortize: float | None = None  # the first-run extra recurs this often (usage)

    @property
    def spec(self) -> CheckSpec:
        spec_cls = MOODLE_CHECK_TYPES[self.type][0]
        return spec_cls.model_validate({"type": self.type})

    def make(self) -> Any:
        return MOODLE_CHECK_TYPES[self.type][1](self.spec)


@dataclass
class Run:
    wall: float
    statements: list[ms.Statement]
    status: str
    summary: str

    @property
    def db(self) -> float:
        return sum(s.seconds for s in self.statements)


@dataclass
class Measured:
    probe: Probe
    steady: list[Run] = field(default_factory=list)
    first: list[Run] = field(default_factory=list)
    # Server-side time of one steady / first run's statements, executed once more each.
    server: dict[str, float | None] = field(default_factory=dict)

    def stateful(self) -> bool:
        """The first run of a fresh check reads more than a steady run does."""
        return _texts(self.first[0]) != _texts(self.steady[0])

    def max_wall(self) -> float:
        return max(r.wall for r in self.steady + self.first)


def _texts(run: Run) -> set[str]:
    return {s.sql for s in run.statements}


# ------------------------------------------------------------------ running probes
async def timed_run(probe: Probe, check: Any, recorder: ms.StatementRecorder) -> Run:
    with recorder.capture() as statements:
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(check.run(probe.ctx), probe.spec.timeout + 5)
            status, summary = result.status.name, result.summary
        except CheckUnavailable as exc:
            status, summary = Status.UNKNOWN.name, str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken probe is a finding, not a crash
            status, summary = "ERROR", f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - start
    return Run(wall, list(statements), status, summary)


async def _close(check: Any) -> None:
    aclose = getattr(check, "aclose", None)
    if aclose is not None:
        await aclose()


async def measure(probe: Probe, runs: int, recorder: ms.StatementRecorder) -> Measured:
    found = Measured(probe)
    check = probe.make()
    try:
        await timed_run(probe, check, recorder)  # warm-up: caches, pool, imports
        for _ in range(runs):
            found.steady.append(await timed_run(probe, check, recorder))
    finally:
        await _close(check)
    for _ in range(runs):
        fresh = probe.make()
        try:
            found.first.append(await timed_run(probe, fresh, recorder))
        finally:
            await _close(fresh)
    return found


def probes_for(site: MoodleSite, redis_site: MoodleSite, demo_url: str) -> list[Probe]:
    def ctx(on: MoodleSite, type_: str, url: str = "https://moodle.example.test",
            now: Callable[[], float] = lambda: NOW) -> CheckContext:
        timeout = MOODLE_CHECK_TYPES[type_][0].model_validate({"type": type_}).timeout
        return CheckContext(target=Target("moodle-bench", "moodle", url), timeout=timeout,
                            now=now, run_blocking=asyncio.to_thread, site=on)

    web = MoodleSite(MoodleSettings(wstoken=SecretStr(DEMO_TOKEN)))
    usage_every = MOODLE_CHECK_TYPES["moodle_usage"][0].model_validate(
        {"type": "moodle_usage"}).inventory_interval
    plain = [(t, "db") for t in ("moodle_cron", "moodle_scheduled_tasks", "moodle_adhoc_tasks",
                                 "moodle_exams", "moodle_security", "moodle_backups")]
    probes = [Probe(t, t, uses, ctx(site, t)) for t, uses in plain]
    probes += [
        Probe("moodle_usage", "moodle_usage", "db", ctx(site, "moodle_usage"),
              amortize=usage_every),
        Probe("moodle_maintenance", "moodle_maintenance", "db+file",
              ctx(site, "moodle_maintenance")),
        Probe("moodle_upgrade", "moodle_upgrade", "db+files+CLI", ctx(site, "moodle_upgrade")),
        Probe("moodle_mail", "moodle_mail", "db+SMTP", ctx(site, "moodle_mail")),
        Probe("moodle_caches [db sessions]", "moodle_caches", "db",
              ctx(site, "moodle_caches")),
        Probe("moodle_caches [Redis sessions]", "moodle_caches", "db+Redis",
              ctx(redis_site, "moodle_caches"), counts_as_db=False),
        Probe("moodle_dataroot", "moodle_dataroot", "files", ctx(site, "moodle_dataroot")),
        Probe("moodle_check_api", "moodle_check_api", "CLI", ctx(site, "moodle_check_api")),
        Probe("moodle_availability", "moodle_availability", "HTTP",
              ctx(web, "moodle_availability", url=demo_url, now=time.time)),
    ]
    return probes


async def measure_all(site: MoodleSite, redis_site: MoodleSite, runs: int,
                      recorder: ms.StatementRecorder) -> list[Measured]:
    async with DemoServer() as demo:
        results = []
        for probe in probes_for(site, redis_site, demo.url):
            print(f"  measuring {probe.label}", file=sys.stderr, flush=True)
            results.append(await measure(probe, runs, recorder))
        return results


# ------------------------------------------------------------------ reporting
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def _interval(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else (
        f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s")


def report_rows(found: list[Measured]) -> tuple[list[str], float, bool]:
    """The per-probe table; returns (lines, load % of one core, every probe under 1 s)."""
    head = (f"{'probe':<31}{'uses':<13}{'every':>6}{'stmts':>6}{'wall med':>9}{'wall max':>9}"
            f"{'db med':>9}{'db max':>9}{'db srv':>8}{'load %core':>11}  {'<1s':<5}status")
    lines, total, all_fast = [head, "-" * len(head)], 0.0, True
    for m in found:
        interval = m.probe.spec.interval
        rows = [("", m.steady, interval, m.server.get("steady"))]
        if m.stateful():
            rows.append((" (first run)", m.first, m.probe.amortize, m.server.get("first")))
        for suffix, runs, every, server in rows:
            wall = [r.wall for r in runs]
            db = [r.db for r in runs]
            if not m.probe.counts_as_db:
                load = 0.0
            elif suffix:  # the extra over a steady run, if it recurs at all
                extra = max(0.0, statistics.median(db) - statistics.median(
                    r.db for r in m.steady))
                load = 100 * extra / every if every else 0.0
            else:
                load = 100 * statistics.median(db) / interval
            total += load
            fast = max(wall) < WALL_TARGET
            all_fast &= fast
            shown_every = (_interval(every) if every else "once") if suffix else _interval(
                interval)
            load_text = f"{load:10.4f}%" if m.probe.counts_as_db else f"{'n/a':>11}"
            statuses = sorted({r.status for r in runs})
            lines.append(
                f"{m.probe.label + suffix:<31}{m.probe.uses:<13}{shown_every:>6}"
                f"{len(runs[0].statements):>6}{_ms(statistics.median(wall)):>9}"
                f"{_ms(max(wall)):>9}{_ms(statistics.median(db)):>9}{_ms(max(db)):>9}"
                f"{_ms(server)[1:] if server is not None else '-':>8}"
                f"{load_text}  {verdict(fast):<5}{'/'.join(statuses)}")
    return lines, total, all_fast


def summaries(found: list[Measured]) -> list[str]:
    return [f"  {m.probe.label}: {m.steady[-1].status}: {m.steady[-1].summary[:140]}"
            for m in found]


def short_sql(sql: str) -> str:
    text = re.sub(r"\s+", " ", sql)
    text = re.sub(rf"\b{ms.PREFIX}\w+\.", "", text)  # table-qualified columns
    text = re.sub(r"%\(\w+\)s|%s", "?", text)
    text = text.replace(ms.PREFIX, "")
    return text if len(text) <= 150 else text[:147] + "..."


def index_notes(found: list[Measured], db: TestDatabase, rows: dict[str, int]) -> list[str]:
    lines = []
    for m in found:
        statements: dict[str, ms.Statement] = {}
        for run in (m.steady[0], m.first[0]):
            for s in run.statements:
                statements.setdefault(s.sql, s)
        if not statements:
            lines.append(f"{m.probe.label}: no SQL ({m.probe.uses})")
            continue
        lines.append(f"{m.probe.label}:")
        for n, s in enumerate(statements.values(), start=1):
            lines.append(f"  q{n}: {short_sql(s.sql)}")
            try:
                paths = ms.explain(db.admin_engine, s, db.tables)
            except Exception as exc:  # noqa: BLE001 - report it, keep going
                lines.append(f"      EXPLAIN failed: {type(exc).__name__}: {exc}")
                continue
            lines.append("      -> " + ("; ".join(_access(a, rows) for a in paths)
                                        or "no table read (a function of the catalogue)"))
    return lines


def _access(a: ms.Access, rows: dict[str, int]) -> str:
    count = rows.get(a.table)
    size = f" ({count:,} rows)" if count is not None else ""
    if a.how == "index":
        return f"{a.table}: index {a.index} ({a.columns})"
    if a.how == "full index scan":
        return f"{a.table}: FULL INDEX SCAN {a.index} ({a.columns}){size}"
    if a.how == "full scan":
        flag = "  <-- big table" if count is not None and count >= BIG_TABLE else ""
        return f"{a.table}: full scan{size}{flag}"
    return f"{a.table}: {a.columns or 'no table access'}"


# ------------------------------------------------------------------ one backend
def build_sites(workdir: Path) -> tuple[FakeSite, FakeSite]:
    plugins = dict.fromkeys(ms.EXTRA_PLUGINS, ms.PLUGIN_VERSION)
    main = make_site(workdir / "main", "5.1", plugins=plugins)
    redis = make_site(workdir / "redis", "5.1", config_extra=REDIS_SESSIONS)
    return main, redis


def run_backend(backend: str, args: argparse.Namespace, smtp_port: int, workdir: Path) -> bool:
    size = ms.Size.at(args.scale)
    say = lambda msg: print(f"  [{backend}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.monotonic()
    db, reused = ms.open_database(backend, size, ms.scale_tag(args.scale))
    try:
        if reused:
            loaded = f"reused the database kept by an earlier --keep run ({db.name})"
        else:
            timings = ms.populate(db, size, say)
            ms.mark_loaded(db, size)
            loaded = (f"loaded in {time.monotonic() - started:.0f}s (bulk "
                      f"{timings['total']:.0f}s, of which create_indexes "
                      f"{timings['create_indexes']:.0f}s; small tables "
                      f"{timings['small_tables']:.0f}s)")
        Scenario(db.admin_engine, db.tables, now=NOW).set_config(
            "smtphosts", f"127.0.0.1:{smtp_port}")
        rows = ms.table_rows(db)
        main_site, redis_site = build_sites(workdir / backend)
        site = MoodleSite(main_site.moodle_settings(db.settings()))
        rsite = MoodleSite(redis_site.moodle_settings(db.settings()))
        recorder = ms.StatementRecorder()
        for each in (site, rsite):
            assert each.database is not None
            recorder.attach(each.database.engine)
        try:
            found = asyncio.run(measure_all(site, rsite, args.runs, recorder))
        finally:
            site.close()
            rsite.close()
        for m in found:
            m.server = {"steady": server_time(db, m.steady[0]),
                        "first": server_time(db, m.first[0])}
        return print_backend(backend, db, rows, loaded, found, args)
    finally:
        if args.keep:
            ms.keep_open(db)
            print(f"  [{backend}] kept database {db.name} (--keep)", file=sys.stderr)
        else:
            db.close()


def server_time(db: TestDatabase, run: Run) -> float | None:
    """Server-side seconds of ``run``'s statements (each executed once more under ANALYZE);
    None without SQL or when ANALYZE fails."""
    if not run.statements:
        return None
    try:
        return sum(ms.server_seconds(db.admin_engine, s) for s in run.statements)
    except Exception as exc:  # noqa: BLE001 - a missing figure, not a failed bench
        print(f"  ANALYZE failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def pg_stat_statements(db: TestDatabase) -> str:
    if db.backend != "postgresql":
        return "MariaDB's performance_schema is not used"
    with db.admin_engine.connect() as conn:
        loaded = conn.exec_driver_sql("SHOW shared_preload_libraries").scalar() or ""
    return ("pg_stat_statements is loaded but not used" if "pg_stat_statements" in loaded
            else "pg_stat_statements is not in shared_preload_libraries")


def server_version(db: TestDatabase) -> str:
    with db.admin_engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT version()").scalar()).split(" on ")[0]


def print_backend(backend: str, db: TestDatabase, rows: dict[str, int], loaded: str,
                  found: list[Measured], args: argparse.Namespace) -> bool:
    lines, load, all_fast = report_rows(found)
    big = ", ".join(f"{t} {n:,}" for t, n in sorted(rows.items(), key=lambda i: -i[1])[:9])
    print(f"\n=== {backend}: {server_version(db)}; scale {args.scale:g}; {loaded}")
    print(f"rows: {big}")
    print(f"runs per probe: 1 warm-up, {args.runs} steady (same check object), {args.runs} "
          "first runs (a fresh check object each); times in ms")
    print("db med/max = the probe's statements timed client-side (SQLAlchemy cursor-execute "
          "events on its engine, loopback, fetch included); load uses db med")
    print(f"db srv = server-side time of one run's statements, each run once more under "
          f"{'EXPLAIN ANALYZE' if backend == 'postgresql' else 'ANALYZE FORMAT=JSON'} "
          f"(planning + execution); {pg_stat_statements(db)}")
    print()
    print("\n".join(lines))
    ok = all_fast and load < LOAD_TARGET
    print("load = db med / default interval; '(first run)' rows: the extra over a steady run, "
          "spread over how often it recurs (usage: inventory_interval; security: once per "
          "daemon start). n/a: the Redis-sessions site is the same probe configured "
          "otherwise; the database-sessions variant is the one counted")
    print("uses HTTP/CLI: no SQL from Vigil; the PHP behind them (login page, checks.php, "
          "upgrade.php --is-pending) queries the database itself: not measured here (demo "
          "LMS, fake php)")
    print(f"\nload at default intervals: {load:.4f}% of one DB core (target < {LOAD_TARGET:g}%)"
          f": {verdict(load < LOAD_TARGET)}")
    print(f"every probe under {WALL_TARGET:g}s (slowest run): {verdict(all_fast)}")
    print(f"{backend} overall: {verdict(ok)}")
    print("\nresults (last steady run):")
    print("\n".join(summaries(found)))
    print("\nindexes (EXPLAIN of every distinct statement; full scans show the table's rows):")
    print("\n".join(index_notes(found, db, rows)))
    return ok


# ------------------------------------------------------------------ main
class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"  # never reached: the probe only says EHLO


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "mariadb", "both"), default="both")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1.0 = 100k users, 10k courses, 5M log rows, 1M files")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per probe and mode")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database for the next run (named per backend and scale)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 2 or args.runs < 1:
        parser.error("--scale must be in (0, 2] and --runs >= 1")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: databases dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    backends = ["postgresql", "mariadb"] if args.backend == "both" else [args.backend]
    warn_if_busy()
    print(f"moodle_probes  {machine_line()}")
    print(f"command: python bench/moodle_probes.py {' '.join(sys.argv[1:])}".rstrip())
    smtp = Controller(_Sink(), hostname=LOOPBACK, port=free_port())
    smtp.start()
    verdicts = {}
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-moodle-bench-") as tmp:
            for backend in backends:
                verdicts[backend] = run_backend(backend, args, smtp.port, Path(tmp))
    finally:
        smtp.stop()
    print("\noverall: " + ", ".join(f"{b} {verdict(ok)}" for b, ok in verdicts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
