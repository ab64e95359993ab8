"""An accelerated 24 h soak: 500 targets on an injected clock, and nothing grows for ever.

An in-process Daemon (built, never started: no APScheduler, no background tasks) with a
FakeClock and a real SQLite state file. The test is the scheduler: simulated time moves
in 60 s ticks over 24 h (1440 ticks); each tick runs the http checks that are due
through the real CheckRunner (an httpx.MockTransport answers for each target), then
one step of each piece of alerting work the daemon's loops would run in that minute:
router, dispatcher (two webhook receivers on a MockTransport), alert tick, outbox and
event pruning (AlertingWork.prune_outbox), the state-write watch, and every
``evaluation_interval`` the prediction/SLO evaluator. The sample recorder prunes its own
history from the runner's listener.

The load repeats every simulated hour: 10% of the targets flap (down 15 min of every
30, or the first 30 of every 60), and the receiver "flaky" answers 503 for 10 minutes
of every hour, so alerts fire and resolve, notifications are retried, and every
retention is exercised. Retentions are short (outbox and events 1 h, sample history
1 h, history_limit 10), so every table holds its steady number of rows from the end of
hour 2 on.

The first measurement is at the end of hour 3, not 2: the first prune that deletes
anything runs at 2:00 (rows older than 1 h, hourly), and the state file's size is a
high-water mark that settles only after that first cycle of deletes and re-use
(measured: 4.37 MB at 2:00, 4.88 MB at 3:00, 4.94 MB at 24:00, the last step all
slo_minutes; the row counts are the same at 2:00 and 3:00). Both measurements fall at
the same phase of the hourly prunes; what is pruned must stay within 5% of itself, and
the file (slo_minutes aside) within 5% of its hour-3 size at every hour after. Measured:
rows of check_history, alert_transitions, outbox, sample_history, slo_minutes and the
routing tables, the state file's size (and each table's share, from SQLite's dbstat),
the process's RSS, and the Python heap (live pymalloc blocks, sys.getallocatedblocks(),
and gc-tracked objects; tracemalloc made the run three times slower, so it is not used).

slo_minutes is the one table that may not reach a steady state in 24 h: its retention
is the SLO period plus a day, and the period cannot be shorter than 3 days (the longest
burn-rate window). It is asserted to hold exactly one row per probed minute of each LMS
with an SLO (so at most ``(period + 1 d) / 60 s`` rows per LMS), and its pages are left
out of the file-size comparison (printed apart). 50 of the 500 LMS have an SLO and a
predictive rule on their response time. The WAL file is a high-water mark of the
largest burst of writes between checkpoints: printed, and held under a fixed bound.

Scale, honestly: every target is checked every 10 simulated minutes (50 checks per
tick, 72 000 check runs in all), not every minute: the runner, the http check and the
alert service cost about 1-2 ms per run on 2 CPUs, so one run per target per tick would
take 20+ minutes. ``VIGIL_SOAK_CHECK_EVERY=1`` runs every check on every tick (and
``VIGIL_SOAK_TARGETS`` changes the number of targets). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from monitor.app.config import parse_config
from monitor.app.daemon import Daemon
from monitor.app.jobs import build_jobs
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Status
from tests.conftest import FakeClock

pytestmark = pytest.mark.soak

TARGETS = int(os.environ.get("VIGIL_SOAK_TARGETS") or 500)
CHECK_EVERY = int(os.environ.get("VIGIL_SOAK_CHECK_EVERY") or 10)  # ticks between runs
TICK = 60.0
HOURS = 24
WARM_HOURS = 3  # the first measurement: the end of simulated hour 3 (see the docstring)
SLO_SITES = 50
EVALUATE_EVERY = 10  # ticks: evaluation_interval = 600 s
HISTORY_LIMIT = 10
GROWTH = 0.05
WAL_BOUND = 16 * 2**20  # 4x SQLite's auto-checkpoint (1000 pages of 4 KiB)
TABLES = ("check_history", "alert_transitions", "outbox", "sample_history", "slo_minutes",
          "check_state", "alerts", "notification_groups", "notification_group_alerts",
          "notification_log", "notification_escalations", "notification_suppressed")
LOGIN_PAGE = "<html><form><input name='logintoken'></form></html>"


def site(index: int) -> str:
    return f"s{index:03d}"


def down(index: int, minute: int) -> bool:
    """Whether target ``index`` answers 503 in this simulated minute (hourly schedule).

    Each outage starts and ends within its hour (down from minute 0), so the first hour
    has as many transitions as any other: the hour-2 figures are not a warm-up.
    """
    if index % 20 == 0:
        return (minute // 15) % 2 == 0  # down 15 min of every 30: 4 transitions an hour
    if index % 20 == 10:
        return minute % 60 < 30  # down the first half of every hour: 2 transitions
    return False


def check_name(index: int) -> str:
    """The first SLO_SITES LMS call their http check "login": the predictive rule
    watches only those (``labels = {check = "login"}``), to keep evaluation cheap."""
    return "login" if index < SLO_SITES else "http"


def config_text(state_dir: Path) -> str:
    text = f"""
