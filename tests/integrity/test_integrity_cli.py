"""`vigil integrity ...` end to end through monitor.app.cli.main.main, with a real config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from integrity_helpers import make_tgz, tree_files, write_git_index

from monitor.app.cli.main import main
from tests.moodle_double.sitedir import FakeSite


def write_config(tmp_path: Path, site: FakeSite, checks: str | None = None) -> Path:
    checks = checks if checks is not None else """
[lms.checks.code]
type = "code_integrity"
ignore = [".fake/"]
"""
    path = tmp_path / "vigil.toml"
    path.write_text(f"""
[state]
dir = "state"

[server]
enabled = false

[[lms]]
name = "campus"
kind = "moodle"
url = "https://moodle.example.test"

[lms.moodle]
dirroot = "{site.root}"
dataroot = "{site.dataroot}"
{checks}
""")
    return path


def vigil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def config(tmp_path: Path, site: FakeSite) -> Path:
    return write_config(tmp_path, site)


def integrity(capsys, config: Path, command: str, *extra: str) -> tuple[int, str, str]:
    return vigil(capsys, "integrity", command, "-c", str(config), "--lms", "campus", *extra)


def test_baseline_verify_diff_accept_round_trip(capsys, config, site) -> None:
    code, _, err = integrity(capsys, config, "verify")
    assert code == 3 and "no baseline" in err and "vigil integrity baseline" in err

    code, out, _ = integrity(capsys, config, "baseline", "--by", "ops")
    assert code == 0 and out.startswith(f"baseline created for {site.root}: ")

    code, out, _ = integrity(capsys, config, "verify")
    assert code == 0 and out.startswith("VIGIL INTEGRITY OK - code tree matches its baseline")
    assert "baseline of " in out and " by ops" in out

    (site.root / "evil.php").write_text("<?php system($_GET['c']);")
    weblib = site.root / "lib" / "weblib.php"
    weblib.write_text(weblib.read_text() + "// injected\n")
    code, out, _ = integrity(capsys, config, "verify")
    assert code == 2 and out.startswith("VIGIL INTEGRITY CRITICAL - ")
    assert "+ evil.php  (added script)" in out
    assert "M lib/weblib.php  (content mtime)" in out

    code, out, _ = integrity(capsys, config, "diff")
    assert code == 1 and "+ evil.php  (added script)" in out

    code, out, _ = integrity(capsys, config, "accept", "evil.php", "--by", "alice")
    assert code == 0 and out.startswith("accepted 1 path(s) into the baseline, removed 0 "
                                        "(by alice at ")
    code, out, _ = integrity(capsys, config, "diff")
    assert code == 1 and "evil.php" not in out and "M lib/weblib.php" in out

    code, out, _ = integrity(capsys, config, "accept", "--all")
    assert code == 0
    code, out, _ = integrity(capsys, config, "diff")
    assert code == 0 and out.strip() == "no change since the baseline"


def test_accept_takes_absolute_paths_inside_the_tree_only(capsys, config, site) -> None:
    integrity(capsys, config, "baseline")
    (site.root / "local").mkdir(exist_ok=True)
    (site.root / "local" / "a.php").write_text("<?php")
    code, out, _ = integrity(capsys, config, "accept", str(site.root / "local"))
    assert code == 0 and "  local/a.php" in out
    code, _, err = integrity(capsys, config, "accept", "/etc/passwd")
    assert code == 2 and "is not inside the code directory" in err
    code, _, err = integrity(capsys, config, "accept")
    assert code == 2 and "or --all" in err
    code, _, err = integrity(capsys, config, "accept", "no/such.php")
    assert code == 2 and "nothing in the tree or its baseline matches: no/such.php" in err


def test_verify_prints_json_for_scripts(capsys, config, site) -> None:
    integrity(capsys, config, "baseline")
    (site.root / "README.txt").unlink()
    code, out, _ = integrity(capsys, config, "verify", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "WARNING"
    assert report["details"]["removed"] == ["README.txt"]


def test_manifest_from_an_archive_then_verify_reports_the_release(capsys, config, site,
                                                                  tmp_path) -> None:
    files = tree_files(site.root, skip=("config.php", ".fake"))
    archive = make_tgz(tmp_path / "moodle-4.5.tgz", files)
    code, out, _ = integrity(capsys, config, "manifest", "--from", str(archive))
    assert code == 0 and "release manifest stored for campus: 4.5 (Build: 20241007) from " \
        "archive moodle-4.5.tgz" in out
    assert "no baseline yet" in out
    integrity(capsys, config, "baseline")
    (site.root / "lib" / "moodlelib.php").write_text("<?php // patched")
    code, out, _ = integrity(capsys, config, "verify")
    assert code == 2
    assert "release 4.5 (Build: 20241007): 1 differ, 0 missing, 0 accepted, 1 not in the " \
           "release" in out
    assert "R lib/moodlelib.php" in out


def test_manifest_from_a_git_checkout(capsys, config, site, tmp_path) -> None:
    files = tree_files(site.root, skip=("config.php", ".fake"))
    checkout = tmp_path / "checkout"
    for rel, data in files.items():
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_bytes(data)
    write_git_index(checkout, files)
    integrity(capsys, config, "baseline")
    code, out, _ = integrity(capsys, config, "manifest", "--from-git", str(checkout))
    assert code == 0 and f"from git checkout {checkout}" in out
    assert "release 4.5 (Build: 20241007): 0 differ" in out
    (checkout / "index.php").write_text("dirty")
    files["index.php"] = b"clean"
    write_git_index(checkout, files)
    code, _, err = integrity(capsys, config, "manifest", "--from-git", str(checkout))
    assert code == 3 and "not the pristine release: index.php" in err


def test_bad_arguments_and_inputs_exit_with_a_clear_message(capsys, config, site,
                                                            tmp_path) -> None:
    code, _, err = vigil(capsys, "integrity", "verify", "-c", str(config), "--lms", "nope")
    assert code == 2 and "no LMS named 'nope'" in err
    code, _, err = integrity(capsys, config, "verify", "--check", "other")
    assert code == 2 and "no code_integrity check named 'other'" in err
    junk = tmp_path / "x.zip"
    junk.write_text("garbage")
    code, _, err = integrity(capsys, config, "manifest", "--from", str(junk))
    assert code == 3 and "not a readable tar or zip archive" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("[[lms]\n")
    code, _, err = vigil(capsys, "integrity", "diff", "-c", str(broken), "--lms", "campus")
    assert code == 2 and "invalid config" in err


def test_a_site_with_two_checks_needs_check_named(capsys, tmp_path, site) -> None:
    config = write_config(tmp_path, site, f"""
