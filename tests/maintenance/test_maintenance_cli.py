"""`vigil maintenance add|list|show|edit|end` against a real state file: the windows the
daemon reads, refusals over Moodle exams, and every bad input named."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from alerts.maintenance.book import MaintenanceBook
from monitor.app.cli.main import main
from monitor.app.store import StateStore
from monitor.kernel.clock import SystemClock
from tests.moodle_double.double import MoodleDouble

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[state]
dir = "state"
[[lms]]
name = "prod"
url = "https://prod.example"
labels = {{ host = "db1" }}
{extra}
[[maintenance]]
name = "weekly"
timezone = "Europe/Berlin"
start = 2026-03-01T02:30:00
duration = "1h"
rrule = "FREQ=WEEKLY;BYDAY=SU"
lms = "prod"
"""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text(CONFIG.format(extra=extra))
    return path


def vigil(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["maintenance", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def next_spring_forward_sunday() -> date:
    """The next last Sunday of March (the EU's spring-forward day), within a year: the CLI
    runs on the real clock and lists what is ahead."""
    today = date.today()
    for year in (today.year, today.year + 1):
        day = date(year, 3, 31)
        day -= timedelta(days=(day.weekday() + 1) % 7)
        if day > today:
            return day
    raise AssertionError("unreachable")


def test_add_list_show_edit_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    sunday = next_spring_forward_sunday()
    code, out, err = vigil(capsys, "add", "-c", config, "--name", "db upgrade", "--lms", "prod",
                           "--start", f"{sunday} 02:30", "--duration", "2h",
                           "--timezone", "Europe/Berlin", "--comment", "PostgreSQL 17",
                           "--notify-before", "30m", "--lms-maintenance-mode", "--by", "ana")
    assert (code, out.strip(), err) == (0, "scheduled window 2 (db upgrade)", "")
    code, out, _ = vigil(capsys, "list", "-c", config)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert "weekly" in lines[0] and "(config)" in lines[0]
    # 02:30 does not exist that night: RFC 5545 makes it 03:30 summer time.
    assert "db upgrade" in lines[1] and f"next {sunday} 03:30 CEST" in lines[1]
    code, out, _ = vigil(capsys, "show", "-c", config, "2", "--json")
    shown = json.loads(out)
    assert (shown["created_by"], shown["source"], shown["comment"]) == ("ana", "cli",
                                                                        "PostgreSQL 17")
    assert shown["actions"]["notify_before"] == 1800 and shown["actions"]["lms_maintenance_mode"]
    code, out, _ = vigil(capsys, "edit", "-c", config, "2", "--duration", "3h",
                         "--match", "host=db1")
    assert code == 0 and out.strip() == "changed window 2 (db upgrade)"
    code, out, _ = vigil(capsys, "end", "-c", config, "2")
    assert code == 0 and out.strip() == "ended window 2 (db upgrade)"
    code, out, _ = vigil(capsys, "list", "-c", config)
    assert "db upgrade" not in out
    code, out, _ = vigil(capsys, "list", "-c", config, "--all", "--json")
    [ended] = [w for w in json.loads(out)["windows"] if w["id"] == 2]
    assert ended["ended_at"] is not None and ended["matchers"] == ['host="db1"']
    assert ended["duration_seconds"] == 10800


def test_the_daemon_sees_what_the_cli_wrote(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    store = StateStore(tmp_path / "state" / "vigil.sqlite3")
    book = MaintenanceBook(store.database, SystemClock(), {"prod": {"host": "db1"}})
    try:
        assert book.covering({"lms": "prod", "check": "http"}, SystemClock().time()) is None
        code, out, _ = vigil(capsys, "add", "-c", config, "--name", "hotfix", "--manual",
                             "--match", "host=db1")
        assert code == 0
        occ = book.covering({"lms": "prod", "host": "db1"}, SystemClock().time() + 1)
        assert occ is not None and occ.name == "hotfix" and occ.end is None
    finally:
        store.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--lms", "prd", "--manual"], "lms: no LMS named 'prd' in the config (known: prod)"),
    (["--lms", "prod", "--start", "2030-01-01 10:00", "--end", "2030-01-01 09:00"],
     "end: must be after start"),
    (["--lms", "prod", "--start", "2030-01-01 10:00", "--duration", "1h", "--timezone",
      "CEST"], "timezone: 'CEST' is not an IANA timezone"),
    (["--lms", "prod", "--start", "2030-01-01 10:00", "--duration", "1h", "--rrule",
      "FREQ=WEEKLY;BYDAY=SUN"], "rrule: 'FREQ=WEEKLY;BYDAY=SUN' is not a valid RRULE"),
    (["--lms", "prod", "--start", "2030-01-01 10:00"], "end: give either end or duration"),
    (["--start", "2030-01-01 10:00", "--duration", "1h"], "matchers: at least one label"),
    (["--lms", "prod", "--match", "host", "--manual"], "matchers: 'host' is not a label "
     "matcher"),
])
def test_bad_input_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], message: str) -> None:
    code, out, err = vigil(capsys, "add", "-c", str(write_config(tmp_path)), "--name", "x",
                           *args)
    assert code == 2 and out == ""
    assert f"vigil maintenance: {message}" in err


def test_config_windows_and_unknown_ids_are_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    code, _, err = vigil(capsys, "end", "-c", config, "1")
    assert code == 2 and "defined in the config file ([[maintenance]])" in err
    code, _, err = vigil(capsys, "show", "-c", config, "7")
    assert code == 2 and "no maintenance window with id 7" in err


def test_a_window_over_an_exam_exits_1_unless_forced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], exam_site: MoodleDouble) -> None:
    s = exam_site.scenario.healthy_site()
    s.quiz_open_with_attempts(0, timeclose=int(s.now + 3 * 86400 + 3600), name="Final exam")
    db = exam_site.settings
    extra = f"""kind = "moodle"
[lms.moodle.database]
type = "{db.type}"
host = "{db.host}"
port = {db.port}
name = "{db.name}"
user = "{db.user}"
password = "{db.password.get_secret_value()}"
prefix = "{db.prefix}"
"""
    config = str(write_config(tmp_path, extra))
    window = ["--name", "upgrade", "--lms", "prod", "--start", "2027-01-18 08:00",
              "--duration", "2h"]
    code, out, err = vigil(capsys, "add", "-c", config, *window)
    assert code == 1 and out == ""
    assert "refused: the window overlaps Moodle exams (use --force" in err
    assert "prod: quiz 'Final exam'" in err and "closes at 2027-01-18 09:00 UTC" in err
    code, out, err = vigil(capsys, "add", "-c", config, *window, "--force")
    assert code == 0 and out.strip() == "scheduled window 2 (upgrade)"
    assert "forced over:" in err and "Final exam" in err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    run = [sys.executable, "-m", "monitor", "maintenance"]
    added = subprocess.run([*run, "add", "-c", config, "--name", "kernel", "--lms", "prod",
                            "--start", "2030-06-01 06:00", "--duration", "1h"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([*run, "list", "-c", config, "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert {w["name"] for w in json.loads(listed.stdout)["windows"]} == {"weekly", "kernel"}
