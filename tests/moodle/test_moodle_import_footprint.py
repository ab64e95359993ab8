"""The import guard for a Moodle site (tests/test_import_footprint.py has the generic one):
`vigil run` with the config `vigil init --moodle` writes (PostgreSQL double), every check
run at least once, must not have imported the MySQL driver, Redis, the other LMS families,
test tooling or receivers nobody configured. No timing: only which modules were imported.
First runs are spread over the first minute (monitor/app/scheduler.py), so this takes
about 70 s.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.sitedir import make_site
from tests.test_import_footprint import NEVER, loaded
from tests.vigil_process_probe import ROOT, modules_of_vigil_run

pytestmark = pytest.mark.integration

NOT_FOR_A_POSTGRESQL_MOODLE = (
    "pymysql",  # the site's database is PostgreSQL
    "sqlalchemy.dialects.mysql",  # nor SQLAlchemy's MySQL dialect (checks/moodle/schema.py)
    "redis",  # sessions and caches in the database (the module loads on first use)
    "apprise", "aiosmtplib",  # one webhook receiver; moodle_mail speaks smtplib
    "icalendar",  # nobody asked for the maintenance iCal feed
    "dns", "checks.dns", "checks.tcp",
    "checks.canvas.health", "checks.canvas.api",
    "checks.openedx.heartbeat", "checks.openedx.pages",
)


def test_vigil_run_on_a_moodle_site_imports_only_what_its_checks_need(
    tmp_path: Path, _moodle_databases: object
) -> None:
    import subprocess
    import sys

    db = _moodle_databases.get("postgresql", "mdl_")  # type: ignore[attr-defined]
    db.reset()
    Scenario(db.admin_engine, db.tables, now=time.time()).healthy_site()
    s = db.settings()
    site = make_site(tmp_path, "5.1", wwwroot="http://127.0.0.1:9", database={
        "dbtype": s.type, "dbhost": s.host, "dbport": s.port, "dbname": s.name,
        "dbuser": s.user, "dbpass": s.password.get_secret_value(), "prefix": s.prefix})
    config = tmp_path / "vigil.toml"
    init = subprocess.run([sys.executable, "-m", "monitor", "init", "--moodle",
                           str(site.root), "-o", str(config), "--name", "campus"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    port = free_port()
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n\n[server]\nhost = '
                      f'"127.0.0.1"\nport = {port}\n\n[[alerts.receivers]]\nname = "ops"\n'
                      'type = "webhook"\nurl = "http://127.0.0.1:9/hook"\n\n'
                      + config.read_text(), encoding="utf-8")
    names = set(tomllib.loads(config.read_text())["lms"][0]["checks"])
    assert len(names) >= 24  # the whole set: every Moodle probe, integrity, host checks

    modules = modules_of_vigil_run(config, f"http://127.0.0.1:{port}", names, tmp_path)

    assert {"sqlalchemy", "psycopg", "checks.moodle.cron", "checks.moodle.usage",
            "checks.integrity.codetree", "checks.os_updates"} <= modules
    assert loaded(modules, NEVER) == []
    assert loaded(modules, NOT_FOR_A_POSTGRESQL_MOODLE) == []
