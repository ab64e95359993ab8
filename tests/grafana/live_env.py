"""The live setup behind tests/grafana/test_queries_live.py: a real Prometheus scraping a real
`vigil run` that watches the demo LMS and a Moodle double, so every dashboard panel has data.

What runs (all on 127.0.0.1, free ports, a temporary directory):
- the demo LMS (monitor/app/demo/server.py) over HTTP and HTTPS, in a thread's event loop:
  Moodle's pages for the HTTP, TLS and availability checks;
- a Moodle double (tests/moodle_double): a Moodle-shaped database on the local PostgreSQL
  with a healthy site's rows plus a few findings (exam running, adhoc backlog, failing task,
  failed logins, missing and orphan file blobs), a site directory with config.php, a fake
  ``php`` for the CLI checks, and the update feed stand-in offering newer releases;
- a private redis-server with a maxmemory limit (the local Redis has none);
- small HTTP targets that make every check status appear (OK, WARNING, CRITICAL, UNKNOWN),
  a second Moodle site whose checks.php hangs (the runner cancels the check: a check
  error), and a webhook that receives Vigil's notifications;
- `vigil run` on the generated config (three LMSs: campus, edge, mirror; a maintenance
  window over one edge check; a forecast rule on cron age; SLO and forecasts judged every
  2 s), and `prometheus` (scrape and rule interval 1 s) with a copy of
  grafana/rules/vigil-rules.yml whose group intervals are set to 1 s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from checks.moodle.settings import DatabaseSettings
from monitor.app.demo.server import DemoServer
from tests.canvas_double.server import TOKEN as CANVAS_TOKEN
from tests.canvas_double.server import CanvasDouble
from tests.helpers import TargetServer, free_port, wait_for
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.server import TestDatabase
from tests.moodle_double.sitedir import FakeSite, make_site
from tests.moodle_double.update_feed_server import (
    FeedServer,
    core_release,
    plugin_release,
    serve_feed,
)
from tests.openedx_double.server import OpenedxDouble

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "grafana" / "rules" / "vigil-rules.yml"
LMS_MOODLE, LMS_EDGE, LMS_MIRROR = "campus", "edge", "mirror"


class DemoLms:
    """The demo LMS served from its own event loop in a daemon thread."""

    def __init__(self, tls_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server = DemoServer(tls_dir=tls_dir)
        self._run(self.server.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self._run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Blackhole:
    """A port that accepts connections (kernel backlog) and never answers: checks time out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def close(self) -> None:
        self.sock.close()


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--maxmemory", "64mb", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    wait_for(pong, 20, "redis-server")
    return proc, port


def moodle_site(tmp: Path, db: TestDatabase, wwwroot: str) -> tuple[FakeSite, Scenario]:
    """A Moodle 5.1 site directory and database rows: healthy, with a few findings."""
    s = db.settings()
    site = make_site(tmp, "5.1", wwwroot=wwwroot, database={
        "dbtype": "pgsql", "dbhost": s.host, "dbport": s.port, "dbname": s.name,
        "dbuser": s.user, "dbpass": s.password.get_secret_value(), "prefix": s.prefix})
    scenario = Scenario(db.admin_engine, db.tables, now=time.time()).healthy_site()
    scenario.set_config("dbsessions", 1)                   # sessions in the database
    scenario.quiz_open_with_attempts(30, timeclose=int(time.time()) + 3600)
    scenario.adhoc_backlog(count=12, oldest_age=900)
    scenario.failing_scheduled_task()
    scenario.failed_logins(4, within=120)
    scenario.maintenance_on()  # the test turns it off once Prometheus has seen it
    scenario.files(2, dataroot=site.dataroot)              # present in the pool
    site.add_file(b"an orphan blob nobody references")
    week_ago = time.time() - 7 * 86400                     # older than orphan_min_age
    for path in (site.dataroot / "filedir").rglob("*"):
        if path.is_file():
            os.utime(path, (week_ago, week_ago))
    return site, scenario