[lms.checks.code]
type = "code_integrity"
[lms.checks.plugins]
type = "code_integrity"
path = "{site.root}/local"
""")
    (site.root / "local").mkdir(exist_ok=True)
    code, _, err = integrity(capsys, config, "baseline")
    assert code == 2 and "pick one with --check" in err
    code, out, _ = integrity(capsys, config, "baseline", "--check", "plugins")
    assert code == 0 and f"{site.root}/local: 0 files" in out


def test_a_moodle_site_without_the_check_uses_its_dirroot(capsys, tmp_path, site) -> None:
    config = write_config(tmp_path, site, "")
    code, out, _ = integrity(capsys, config, "baseline")
    assert code == 0 and f"baseline created for {site.root}: " in out


def test_vigil_check_runs_both_integrity_checks_once(capsys, tmp_path, site) -> None:
    config = write_config(tmp_path, site, """
[lms.checks.code]
type = "code_integrity"
[lms.checks.data]
type = "dataroot_scripts"
""")
    (site.dataroot / "temp" / "x.php").write_text("<?php")
    code, out, _ = vigil(capsys, "check", "-c", str(config), "--format", "text")
    assert code == 2
    assert "OK       campus/code: baseline created: " in out
    assert "CRITICAL campus/data: 1 executable script(s) in the data directory: temp/x.php" in out
