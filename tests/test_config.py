"""Config loading: every problem reported with its path, secrets resolved, examples valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.app.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env or {})
    return caught.value.problems


def test_minimal_site_gets_http_and_tls_checks_by_default() -> None:
    config = parse_config('[[lms]]\nname = "m"\nurl = "https://lms.example.org"\n', env={})
    assert set(config.lms[0].checks) == {"http", "tls"}
    assert config.lms[0].checks["http"].interval == 60.0


def test_durations_accept_units() -> None:
    config = parse_config(
        '[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\ninterval="5m"\ntimeout="500ms"\n',
        env={},
    )
    spec = config.lms[0].checks["http"]
    assert (spec.interval, spec.timeout) == (300.0, 0.5)


def test_malformed_toml_is_reported_with_line() -> None:
    [problem] = problems_of("[[lms]\nname = 'x'")
    assert "TOML syntax error" in problem and "line 1" in problem


def test_unknown_key_names_its_path() -> None:
    assert problems_of("[server]\nprot = 1\n") == ["server.prot: unknown key"]


def test_wrong_type_names_path_and_rule() -> None:
    [problem] = problems_of('[server]\nport = "http"\n')
    assert problem.startswith("server.port: ")


def test_nonpositive_timeout_names_check_path() -> None:
    text = '[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\ntimeout=0\n'
    assert problems_of(text) == ["lms[0].checks.http.timeout: must be > 0"]


def test_all_problems_are_reported_at_once() -> None:
    text = (
        '[state]\nbogus=1\n[[lms]]\nname="m"\nurl="http://x"\n'
        '[lms.checks.http]\ntimeout=-1\n[lms.checks.x]\ntype="nope"\n'
    )
    problems = problems_of(text)
    assert "state.bogus: unknown key" in problems
    assert "lms[0].checks.http.timeout: must be > 0" in problems
    assert any(p.startswith("lms[0].checks.x: type must be one of: http") for p in problems)


def test_timeout_longer_than_interval_is_rejected() -> None:
    text = '[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\ninterval=5\ntimeout=10\n'
    [problem] = problems_of(text)
    assert problem.startswith("lms[0].checks.http: timeout (10s) must be <= interval (5s)")


def test_duplicate_lms_names_are_rejected() -> None:
    text = '[[lms]]\nname="m"\nurl="http://x"\n[[lms]]\nname="m"\nurl="http://y"\n'
    [problem] = problems_of(text)
    assert "used twice" in problem


def test_http_check_without_any_url_is_rejected() -> None:
    [problem] = problems_of('[[lms]]\nname="m"\n[lms.checks.http]\n')
    assert problem.startswith("lms[0].checks.http.url: required")


def test_env_reference_is_resolved_and_hidden() -> None:
    text = ('[[lms]]\nname="m"\nurl="http://x"\n'
            '[lms.checks.http]\nheaders={Authorization="Bearer ${TOKEN}"}\n')
    config = parse_config(text, env={"TOKEN": "s3cret"})
    header = config.lms[0].checks["http"].headers["Authorization"]
    assert header.get_secret_value() == "Bearer s3cret"
    assert "s3cret" not in repr(config)


def test_missing_env_reference_names_the_variable_not_a_value() -> None:
    text = '[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\nheaders={A="${NOPE}"}\n'
    assert problems_of(text) == [
        "lms[0].checks.http.headers.A: environment variable NOPE is not set"
    ]


def test_credentials_directory_reference(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-systemd\n")
    text = '[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\nheaders={A="${cred:token}"}\n'
    config = parse_config(text, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.lms[0].checks["http"].headers["A"].get_secret_value() == "from-systemd"


def test_secret_file_reference_that_is_missing_is_an_error(tmp_path: Path) -> None:
    text = f'[[lms]]\nname="m"\nurl="http://x"\n[lms.checks.http]\nbody="${{file:{tmp_path}/x}}"\n'
    [problem] = problems_of(text)
    assert problem.startswith("lms[0].checks.http.body: cannot read secret file")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert caught.value.problems == ["file not found"]


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "vigil.toml"
    path.write_text('[state]\ndir = "st"\n')
    assert load_config(path).state.dir == tmp_path / "st"


@pytest.mark.parametrize("name", ["moodle.toml", "generic.toml"])
def test_example_configs_are_valid(name: str, tmp_path: Path) -> None:
    (tmp_path / "webhook_token").write_text("t0ken")
    (tmp_path / "moodle_probe_password").write_text("pr0be-pass")
    (tmp_path / "lms-probe-password").write_text("probe-pa55word")
    load_config(ROOT / "examples" / name, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_validate_command_prints_every_error_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nprot=1\n[[lms]]\nname="m"\nurl="http://x"\n'
                    '[lms.checks.http]\ntimeout=0\n')
    proc = run_cli("config", "validate", str(path))
    assert proc.returncode == 2
    assert "server.prot: unknown key" in proc.stderr
    assert "lms[0].checks.http.timeout: must be > 0" in proc.stderr


def test_validate_command_accepts_a_good_file(tmp_path: Path) -> None:
    proc = run_cli("config", "validate", str(ROOT / "examples" / "generic.toml"))
    assert proc.returncode == 0, proc.stderr
    assert "OK (2 LMS" in proc.stdout


def test_validate_command_takes_the_file_with_c_like_every_other_command() -> None:
    proc = run_cli("config", "validate", "-c", str(ROOT / "examples" / "generic.toml"))
    assert proc.returncode == 0, proc.stderr
    assert "OK (2 LMS" in proc.stdout
    for args in ((), ("a.toml", "-c", "b.toml")):
        proc = run_cli("config", "validate", *args)
        assert proc.returncode == 2
        assert "give the config file once, as FILE or -c FILE" in proc.stderr


def test_validate_command_on_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("config", "validate", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2
    assert "file not found" in proc.stderr


def test_demo_example_is_valid_once_its_references_are_filled(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("placeholder")
    env = {"VIGIL_DEMO_STATE": str(tmp_path), "VIGIL_DEMO_API_PORT": "9787",
           "VIGIL_DEMO_LMS_URL": "http://127.0.0.1:8080", "VIGIL_DEMO_TLS_PORT": "8443",
           "VIGIL_DEMO_CA": str(ca), "VIGIL_DEMO_WEBHOOK_URL": "http://127.0.0.1:8081/hook"}
    config = load_config(ROOT / "examples" / "demo.toml", env=env)
    assert config.server.port == 9787
    assert set(config.lms[0].checks) == {"login_page", "appsitecheck", "tls", "system"}


def test_a_broken_admin_template_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "message.txt.j2").write_text("{{ no_such_field }}")
    [problem] = problems_of(f'[alerts]\ntemplates_dir = "{tmp_path / "tpl"}"\n')
    assert problem.startswith("alerts.templates_dir: template")
    assert "no_such_field" in problem


def test_a_moodle_site_without_checks_gets_the_moodle_probe_set() -> None:
    config = parse_config(
        '[[lms]]\nname="m"\nkind="moodle"\nurl="https://moodle.example.org"\n'
        '[lms.moodle]\ndataroot="/var/moodledata"\n'
        '[lms.moodle.database]\ntype="pgsql"\nname="moodle"\nuser="vigil_ro"\n', env={})
    checks = set(config.lms[0].checks)
    assert {"http", "tls", "moodle_cron", "moodle_availability", "moodle_usage",
            "dataroot_scripts"} <= checks
    assert "code_integrity" not in checks  # no dirroot configured


def test_a_moodle_section_on_a_generic_site_is_rejected() -> None:
    [problem] = problems_of('[[lms]]\nname="m"\nurl="http://x"\n[lms.moodle]\n')
    assert 'needs kind = "moodle"' in problem


def test_depends_on_must_name_a_configured_check() -> None:
    text = """
[[lms]]
name = "campus"
url = "https://campus.example.edu"
[lms.checks.http]
[lms.checks.tls]
depends_on = ["htp"]
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert "lms[0].checks.tls.depends_on[0]: no check 'htp' on LMS 'campus'" in str(err.value)
    parse_config(text.replace('"htp"', '"http"'))  # the right name is accepted
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace('"htp"', '"other/http"'))
    assert "no check 'http' on LMS 'other'" in str(err.value)


@pytest.mark.parametrize("interval", ["1e308", 1e308, float("inf"), float("nan"), "4000d"])
def test_a_duration_past_ten_years_or_not_finite_is_refused_naming_the_field(
        tmp_path: Path, interval: object) -> None:
    from monitor.kernel.spec import CheckSpec

    with pytest.raises(ValidationError) as raised:
        CheckSpec.model_validate({"type": "http", "interval": interval})
    assert raised.value.errors()[0]["loc"] == ("interval",)
