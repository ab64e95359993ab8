"""Starting the daemon must not import what only some sites need: check families load by
type name and SQLAlchemy and redis-py on first use (checks/lazy.py), keeping a web-only
Vigil small (bench/footprint.py measures it; docs/benchmarks.md has the figures).

The regression guard: `vigil run` with a generic config, in a real process, with every
check run at least once, must not have imported any of the heavy or unconfigured modules
listed here (the Moodle config's guard: tests/moodle/test_moodle_import_footprint.py).
No timing: only which modules were imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import TargetServer, free_port
from tests.vigil_process_probe import modules_of_vigil_run

ROOT = Path(__file__).resolve().parent.parent

# Never in a daemon: test tooling, and libraries no shipped code path of `vigil run` needs.
NEVER = ("pytest", "hypothesis", "selenium", "schemathesis", "aiosmtpd", "trustme",
         "yaml", "openapi_spec_validator",
         # Extras libraries import when installed (the test venv has them all):
         # monitor/app/unused_extras.py and monitor/app/web/server.py keep them out.
         "rich", "pygments", "trio", "wsproto", "websockets")
# Only when configured (with what needs each: RSS measured by bench/footprint.py).
UNLESS_CONFIGURED = (
    "sqlalchemy", "psycopg", "pymysql",  # a Moodle database (~24 MB with psycopg)
    "redis",  # Moodle sessions or caches in Redis (~6 MB)
    "apprise",  # an apprise receiver
    "aiosmtplib",  # an e-mail receiver
    "icalendar",  # the maintenance iCal feed, when it is first asked for (~2.5 MB)
    "dns",  # a dns check (dnspython, ~3 MB)
    "checks.moodle.cron", "checks.moodle.usage", "checks.moodle.filestore",
    "checks.moodle.security", "checks.moodle.caches",  # Moodle probes
    "checks.canvas.health", "checks.canvas.api",
    "checks.openedx.heartbeat", "checks.openedx.pages",
    "checks.dns", "checks.os_updates", "checks.integrity.datascripts",
    # Maintenance actions on a window's first call (checks/actions_registry.py), the
    # integrity CLI's modules (monitor/app/cli/integrity_args.py)
    "checks.moodle.actions", "checks.moodle.exams", "checks.integrity.window",
    "checks.integrity.baseline", "checks.integrity.hashing", "tarfile",
)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names if name in modules)


def test_importing_the_daemon_does_not_load_database_or_redis_clients() -> None:
    code = ("import sys, monitor.app.daemon, monitor.app.cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'redis', 'psycopg', 'pymysql') and "
            "type(sys.modules[m]).__name__ != '_LazyModule'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out == "[]"


def test_the_command_line_leaves_out_httpx_own_command_line() -> None:
    # In the order `vigil` itself imports (the package first); click, rich and pygments
    # are installed here, so without the guard httpx would load all three.
    code = ("import sys, monitor.app.cli.main, httpx; "
            "print(sorted(m for m, mod in sys.modules.items() if mod is not None and "
            "(m.split('.')[0] in ('rich', 'pygments', 'trio') or m == 'httpx._main')), "
            "httpx.main.__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out == "[] httpx"  # httpx's stand-in main, defined when _main cannot import


def test_the_moodle_tables_load_no_dialect_of_the_other_database() -> None:
    # checks/moodle/schema.py: no mysql_*/postgresql_* keywords, no MySQL type classes.
    code = ("import sys, sqlalchemy as sa; from checks.moodle.schema import moodle_tables; "
            "sa.create_engine('{url}'); moodle_tables('mdl_'); "
            "print(sorted(m for m in sys.modules if m.startswith('{other}')))")
    for url, other in (("postgresql+psycopg://u:p@127.0.0.1:1/x", "sqlalchemy.dialects.mysql"),
                       ("mysql+pymysql://u:p@127.0.0.1:1/x", "sqlalchemy.dialects.postgresql")):
        out = subprocess.run([sys.executable, "-c", code.format(url=url, other=other)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60,
                             check=True).stdout.strip()
        assert out == "[]", (url, out)


def test_keep_out_marks_only_modules_nobody_imported_yet() -> None:
    from types import ModuleType

    from monitor.app.unused_extras import keep_out

    modules: dict[str, ModuleType | None] = {"httpx": ModuleType("httpx"),
                                             "trio": ModuleType("trio")}
    assert keep_out("httpx._main", "trio", "wsproto", modules=modules) == ["wsproto"]
    assert modules["wsproto"] is None
    assert "httpx._main" not in modules  # httpx already ran its own import of it
    assert isinstance(modules["trio"], ModuleType)


def test_vigil_run_on_a_web_site_imports_no_heavy_or_unconfigured_module(
        tmp_path: Path) -> None:
    target = TargetServer()
    port = free_port()
    config = tmp_path / "vigil.toml"
    config.write_text(f"""
[state]
dir = "{tmp_path / 'state'}"

[server]
host = "127.0.0.1"
port = {port}

[[alerts.receivers]]
name = "ops"
type = "webhook"
url = "{target.url}/hook"

[[lms]]
name = "site"
url = "{target.url}"

[lms.checks.http]
interval = "2s"
timeout = "1s"
keyword = ["logintoken"]

[lms.checks.port]
type = "tcp"
host = "127.0.0.1"
port = {target.port}
interval = "2s"
timeout = "1s"

[lms.checks.system]
interval = "2s"
timeout = "1s"

[lms.checks.process]
interval = "2s"
timeout = "1s"
processes = [{{ name = "python", pattern = "python", min_count = 0 }}]
""", encoding="utf-8")
    try:
        modules = modules_of_vigil_run(config, f"http://127.0.0.1:{port}",
                                       {"http", "port", "system", "process"}, tmp_path)
    finally:
        target.close()
    # The listing is real: what the configured checks need is there.
    assert {"checks.http", "checks.tcp", "checks.system", "checks.process", "httpx",
            "psutil"} <= modules
    assert loaded(modules, NEVER) == []
    assert loaded(modules, UNLESS_CONFIGURED) == []


def test_a_lazy_module_loads_once_when_many_threads_touch_it_first(tmp_path: Path) -> None:
    import threading
    import time as _time

    from checks.lazy import lazy_import

    (tmp_path / "slow_to_import_mod.py").write_text(
        "import time\ntime.sleep(0.2)\nVALUE = 42\nLOADS = []\nLOADS.append(1)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        module = lazy_import("slow_to_import_mod")
        seen: list[int] = []
        threads = [threading.Thread(target=lambda: seen.append(module.VALUE)) for _ in range(16)]
        started = _time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == [42] * 16
        assert module.LOADS == [1]
        assert _time.monotonic() - started < 5
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slow_to_import_mod", None)
