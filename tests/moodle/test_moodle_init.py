"""`vigil init --moodle DIR`: a site discovered from its directory, a config that validates,
the password moved to a 0600 credentials file."""

from __future__ import annotations

import hashlib
import json
import stat
import tomllib
from pathlib import Path

import pytest

from checks.moodle.discovery import DiscoveryError, default_checks, discover
from checks.moodle.registry import MOODLE_CHECK_TYPES
from monitor.app.cli.main import main
from monitor.app.config import load_config
from tests.moodle_double.sitedir import make_site


def vigil(*argv: str) -> int:
    with pytest.raises(SystemExit) as excinfo:
        main(list(argv))
    return int(excinfo.value.code or 0)


@pytest.mark.parametrize("layout", ["4.5", "5.1"])
def test_init_writes_a_config_that_validates(layout: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path, layout, database={"dbpass": "pa'ss$word"})
    out = tmp_path / "etc" / "vigil.toml"
    assert vigil("init", "--moodle", str(site.root), "-o", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}" in printed and "LoadCredential=" in printed
    assert "pa'ss$word" not in printed + out.read_text()
    raw = tomllib.loads(out.read_text())
    lms = raw["lms"][0]
    assert (lms["name"], lms["kind"], lms["url"]) == ("moodle.example.test", "moodle",
                                                      "https://moodle.example.test")
    assert lms["moodle"]["dirroot"] == str(site.root)
    assert lms["moodle"]["dataroot"] == str(site.dataroot)
    db = lms["moodle"]["database"]
    secret = out.with_name("vigil.dbpass")
    assert db == {"type": "pgsql", "host": "127.0.0.1", "port": 5432, "name": "moodle",
                  "user": "moodle", "prefix": "mdl_", "password": f"${{file:{secret}}}"}
    assert secret.read_text() == "pa'ss$word\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert lms["moodle"]["cli"]["helper_socket"] == "/run/vigil/moodle-cli.sock"
    assert "run_as" not in lms["moodle"]["cli"]
    assert '#run_as = ["sudo", "-n", "-u", ' in out.read_text()
    assert vigil("config", "validate", str(out)) == 0
    config = load_config(out)
    assert config.lms[0].moodle.database.password.get_secret_value() == "pa'ss$word"


def test_the_check_set_follows_the_registry(tmp_path: Path) -> None:
    site = discover(make_site(tmp_path, "5.1").root)
    checks = default_checks(site)
    assert checks[:2] == ["http", "tls"]
    assert checks[-2:] == ["code_integrity", "dataroot_scripts"]
    assert set(checks[2:-2]) == set(MOODLE_CHECK_TYPES)


def test_a_51_site_is_found_from_its_public_directory_too(tmp_path: Path) -> None:
    site = make_site(tmp_path, "5.1")
    found = discover(site.root / "public")
    assert found.dirroot == site.root
    assert (found.version, found.release) == (2025100600.02, "5.1+ (Build: 20251017)")


def test_discovery_reads_mariadb_sockets_and_custom_prefixes(tmp_path: Path) -> None:
    site = make_site(tmp_path, "4.5", database={
        "dbtype": "mariadb", "dbhost": "localhost", "prefix": "vig_", "dbport": None,
        "dbsocket": "/run/mysqld/mysqld.sock"})
    found = discover(site.root)
    assert found.database == {"type": "mariadb", "host": "localhost", "name": "moodle",
                              "user": "moodle", "password": "s3cret!", "prefix": "vig_",
                              "socket": "/run/mysqld/mysqld.sock"}


def test_settings_from_the_environment_use_their_fallback_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path, "4.5")
    text = site.config_php.read_text().replace(
        "$CFG->dbhost    = '127.0.0.1';", "$CFG->dbhost = getenv('MOODLE_DB_HOST') ?: 'db1';")
    site.config_php.write_text(text)
    out = tmp_path / "v.toml"
    assert vigil("init", "--moodle", str(site.root), "-o", str(out), "--name", "prod") == 0
    assert tomllib.loads(out.read_text())["lms"][0]["moodle"]["database"]["host"] == "db1"
    assert "warning: $CFG->dbhost depends on getenv('MOODLE_DB_HOST')" in capsys.readouterr().out


def test_a_directory_without_config_php_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert vigil("init", "--moodle", str(tmp_path), "-o", str(tmp_path / "x.toml")) == 2
    assert capsys.readouterr().err == (f"vigil init: no config.php in {tmp_path}: point "
                                       "--moodle at the Moodle code directory (where "
                                       "config.php is)\n")
    assert not (tmp_path / "x.toml").exists()


def test_a_broken_config_php_names_the_line(tmp_path: Path) -> None:
    site = make_site(tmp_path, "4.5")
    site.config_php.write_text("<?php\n$CFG->dbhost = 'oops;\n")
    with pytest.raises(DiscoveryError, match="config.php line 2: unterminated"):
        discover(site.root)


def test_a_deeply_nested_config_php_is_a_clear_error_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path, "4.5")
    site.config_php.write_text("<?php\n$CFG = new stdClass();\n$CFG->dbhost = "
                               + "(" * 10_000 + "'db'" + ")" * 10_000 + ";\n")
    assert vigil("init", "--moodle", str(site.root), "-o", str(tmp_path / "x.toml")) == 2
    assert capsys.readouterr().err.startswith(
        "vigil init: config.php line 3: brackets nest deeper than 64 levels")


def test_an_existing_output_is_not_replaced_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path, "4.5")
    out = tmp_path / "v.toml"
    out.write_text("# mine\n")
    assert vigil("init", "--moodle", str(site.root), "-o", str(out)) == 2
    assert "exists (use --force" in capsys.readouterr().err
    assert vigil("init", "--moodle", str(site.root), "-o", str(out), "--force") == 0


def test_an_unsupported_database_leaves_the_database_out(tmp_path: Path) -> None:
    site = make_site(tmp_path, "4.5", database={"dbtype": "sqlsrv"})
    found = discover(site.root)
    assert found.database is None
    assert any("sqlsrv" in w for w in found.warnings)


@pytest.mark.parametrize(("layout", "web"), [("4.5", ""), ("5.1", "public/")])
def test_the_fake_site_lays_its_files_out_like_moodle(layout: str, web: str,
                                                      tmp_path: Path) -> None:
    site = make_site(tmp_path, layout, plugins={"local_extra": 2024060100},
                     climaintenance=True, files=(b"hello",))
    root = site.root
    for path in ("config.php", "admin/cli/checks.php", "lib/components.json",
                 f"{web}version.php", f"{web}mod/quiz/version.php",
                 f"{web}local/extra/version.php"):
        assert (root / path).is_file(), path
    components = json.loads((root / "lib" / "components.json").read_text())
    assert components["plugintypes"]["mod"] == f"{web}mod"
    assert (root / "public" / "config.php").is_file() == (layout == "5.1")
    sha1 = hashlib.sha1(b"hello").hexdigest()
    assert (site.dataroot / "filedir" / sha1[:2] / sha1[2:4] / sha1).read_bytes() == b"hello"
    assert (site.dataroot / "climaintenance.html").is_file()
