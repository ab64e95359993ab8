"""systemd/vigil-moodle-cli.socket and vigil-moodle-cli@.service: the Moodle CLI helper
units are verified, hardened, and agree with the client's defaults.

Uses the real systemd-analyze that an admin would run (as tests/test_systemd_unit.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.moodle.cli_protocol import DEFAULT_SOCKET

SYSTEMD_DIR = Path(__file__).resolve().parent.parent / "systemd"
SOCKET = SYSTEMD_DIR / "vigil-moodle-cli.socket"
SERVICE = SYSTEMD_DIR / "vigil-moodle-cli@.service"
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.needs("systemd-analyze")


def settings(unit: Path) -> dict[str, list[str]]:
    """Every Key=value of the unit (comments skipped), values in file order."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_socket_listens_where_the_client_looks_and_only_for_vigil() -> None:
    socket = settings(SOCKET)

    assert socket["ListenStream"] == [DEFAULT_SOCKET]
    assert socket["Accept"] == ["yes"]  # hence the template vigil-moodle-cli@.service
    assert socket["SocketUser"] == ["vigil"] and socket["SocketGroup"] == ["vigil"]
    assert socket["SocketMode"] == ["0660"]


def test_service_runs_the_helper_as_the_web_user_on_a_configured_site() -> None:
    service = settings(SERVICE)

    assert service["ExecStart"] == ["/usr/local/bin/vigil-moodle-cli"]
    assert service["User"] == ["www-data"] and service["Group"] == ["www-data"]
    env = dict(value.split("=", 1) for value in service["Environment"])
    assert env["VIGIL_MOODLE_DIRROOT"] == "/var/www/moodle"
    assert env["VIGIL_MOODLE_CLI_CLIENTS"] == "vigil"
    assert service["ReadWritePaths"] == ["/var/www/moodledata"]
    for key, value in (("NoNewPrivileges", "yes"), ("CapabilityBoundingSet", ""),
                       ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("RestrictSUIDSGID", "yes")):
        assert service[key] == [value], key


@needs_analyze
def test_service_security_exposure_is_at_most_two() -> None:
    proc = subprocess.run(
        [str(ANALYZE), "security", "--offline=true", "--no-pager", str(SERVICE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    output = proc.stdout + proc.stderr
    match = re.search(r"Overall exposure level for vigil-moodle-cli@\S*\.service: "
                      r"(\d+\.\d+)", output)
    assert match, f"no exposure line in systemd-analyze output:\n{output}"
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{output}"


@needs_analyze
def test_systemd_analyze_verify_is_clean() -> None:
    proc = subprocess.run(
        [str(ANALYZE), "verify", "--man=no", "--no-pager", str(SOCKET), str(SERVICE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    # As for vigil.service: ExecStart names where `pip install` puts the entry point,
    # which a test machine need not have. Any other line is a real problem.
    missing = re.compile(r"vigil-moodle-cli@\S*\.service: Command "
                         r"/usr/local/bin/vigil-moodle-cli is not executable: "
                         r"No such file or directory")
    lines = [line for line in (proc.stdout + proc.stderr).splitlines()
             if line.strip() and not missing.fullmatch(line.strip())]
    assert lines == [], "\n".join(lines)
    if Path("/usr/local/bin/vigil-moodle-cli").exists():
        assert proc.returncode == 0