@dataclass
class LiveSetup:
    tmp: Path
    api_port: int = field(default_factory=free_port)
    prom_port: int = field(default_factory=free_port)
    stack: ExitStack = field(default_factory=ExitStack)
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    flapping: TargetServer | None = None  # healthy until the test breaks it
    steady: TargetServer | None = None    # always 200 (a latency WARNING is judged on it)
    hook: TargetServer | None = None      # receives Vigil's webhook notifications
    started: float = field(default_factory=time.time)
    scenario: Scenario | None = None      # the Moodle double's rows, to change mid-test

    @property
    def vigil_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def instance(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    def start(self) -> None:
        tmp = self.tmp
        db = TestDatabase.create("postgresql")
        self.stack.callback(db.close)
        demo = DemoLms(tmp / "tls")
        self.stack.callback(demo.close)
        site, self.scenario = moodle_site(tmp, db, demo.server.url)
        mirror = make_site(tmp / LMS_MIRROR, "5.1", wwwroot=demo.server.url)
        mirror.cli_mode("checks.php", "hang")
        feed = self.stack.enter_context(serve_feed(FeedServer(
            core=[core_release(2025100601.00, "5.1.1 (Build: 20251208)"),
                  core_release(2025100602.00, "5.1.2 (Build: 20260209)")],
            plugins={"mod_quiz": [plugin_release(2026010100, "5.1.9")]})))
        redis, redis_port = start_redis(tmp)
        self.procs.append(redis)
        self.flapping, self.steady, self.hook = TargetServer(), TargetServer(), TargetServer()
        blackhole = Blackhole()
        for closer in (self.flapping.close, self.steady.close, self.hook.close,
                       blackhole.close):
            self.stack.callback(closer)
        config = tmp / "vigil.toml"
        canvas, openedx = CanvasDouble(), OpenedxDouble()
        self.stack.callback(canvas.close)
        self.stack.callback(openedx.close)
        config.write_text(vigil_config(self, demo.server, site, db.settings(), feed.url,
                                       redis_port, blackhole.url)
                          + mirror_config(demo.server, mirror)
                          + connectors_config(canvas, openedx)
                          + a11y_config(demo.server), encoding="utf-8")
        store_release_manifest(tmp, config, site)
        self._start_vigil(config)
        prometheus_log = self.stack.enter_context((tmp / "prometheus.log").open("w"))
        self.procs.append(start_prometheus(tmp, self.prom_port, self.api_port, prometheus_log))

    def _start_vigil(self, config: Path) -> None:
        log = self.stack.enter_context((self.tmp / "vigil.log").open("w"))
        vigil = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)], cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(vigil)

        def ready() -> bool:
            assert vigil.poll() is None, f"vigil run exited:\n{self.log('vigil.log')}"
            return httpx.get(f"{self.vigil_url}/readyz", timeout=2).status_code == 200

        wait_for(ready, 30, "vigil /readyz")

    def configured_checks(self) -> set[tuple[str, str]]:
        """(lms, check) of every check in the generated config."""
        config = tomllib.loads((self.tmp / "vigil.toml").read_text(encoding="utf-8"))
        return {(site["name"], check) for site in config["lms"] for check in site["checks"]}

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.stack.close()

    def log(self, name: str) -> str:
        path = self.tmp / name
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""


def store_release_manifest(tmp: Path, config: Path, site: FakeSite) -> None:
    """The site's code as its release archive, so the release verification has a manifest
    (the code tree then differs from it by the files the fake php writes)."""
    archive = tmp / "moodle-release.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(site.root, arcname="moodle",
                filter=lambda info: None if "/.fake" in info.name else info)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "integrity", "manifest", "-c", str(config),
         "--lms", LMS_MOODLE, "--check", "code_integrity", "--by", "test",
         "--from", str(archive)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def vigil_config(live: LiveSetup, demo: DemoServer, site: FakeSite, db: DatabaseSettings,
                 feed_url: str, redis_port: int, blackhole_url: str) -> str:
    assert demo.certificate is not None and demo.https_url is not None
    assert live.flapping and live.steady and live.hook
    tls_port = demo.https_url.rsplit(":", 1)[1]
    # Short intervals so every check runs several times within the test; timeouts as long
    # as allowed so a busy CI machine does not turn a run into a timeout without samples.
    fast = 'interval = "3s"\ntimeout = "3s"'
    moodle_checks = "\n".join(
        f"[lms.checks.{name}]\n{fast}" for name in (
            "moodle_cron", "moodle_scheduled_tasks", "moodle_adhoc_tasks", "moodle_mail",
            "moodle_security", "moodle_usage", "moodle_exams", "moodle_backups",
            "moodle_upgrade", "moodle_maintenance", "moodle_dataroot",
            "moodle_branch_support", "moodle_config_drift", "moodle_privileged_accounts",
            "dataroot_scripts"))
    return f"""
[state]
dir = "{live.tmp / 'state'}"

[server]
host = "127.0.0.1"
port = {live.api_port}

[alerts]
failure_threshold = 1
success_threshold = 1
evaluation_interval = "2s"  # predictions and the SLO judged every 2 s, not every minute

[alerts.retry]
initial_backoff = "200ms"
max_backoff = "1s"

# History at the test's pace: a point a second, so a forecast has its points within seconds.
[alerts.history]
resolution = "1s"

# Moodle's cron never runs again in the double: its age rises toward 15 min, a trend the
# forecast extrapolates (lms_prediction_seconds_to_threshold).
[[alerts.predict]]
name = "cron_stale"
metric = "lms_moodle_cron_age_seconds"
direction = "rising"
threshold = "15m"
window = "10m"
min_points = 3
min_span = "3s"
[[alerts.predict.levels]]
horizon = "1h"
severity = "warning"

[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "{live.hook.url}/hook"
timeout = "2s"

[[lms]]
name = "{LMS_MOODLE}"
kind = "moodle"
url = "{demo.url}"

[lms.moodle]
dirroot = "{site.root}"
dataroot = "{site.dataroot}"

[lms.moodle.database]
type = "pgsql"
host = "{db.host}"
port = {db.port}
name = "{db.name}"
user = "{db.user}"
password = "{db.password.get_secret_value()}"
prefix = "{db.prefix}"

[lms.moodle.cli]
php = "{site.php}"
timeout = "10s"

[lms.checks.login_page]
type = "http"
url = "{demo.url}/login/index.php"
keyword = ["logintoken"]
{fast}

[lms.checks.tls]
host = "127.0.0.1"
port = {tls_port}
server_name = "localhost"
ca_file = "{demo.certificate.ca_file}"
{fast}

[lms.checks.system]
{fast}

# apt's upgrade simulation costs seconds of CPU: one run within the test's first 40 s.
[lms.checks.os_updates]
interval = "40s"
timeout = "30s"

[lms.checks.moodle_availability]
{fast}

[lms.checks.moodle_caches]
{fast}
[[lms.checks.moodle_caches.redis]]
name = "cache"
port = {redis_port}

[lms.checks.moodle_updates]
feed_url = "{feed_url}"
feed_timeout = "1s"
{fast}

[lms.checks.moodle_check_api]
interval = "5s"
timeout = "5s"

[lms.checks.moodle_filestore]
orphan_min_age = "1h"
interval = "5s"
timeout = "5s"

[lms.checks.code_integrity]
{fast}

{moodle_checks}

# A window over one check of the edge LMS, active for the whole test.
[[maintenance]]
name = "edge port move"
lms = "{LMS_EDGE}"
check = "refused"
start = {datetime.fromtimestamp(live.started - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S")}
duration = "1d"

[[lms]]
name = "{LMS_EDGE}"
url = "{live.flapping.url}"

[lms.checks.flapping]
type = "http"
url = "{live.flapping.url}/"
{fast}

[lms.checks.slow_warning]
type = "http"
url = "{live.steady.url}/"
latency_warning = 0.000001
latency_critical = "10s"
{fast}

[lms.checks.refused]
type = "tcp"
host = "127.0.0.1"
port = {free_port()}
{fast}

# A Moodle probe on an LMS with no Moodle site configured: it cannot tell (UNKNOWN).
[lms.checks.no_site]
type = "moodle_cron"
{fast}

[lms.checks.hanging]
type = "http"
url = "{blackhole_url}"
interval = "1s"
timeout = "300ms"
"""


