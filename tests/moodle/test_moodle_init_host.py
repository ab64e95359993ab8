"""`vigil init` writes the host around the Moodle site too: system, the running web
server, PHP-FPM, cron and local database as processes, OS updates; and says what it left
out and why."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from checks.moodle.discovery_host import plan_host_checks
from monitor.app.cli import init_cmd
from monitor.app.cli.main import main
from monitor.app.config import load_config
from tests.moodle_double.sitedir import make_site

DEBIAN_HOST = ["systemd", "nginx", "nginx", "php-fpm8.2", "php-fpm8.2", "cron", "postgres",
               "postgres", "redis-server", "sshd"]


def vigil(*argv: str) -> int:
    with pytest.raises(SystemExit) as excinfo:
        main(list(argv))
    return int(excinfo.value.code or 0)


def which_apt(tool: str) -> str | None:
    return "/usr/bin/apt-get" if tool == "apt-get" else None


def test_init_writes_the_complete_host_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path, "5.1")  # PostgreSQL on 127.0.0.1, https wwwroot
    monkeypatch.setattr(init_cmd, "running_process_names", lambda: DEBIAN_HOST)
    monkeypatch.setattr(init_cmd.shutil, "which",
                        lambda tool: f"/usr/bin/{tool}" if tool in ("apt-get", "php") else None)
    out = tmp_path / "vigil.toml"
    assert vigil("init", "--moodle", str(site.root), "-o", str(out)) == 0
    printed = capsys.readouterr().out
    checks = tomllib.loads(out.read_text())["lms"][0]["checks"]
    assert {"http", "tls", "system", "process", "os_updates", "moodle_caches",
            "code_integrity", "dataroot_scripts"} <= set(checks)
    assert checks["os_updates"] == {"package_manager": "apt"}
    processes = {p["name"]: p["pattern"] for p in checks["process"]["processes"]}
    assert processes == {"nginx": "^nginx$", "php-fpm": "^php-fpm", "cron": "^cron$",
                         "postgres": "^postgres$"}
    assert "left out" not in printed  # everything this host runs is watched
    assert vigil("config", "validate", str(out)) == 0
    config = load_config(out)
    kinds = {c.type for c in config.lms[0].checks.values()}
    assert {"system", "process", "os_updates", "tls"} <= kinds


def test_what_is_not_running_is_left_out_with_the_reason() -> None:
    plan = plan_host_checks({"type": "mariadb", "host": "db.internal"}, ["apache2", "crond"],
                            lambda tool: None)
    processes = [p["name"] for p in plan.checks["process"]["processes"]]
    assert processes == ["apache2", "crond"]
    assert "os_updates" not in plan.checks and "system" in plan.checks
    assert plan.left_out == [
        "process: PHP-FPM is not running (mod_php or another SAPI?)",
        "process: the database server runs on db.internal, not here",
        "os_updates: neither apt-get nor dnf was found",
    ]


def test_a_local_mariadb_over_its_socket_is_watched_as_a_process() -> None:
    plan = plan_host_checks({"type": "mariadb", "host": "localhost",
                             "socket": "/run/mysqld/mysqld.sock"},
                            ["nginx", "php-fpm", "cron", "mariadbd"], which_apt)
    assert [p["name"] for p in plan.checks["process"]["processes"]] == [
        "nginx", "php-fpm", "cron", "mariadbd"]
    assert plan.checks["os_updates"] == {"package_manager": "apt"}
    assert plan.left_out == []


def test_a_host_running_nothing_known_gets_no_process_check() -> None:
    plan = plan_host_checks(None, [], which_apt)
    assert "process" not in plan.checks
    assert len(plan.left_out) == 4
