"""A site discovered with `vigil init`, then probed with `vigil check` as Icinga would call it:
the whole Moodle probe set against the double, healthy and broken, on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.scenario import Scenario
from tests.moodle_double.sitedir import make_site

ROOT = Path(__file__).resolve().parents[2]


def vigil(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def wall_clock_scenario(double: MoodleDouble) -> Scenario:
    """`vigil check` runs in a subprocess on the real clock: build rows relative to it."""
    return Scenario(double.admin_engine, double.tables, now=time.time())


def discovered_config(tmp_path: Path, moodle_db_fast: MoodleDouble) -> Path:
    settings = moodle_db_fast.settings
    database = {"dbtype": settings.type, "dbhost": settings.host, "dbport": settings.port,
                "dbname": settings.name, "dbuser": settings.user,
                "dbpass": settings.password.get_secret_value(), "prefix": settings.prefix}
    site = make_site(tmp_path, "4.5", database=database, wwwroot="http://127.0.0.1:9")
    out = tmp_path / "vigil.toml"
    init = vigil("init", "--moodle", str(site.root), "-o", str(out), "--name", "campus")
    assert init.returncode == 0, init.stdout + init.stderr
    return out


def test_check_reports_a_broken_site_with_nagios_status_and_perfdata(
    tmp_path: Path, moodle_db_fast: MoodleDouble, now: float
) -> None:
    config = discovered_config(tmp_path, moodle_db_fast)
    scenario = wall_clock_scenario(moodle_db_fast).healthy_site()
    healthy = vigil("check", "-c", str(config), "--lms", "campus", "--check", "moodle_cron")
    assert healthy.stdout.startswith("VIGIL OK - campus/moodle_cron"), healthy.stdout
    assert healthy.returncode == 0

    scenario.cron_stale(3 * 86400)
    broken = vigil("check", "-c", str(config), "--lms", "campus", "--check", "moodle_cron")
    assert broken.returncode == 2, broken.stdout + broken.stderr
    expected = "VIGIL CRITICAL - campus/moodle_cron: cron has not started for 3d"
    assert broken.stdout.startswith(expected)
    assert "'campus/moodle_cron/lms_moodle_cron_age_seconds'=" in broken.stdout


def test_every_probe_answers_without_timeouts_when_run_together(
    tmp_path: Path, moodle_db_fast: MoodleDouble
) -> None:
    config = discovered_config(tmp_path, moodle_db_fast)
    wall_clock_scenario(moodle_db_fast).healthy_site()
    everything = vigil("check", "-c", str(config), "--lms", "campus", "--format", "text")
    lines = everything.stdout.splitlines()
    moodle_lines = [line for line in lines if "campus/moodle_" in line]
    assert len(moodle_lines) >= 10, everything.stdout + everything.stderr
    assert not [line for line in lines if "timed out" in line], everything.stdout
    assert "Traceback" not in everything.stderr


@pytest.mark.parametrize("check", ["moodle_scheduled_tasks", "moodle_adhoc_tasks"])
def test_a_database_that_refuses_the_account_is_unknown_with_the_cause(
    tmp_path: Path, moodle_db_fast: MoodleDouble, check: str
) -> None:
    config = discovered_config(tmp_path, moodle_db_fast)
    text = config.read_text()
    config.write_text(text.replace(f'user = "{moodle_db_fast.settings.user}"',
                                   'user = "no_such_role"'))
    result = vigil("check", "-c", str(config), "--lms", "campus", "--check", check)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith(f"VIGIL UNKNOWN - campus/{check}: cannot query")


def test_one_vigil_watches_several_tenants_each_with_its_own_prefix(
    tmp_path: Path, _moodle_databases: object
) -> None:
    tenants = {"tenant-a": _moodle_databases.get("postgresql", "mdl_"),  # type: ignore[attr-defined]
               "tenant-b": _moodle_databases.get("mariadb", "vig_")}  # type: ignore[attr-defined]
    blocks = []
    for name, db in tenants.items():
        db.reset()
        scenario = Scenario(db.admin_engine, db.tables, now=time.time()).healthy_site()
        if name == "tenant-b":
            scenario.cron_stale(7200)
        s = db.settings()
        blocks.append(f"""
[[lms]]
name = "{name}"
kind = "moodle"
[lms.moodle.database]
type = "{s.type}"
host = "{s.host}"
port = {s.port}
name = "{s.name}"
user = "{s.user}"
password = "{s.password.get_secret_value()}"
prefix = "{s.prefix}"
[lms.checks.moodle_cron]
[lms.checks.moodle_usage]
""")
    config = tmp_path / "vigil.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}/state"\n' + "".join(blocks))
    result = vigil("check", "-c", str(config), "--format", "json")
    by_key = {c["check"]: c for c in json.loads(result.stdout)}
    assert by_key["tenant-a/moodle_cron"]["status"] == "OK"
    assert by_key["tenant-b/moodle_cron"]["status"] == "CRITICAL"
    assert by_key["tenant-a/moodle_usage"]["status"] == "OK"
    assert by_key["tenant-b/moodle_usage"]["status"] == "OK"
    assert result.returncode == 2