def connectors_config(canvas: CanvasDouble, openedx: OpenedxDouble) -> str:
    """A Canvas and an Open edX site (the stand-ins of tests/canvas_double and
    tests/openedx_double), so the connector panels are queried against real series; the
    Canvas site also runs the learner journey, for the journey panels."""
    fast = 'interval = "3s"\ntimeout = "3s"'
    return f"""
[[lms]]
name = "canvas-live"
kind = "canvas"
url = "{canvas.url}"
[lms.checks.canvas_health]
{fast}
[lms.checks.canvas_api]
token = "{CANVAS_TOKEN}"
{fast}
[lms.checks.learner]
type = "journey"
journey = "canvas"
token = "{CANVAS_TOKEN}"
course_id = 42
interval = "5s"
timeout = "5s"

[[lms]]
name = "openedx-live"
kind = "openedx"
url = "{openedx.lms.url}"
[lms.checks.openedx_heartbeat]
studio_url = "{openedx.studio.url}"
{fast}
[lms.checks.openedx_pages]
studio_url = "{openedx.studio.url}"
{fast}
"""


def a11y_config(demo: DemoServer) -> str:
    """The a11y check (real Chromium and axe-core) on the demo LMS's login page, so the
    accessibility panels are queried against real series. Every 45 s (a Chromium per
    run is the heaviest check here), within the 60 s the fixture waits for every check
    to run again."""
    return f"""
[[lms]]
name = "a11y-live"
url = "{demo.url}"
[lms.checks.a11y]
pages = {{ login = "{demo.url}/login/index.php" }}
interval = "45s"
timeout = "30s"
"""


def mirror_config(demo: DemoServer, site: FakeSite) -> str:
    """A Moodle site whose admin/cli/checks.php hangs: the check outlives its timeout, so
    the runner cancels it (vigil_check_errors_total{reason="timeout"})."""
    return f"""
[[lms]]
name = "{LMS_MIRROR}"
kind = "moodle"
url = "{demo.url}"

[lms.moodle]
dirroot = "{site.root}"

[lms.moodle.cli]
php = "{site.php}"

[lms.checks.hung_cli]
type = "moodle_check_api"
interval = "2s"
timeout = "500ms"
"""


def start_prometheus(tmp: Path, prom_port: int, api_port: int, log: IO[str]
                     ) -> subprocess.Popen[bytes]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"  # evaluate within the test's minute, not once a minute
    (tmp / "vigil-rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    (tmp / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{tmp / 'vigil-rules.yml'}"]
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: ["127.0.0.1:{api_port}"]
""")
    return subprocess.Popen(
        [shutil.which("prometheus") or "prometheus", f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=log)
