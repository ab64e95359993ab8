"""The Moodle CLI helper's allow-list and wire protocol, and the client's configuration
(no helper process here: tests/moodle/test_moodle_cli_helper.py runs one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import CheckUnavailable
from checks.moodle.cli import run_cli_sync
from checks.moodle.cli_protocol import (
    ProtocolError,
    Reply,
    Request,
    command_for,
    encode_reply,
    encode_request,
    parse_reply,
    parse_request,
)
from checks.moodle.settings import CliSettings


def test_the_allow_list_names_the_calls_the_probes_and_maintenance_make() -> None:
    assert command_for("checks.php", ["-v", "--type=security"]) == "checks-security"
    assert command_for("upgrade.php", ["--is-pending"]) == "upgrade-is-pending"
    assert command_for("maintenance.php", []) == "maintenance-status"
    assert command_for("maintenance.php", ["--disable"]) == "maintenance-disable"
    assert command_for("maintenance.php", ["--enable", "--disable"]) is None
    assert command_for("cron.php", []) is None


def test_a_request_and_a_reply_survive_the_wire() -> None:
    request = Request("/var/www/moodle", "checks-status", 115.0)
    reply = Reply(exit_code=2, stdout="CRITICAL ✗\n", stderr="", duration=1.5,
                  argv=("php", "x"), timeout=115.0)

    assert parse_request(encode_request(request)) == request
    assert parse_reply(encode_reply(reply)) == reply
    assert encode_request(request).count(b"\n") == 1


@pytest.mark.parametrize(("line", "error"), [
    (b'{"site": "", "command": "checks-status"}\n', "site must be a non-empty string"),
    (b'{"site": "s", "command": "checks-status", "timeout": true}\n', "timeout must be"),
    (b'{"site": "s", "command": "checks-status", "timeout": "NaN"}\n', "timeout must be"),
    (b'{"site": "s", "command": "../../bin/sh"}\n', "not on the allow-list"),
    (b'{"site": "s", "command": "checks-status", "php": "/bin/sh"}\n', "unknown field"),
    (b"\xff\xfe\n", "not a JSON line"),
])
def test_a_malformed_request_is_a_protocol_error(line: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        parse_request(line)


def test_helper_socket_and_run_as_are_mutually_exclusive() -> None:
    with pytest.raises(ValidationError) as caught:
        CliSettings(run_as=["sudo", "-n", "-u", "www-data"], helper_socket="/run/x.sock")

    [error] = caught.value.errors()
    assert error["loc"] == ("helper_socket",)
    assert "set either helper_socket or run_as, not both" in error["msg"]


def test_an_unreachable_helper_makes_the_check_unavailable(tmp_path: Path) -> None:
    cli = CliSettings(helper_socket=str(tmp_path / "absent.sock"))

    with pytest.raises(CheckUnavailable, match=r"^cannot reach the Moodle CLI helper at "
                       rf"{tmp_path}/absent.sock: No such file or directory$"):
        run_cli_sync(cli, tmp_path, "upgrade.php", ["--is-pending"])
