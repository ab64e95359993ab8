"""Running Moodle's admin/cli scripts: argv, environment, output decoding, hangs, failures.

The site's php is the fake from tests/moodle_double/sitedir_php.py (this machine has no PHP).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from checks.base import CheckUnavailable
from checks.moodle.cli import cli_argv, decode, run_cli, run_cli_sync, strip_ansi
from checks.moodle.settings import CliSettings
from tests.moodle_double.sitedir import FakeSite, make_site


@pytest.fixture(params=["4.5", "5.1"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> FakeSite:
    return make_site(tmp_path, request.param)


def test_argv_is_the_wrapper_then_php_then_the_script_at_the_project_root(tmp_path: Path) -> None:
    cli = CliSettings(php="/usr/bin/php8.3", run_as=["sudo", "-n", "-u", "www-data"])
    assert cli_argv(cli, tmp_path, "checks.php", ["-v"]) == [
        "sudo", "-n", "-u", "www-data", "/usr/bin/php8.3",
        str(tmp_path / "admin" / "cli" / "checks.php"), "-v"]


def test_runs_the_script_with_a_minimal_environment_in_its_own_process_group(
        site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SECRET_TOKEN", "do-not-leak")
    result = run_cli_sync(site.cli_settings(), site.root, "maintenance.php")
    assert result.exit_code == 0
    assert result.stdout == ("== Maintenance mode (https://moodle.example.test) ==\n"
                             "Status: disabled\n")
    call = site.calls()[-1]
    assert call["argv"] == [str(site.root / "admin" / "cli" / "maintenance.php")]
    assert call["env"] == ["LANG", "LC_ALL", "PATH"]
    assert call["pgid"] == call["pid"] != os.getpgid(0)
    assert call["cwd"] == str(site.root)


def test_ansi_colour_codes_are_stripped(site: FakeSite) -> None:
    result = run_cli_sync(site.cli_settings(), site.root, "checks.php", ["--type=security"])
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout
    assert "  WARNING | XSS trusted users (core_riskxss)" in result.stdout


def test_strip_ansi_removes_colours_and_cursor_moves() -> None:
    assert strip_ansi("\x1b[0;30m\x1b[43m WARNING \x1b[0;0m|\x1b[1A x\x07") == " WARNING | x"


def test_output_is_decoded_leniently() -> None:
    assert decode(b"ok \xff\xfe caf\xc3\xa9") == "ok \ufffd\ufffd café"


def test_a_hanging_script_is_killed_with_its_children(site: FakeSite) -> None:
    site.cli_mode("checks.php", "hang")
    started = time.monotonic()
    with pytest.raises(CheckUnavailable, match=r"^admin/cli/checks.php did not finish "
                                               r"within 1s$"):
        run_cli_sync(site.cli_settings(), site.root, "checks.php", timeout=1)
    assert time.monotonic() - started < 5
    pgid = site.calls()[-1]["pgid"]
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the grandchild `sleep` must be gone too
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a process of the killed group is still alive")


def test_a_php_fatal_error_is_described_with_its_message(site: FakeSite) -> None:
    site.cli_mode("checks.php", "fatal")
    result = run_cli_sync(site.cli_settings(), site.root, "checks.php")
    assert result.exit_code == 255
    assert result.failure().startswith("admin/cli/checks.php died with a PHP fatal error: "
                                       "PHP Fatal error:  Uncaught Error")


def test_a_missing_php_binary_is_unavailable_not_a_crash(site: FakeSite) -> None:
    cli = CliSettings(php=str(site.root / "no-such-php"))
    with pytest.raises(CheckUnavailable, match="cannot run admin/cli/checks.php: .*no-such-php"):
        run_cli_sync(cli, site.root, "checks.php")


def test_a_script_that_is_not_there_fails_like_php_does(site: FakeSite) -> None:
    result = run_cli_sync(site.cli_settings(), site.root, "nosuch.php")
    assert result.exit_code == 1
    assert result.first_line().startswith("Could not open input file:")


async def test_run_cli_needs_cli_settings(site: FakeSite) -> None:
    with pytest.raises(CheckUnavailable, match=r"no CLI access configured: add \[lms.moodle.cli\]"):
        await run_cli(site.context(cli=False), "checks.php")


async def test_run_cli_keeps_inside_the_checks_own_timeout(site: FakeSite) -> None:
    site.cli_mode("upgrade.php", "hang")
    ctx = site.context(timeout=6.0)  # 5 s are kept for reporting
    with pytest.raises(CheckUnavailable, match="did not finish within 1s"):
        await run_cli(ctx, "upgrade.php", ["--is-pending"])


async def test_upgrade_is_pending_exit_codes_and_stderr(site: FakeSite) -> None:
    ctx = site.context()
    result = await run_cli(ctx, "upgrade.php", ["--is-pending"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.startswith("No upgrade needed for the installed version")
    site.update_state(upgrade_pending=True)
    result = await run_cli(ctx, "upgrade.php", ["--is-pending"])
    assert (result.exit_code, result.stderr) == (2, "An upgrade is pending\n\n")


async def test_cron_refuses_to_run_in_cli_maintenance(site: FakeSite) -> None:
    site.enable_cli_maintenance()
    result = await run_cli(site.context(), "cron.php")
    assert result.exit_code == 1
    assert result.stdout == "CLI maintenance mode active, cron execution suspended.\n"