[state]
dir = "{state_dir}"
history_limit = {HISTORY_LIMIT}
[server]
enabled = false
[alerts]
failure_threshold = 1
success_threshold = 1
outbox_retention = "1h"
evaluation_interval = "{EVALUATE_EVERY * TICK:g}s"
[alerts.flapping]
enabled = false  # every flip notifies: the outbox and the events get the most rows
[alerts.history]
retention = "1h"
[alerts.retry]
initial_backoff = "30s"
max_backoff = "5m"
[alerts.route]
group_by = ["lms"]
group_wait = "0s"
group_interval = "1m"
[alerts.slo]
enabled = false
[[alerts.predict]]
name = "slow_http"
metric = "lms_http_response_time_seconds"
labels = {{check = "login"}}
window = "1h"
threshold = 10
direction = "rising"
levels = [{{horizon = "1h", severity = "warning"}}]
[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "http://hook.test/in"
[[alerts.receivers]]
name = "flaky"
type = "webhook"
url = "http://flaky.test/in"
"""
    for index in range(SLO_SITES):
        text += f"[alerts.slo.lms.{site(index)}]\nenabled = true\n"
    for index in range(TARGETS):
        text += (f'[[lms]]\nname = "{site(index)}"\nurl = "http://{site(index)}.test/"\n'
                 f'[lms.checks.{check_name(index)}]\ntype = "http"\n'
                 f"interval = {CHECK_EVERY * TICK:g}\n")
    return text


class Receivers:
    """The two webhook endpoints: "hook" always works, "flaky" is down 10 min an hour."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.answered: dict[tuple[str, int], int] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        minute = int(self.clock.time() // TICK)
        status = 503 if request.url.host == "flaky.test" and minute % 60 < 10 else 200
        key = (request.url.host, status)
        self.answered[key] = self.answered.get(key, 0) + 1
        return httpx.Response(status)


def targets(clock: FakeClock) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        index = int(request.url.host[1:4])
        if down(index, int(clock.time() // TICK)):
            return httpx.Response(503, text="down for maintenance")
        return httpx.Response(200, text=LOGIN_PAGE)
    return httpx.MockTransport(handle)


def measure(daemon: Daemon) -> dict[str, Any]:
    db = daemon.store.db
    figures: dict[str, Any] = {
        table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in TABLES}
    pages = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
    slo_bytes = sum(size for name, size in pages.items() if name.startswith("slo_minutes")
                    or name == "sqlite_autoindex_slo_minutes_1")
    path = daemon.store.path
    wal = Path(f"{path}-wal")
    figures["file_bytes"] = path.stat().st_size
    figures["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    figures["slo_minutes_bytes"] = slo_bytes
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    figures["free_bytes"] = int(db.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
    figures["pages"] = {name: size for name, size in sorted(pages.items()) if size > 16384}
    figures["file_bytes_without_slo"] = figures["file_bytes"] - slo_bytes
    gc.collect()
    figures["rss_bytes"] = psutil.Process().memory_info().rss
    figures["python_heap_blocks"] = sys.getallocatedblocks()
    figures["gc_objects"] = len(gc.get_objects())
    return figures


def file_figures(daemon: Daemon) -> tuple[int, int, int]:
    """(state file bytes, free bytes in it, WAL bytes)."""
    db = daemon.store.db
    free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    free *= int(db.execute("PRAGMA page_size").fetchone()[0])
    wal = Path(f"{daemon.store.path}-wal")
    return (daemon.store.path.stat().st_size, free, wal.stat().st_size if wal.exists() else 0)


class Soak:
    """The daemon's loops, one minute at a time."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.receivers = Receivers(self.clock)
        self.config = parse_config(config_text(tmp_path / "state"))
        self.daemon = Daemon(self.config, clock=self.clock,
                             notifier_transport=httpx.MockTransport(self.receivers.handle))
        self.daemon.runner.http_transport = targets(self.clock)
        # Scheduled as Daemon.start does, but APScheduler is never started: the test runs
        # the jobs itself (the runner drops results of jobs the scheduler does not hold).
        self.daemon.scheduler.apply(
            build_jobs(self.config, sites=self.daemon.sites.sites_for(self.config)))
        self.jobs: list[CheckJob] = sorted(self.daemon.scheduler.jobs.values(),
                                           key=lambda job: job.key)
        # The daemon's scheduler holds a lone result for the batch window (50 ms of real
        # time) so the runs finishing around it share one commit; here runs go one at a
        # time on simulated time, so each would wait 50 ms for nobody: 72,000 runs, an hour.
        self.daemon.runner.records.hold_lone_runs = False
        self.runs = 0
        self.errors: list[logging.LogRecord] = []
        self.statuses: dict[Status, int] = {}

    async def tick(self, tick: int) -> None:
        daemon, now = self.daemon, self.clock.time()
        for index in range(tick % CHECK_EVERY, len(self.jobs), CHECK_EVERY):
            result = await daemon.runner.run(self.jobs[index])
            self.statuses[result.status] = self.statuses.get(result.status, 0) + 1
            self.runs += 1
        daemon.router.step(now)
        await daemon.dispatcher.step(now)
        daemon.alerts.tick(now)
        daemon.work.prune_outbox(now)
        await daemon.state_watch.step(now)
        if tick % EVALUATE_EVERY == 0:
            daemon.policy.step(now)
        self.clock.advance(TICK)

    async def aclose(self) -> None:
        for job in self.jobs:
            aclose = getattr(job.check, "aclose", None)
            if aclose is not None:
                await aclose()
        await self.daemon.dispatcher.aclose()
        self.daemon.sites.close()
        self.daemon.runner.close()
        self.daemon.store.close()


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def soak(tmp_path: Path) -> Iterator[Soak]:
    # pytest keeps every captured log record in memory: 24 h of retry warnings would
    # be the test's own memory growth. Errors still pass (and are counted).
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    logging.disable(logging.WARNING)
    try:
        soak = Soak(tmp_path)
        soak.errors = errors.records
        yield soak
    finally:
        logging.disable(logging.NOTSET)
        logging.getLogger().removeHandler(errors)


async def test_a_day_of_500_flapping_targets_keeps_history_outbox_and_memory_bounded(
    soak: Soak, record_property: Any,
) -> None:
    started = time.monotonic()
    ticks = int(HOURS * 3600 / TICK)
    warm_tick = int(WARM_HOURS * 3600 / TICK)
    hourly: list[tuple[int, int, int]] = []
    try:
        for tick in range(ticks):
            await soak.tick(tick)
            if (tick + 1) % 60 == 0:
                hourly.append(file_figures(soak.daemon))
            if tick + 1 == warm_tick:
                warm = measure(soak.daemon)
                warm_elapsed = time.monotonic() - started
        end = measure(soak.daemon)
    finally:
        await soak.aclose()
    elapsed = time.monotonic() - started

    growth = {name: round((end[name] - warm[name]) / warm[name], 4) if warm[name] else None
              for name in warm if name != "pages"}
    counts = {"targets": TARGETS, "check_every_ticks": CHECK_EVERY, "ticks": ticks,
              "check_runs": soak.runs,
              "statuses": {status.name: n for status, n in sorted(soak.statuses.items())},
              "receivers": {f"{host} {status}": n
                            for (host, status), n in sorted(soak.receivers.answered.items())},
              "seconds": round(elapsed, 1), "seconds_to_hour_2": round(warm_elapsed, 1)}
    print("\nsoak counts: " + json.dumps(counts))
    print(f"soak after hour {WARM_HOURS}: " + json.dumps(warm))
    print(f"soak after hour {HOURS}: " + json.dumps(end))
    print("soak growth: " + json.dumps(growth))
    print("soak hourly (file, free, wal) KiB: " + json.dumps(
        [tuple(n // 1024 for n in hour) for hour in hourly]))
    for name, value in {**counts, "warm": warm, "end": end, "growth": growth}.items():
        record_property(name, value)

    # The soak did what it claims: alerts fired and resolved, notifications went out
    # and were retried, every due check ran.
    assert soak.runs == TARGETS * ticks // CHECK_EVERY
    assert soak.statuses.get(Status.CRITICAL, 0) > 0 and soak.statuses.get(Status.OK, 0) > 0
    assert soak.receivers.answered.get(("flaky.test", 503), 0) > 0
    assert soak.receivers.answered.get(("hook.test", 200), 0) > 100
    assert end["alert_transitions"] > 0 and end["outbox"] > 0 and end["sample_history"] > 0
    assert not soak.errors, [record.getMessage() for record in soak.errors[:5]]

    # Bounded by their configured limits.
    # The http checks, and the synthetic ones of the LMS with an SLO or a watched series.
    checks = TARGETS + 2 * SLO_SITES
    assert end["check_state"] == checks
    assert end["check_history"] <= checks * HISTORY_LIMIT
    assert end["alerts"] <= checks
    per_lms_minutes = soak.daemon.policy.plan.slo_retention / TICK
    assert end["slo_minutes"] <= SLO_SITES * per_lms_minutes
    # One row per probed minute of each LMS with an SLO, no more.
    assert end["slo_minutes"] == SLO_SITES * ticks // CHECK_EVERY

    # Steady: what is pruned stays within 5% between hour 2 and hour 24.
    steady = ("check_history", "alert_transitions", "outbox", "sample_history", "check_state",
              "alerts", "notification_groups", "notification_group_alerts",
              "notification_log", "notification_escalations", "notification_suppressed",
              "file_bytes_without_slo", "rss_bytes", "python_heap_blocks", "gc_objects")
    grew = {name: (warm[name], end[name]) for name in steady
            if end[name] > warm[name] * (1 + GROWTH)}
    assert not grew, f"grew more than {GROWTH:.0%} from hour {WARM_HOURS} to {HOURS}: {grew}"
    assert end["wal_bytes"] < WAL_BOUND, end["wal_bytes"]
    # Every hour after, not only the last: the file's size is a high-water mark.
    slo_growth = end["slo_minutes_bytes"] - warm["slo_minutes_bytes"]
    late = [hour for hour, (size, _, _) in enumerate(hourly, start=1) if hour > WARM_HOURS
            and size - slo_growth > warm["file_bytes"] * (1 + GROWTH)]
    assert not late, f"the state file outgrew its hour-{WARM_HOURS} size at hours {late}"
