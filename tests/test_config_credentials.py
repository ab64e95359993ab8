"""Issue #11: credentials where validation runs. ``vigil config validate`` away from
systemd lists a ${cred:} it cannot read as not checked (exit 0; --strict fails on it),
``vigil run`` still refuses it, and bad references are clear errors, not tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
SITE = '[[lms]]\nname = "m"\nurl = "http://x"\n[lms.checks.http]\n'
SECRET = "s3cret-value-never-printed"


def vigil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, env={**base, **(env or {})})


def problems_of(text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env)
    return caught.value.problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text(text)
    return path


def test_validate_lists_a_credential_without_credentials_directory_as_not_checked(
        tmp_path: Path) -> None:
    path = write(tmp_path, SITE + 'headers = { A = "Bearer ${cred:token}" }\n')
    done = vigil("config", "validate", str(path))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
    assert ("lms[0].checks.http.headers.A: ${cred:token} not checked: needs "
            "$CREDENTIALS_DIRECTORY") in done.stdout


def test_validate_lists_a_credential_missing_from_its_directory_as_not_checked(
        tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    path = write(tmp_path, SITE + 'headers = { A = "${cred:absent}" }\n')
    done = vigil("config", "validate", str(path), env={
        "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert done.returncode == 0, done.stderr
    assert "${cred:absent} not checked: no credential 'absent'" in done.stdout


def test_strict_validate_fails_on_a_credential_it_cannot_read(tmp_path: Path) -> None:
    path = write(tmp_path, SITE + 'headers = { A = "${cred:token}" }\n')
    done = vigil("config", "validate", "--strict", str(path))
    assert done.returncode == 2
    assert "lms[0].checks.http.headers.A: ${cred:token} needs $CREDENTIALS_DIRECTORY" \
        in done.stderr


def test_a_readable_credential_is_checked_and_never_printed(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET)
    path = write(tmp_path, SITE + 'headers = { A = "${cred:token}" }\n')
    done = vigil("config", "validate", "--strict", str(path),
                 env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "not checked" not in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_unchecked_credentials_are_listed_beside_real_problems(tmp_path: Path) -> None:
    path = write(tmp_path, SITE + 'timeout = 0\nheaders = { A = "${cred:token}" }\n')
    done = vigil("config", "validate", str(path))
    assert done.returncode == 2
    assert "lms[0].checks.http.timeout: must be > 0" in done.stderr
    assert "${cred:token} not checked" in done.stdout


def test_run_still_refuses_an_unreadable_credential(tmp_path: Path) -> None:
    # vigil run loads the config as load_config does with no `unchecked` list.
    path = write(tmp_path, f'[state]\ndir = "{tmp_path}"\n' + SITE
                 + 'headers = { A = "${cred:token}" }\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        "lms[0].checks.http.headers.A: ${cred:token} needs $CREDENTIALS_DIRECTORY "
        "(systemd LoadCredential=)"]
    done = vigil("run", "-c", str(path))
    assert done.returncode == 2
    assert "${cred:token} needs $CREDENTIALS_DIRECTORY" in done.stderr


def test_an_unchecked_api_token_does_not_trip_the_token_length_rule() -> None:
    unchecked: list[str] = []
    parse_config('[server]\napi_token = "${cred:api_token}"\n', env={}, unchecked=unchecked)
    assert unchecked == ["server.api_token: ${cred:api_token} not checked: needs "
                         "$CREDENTIALS_DIRECTORY (systemd LoadCredential=)"]


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "a/b", "..", ".", "", "/etc/x"])
def test_a_credential_name_must_be_a_plain_file_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "x").write_text(SECRET)
    creds = tmp_path / "creds"
    creds.mkdir()
    text = SITE + f'headers = {{ A = "${{cred:{name}}}" }}\n'
    for unchecked in (None, []):  # refused by validate and by run alike
        with pytest.raises(ConfigError) as caught:
            parse_config(text, env={"CREDENTIALS_DIRECTORY": str(creds)}, unchecked=unchecked)
        assert caught.value.problems == [
            f"lms[0].checks.http.headers.A: ${{cred:{name}}}: a credential name must be a "
            "plain file name"]


@pytest.mark.parametrize("content", [b"\xff\xfe\x00t\x00o\x00k", b"tok\x00en", b"\x80abc"])
def test_a_binary_secret_file_is_a_clear_error_naming_the_path(
        tmp_path: Path, content: bytes) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(content)
    problems = problems_of(SITE + f'body = "${{file:{secret}}}"\n', env={})
    assert len(problems) == 1
    assert problems[0].startswith(f"lms[0].checks.http.body: secret file {secret} ")
    assert "UTF-8" in problems[0] or "NUL" in problems[0]


def test_a_binary_credential_is_a_clear_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\x00\x01\x02")
    done = vigil("config", "validate", str(write(tmp_path, SITE + 'body = "${cred:token}"\n')),
                 env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"lms[0].checks.http.body: secret file {tmp_path / 'token'} contains NUL" \
        in done.stderr


def test_a_nul_in_a_secret_file_path_is_a_clear_error() -> None:
    problems = problems_of(SITE + 'body = "${file:/tmp/a\\u0000b}"\n', env={})
    assert problems == ["lms[0].checks.http.body: a secret file path cannot contain a NUL "
                        "character"]


# `vigil demo` fills these (monitor/app/demo/command.py), as examples/demo.toml's header says.
DEMO_ENV = {"VIGIL_DEMO_API_PORT": "9787", "VIGIL_DEMO_LMS_URL": "http://127.0.0.1:8080",
            "VIGIL_DEMO_TLS_PORT": "8443", "VIGIL_DEMO_WEBHOOK_URL": "http://127.0.0.1:8081/hook"}


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.toml")))
def test_every_example_validates_outside_systemd(example: str, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("demo CA\n")
    env = {**DEMO_ENV, "VIGIL_DEMO_STATE": str(tmp_path / "state"), "VIGIL_DEMO_CA": str(ca)}
    done = vigil("config", "validate", f"examples/{example}", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"examples/{example}: OK" in done.stdout
