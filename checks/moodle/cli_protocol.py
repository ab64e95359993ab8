"""The wire protocol and allow-list of ``vigil-moodle-cli``, the helper that runs Moodle's
CLI scripts as the web user on the daemon's behalf.

Both ends use it: checks/moodle/cli.py (the client, when ``[lms.moodle.cli]`` names a
``helper_socket``) and monitor/app/moodle_cli_helper.py (the server, a separate
socket-activated unit running as the web user). Standard library only, so the helper,
started once per connection, imports little.

One request per connection, one JSON line each way:

    -> {"site": "/var/www/moodle", "command": "checks-status", "timeout": 115}
    <- {"exit_code": 0, "stdout": "...", "stderr": "...", "duration": 1.2,
        "argv": [...], "timed_out": false, "timeout": 115, "error": null}

``site`` is a configured site's name or dirroot and ``command`` a key of ``COMMANDS``:
the helper only ever runs those fixed argument lists in a dirroot from its own
configuration. ``timeout`` may only shorten the helper's own limit. A refusal is a reply
with ``error`` set and nothing run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SOCKET = "/run/vigil/moodle-cli.sock"
MAX_REQUEST = 4096  # bytes of one request line, newline included
MAX_REPLY = 16 * 1024 * 1024  # bytes of one reply line (the helper caps output below this)

# The whole allow-list: command -> (script in <dirroot>/admin/cli, fixed arguments).
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "checks-status": ("checks.php", ("-v", "--type=status")),
    "checks-security": ("checks.php", ("-v", "--type=security")),
    "checks-performance": ("checks.php", ("-v", "--type=performance")),
    "upgrade-is-pending": ("upgrade.php", ("--is-pending",)),
    "maintenance-status": ("maintenance.php", ()),
    "maintenance-enable": ("maintenance.php", ("--enable",)),
    "maintenance-disable": ("maintenance.php", ("--disable",)),
}


class ProtocolError(ValueError):
    """A request or reply that does not follow the protocol; the message says how."""


def command_for(script: str, args: Sequence[str]) -> str | None:
    """The allow-listed command that runs ``admin/cli/<script> <args>``, if any."""
    wanted = (script, tuple(args))
    return next((name for name, spec in COMMANDS.items() if spec == wanted), None)


@dataclass(frozen=True, slots=True)
class Request:
    site: str
    command: str
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    argv: tuple[str, ...] = ()
    timed_out: bool = False
    timeout: float | None = None  # the limit the helper applied
    error: str | None = None  # set: refused, nothing ran

    @classmethod
    def refusal(cls, error: str) -> Reply:
        return cls(error=error)


def encode_request(request: Request) -> bytes:
    body: dict[str, Any] = {"site": request.site, "command": request.command}
    if request.timeout is not None:
        body["timeout"] = request.timeout
    return _line(body)


def parse_request(line: bytes) -> Request:
    body = _object(line, MAX_REQUEST)
    unknown = sorted(set(body) - {"site", "command", "timeout"})
    if unknown:
        raise ProtocolError(f"unknown field(s): {', '.join(unknown)}")
    site, command, timeout = body.get("site"), body.get("command"), body.get("timeout")
    if not isinstance(site, str) or not site:
        raise ProtocolError("site must be a non-empty string")
    if not isinstance(command, str) or command not in COMMANDS:
        raise ProtocolError(f"command {command!r} is not on the allow-list "
                            f"({', '.join(COMMANDS)})")
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, int | float)
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ProtocolError("timeout must be a positive number of seconds")
    return Request(site, command, None if timeout is None else float(timeout))


def encode_reply(reply: Reply) -> bytes:
    return _line({"exit_code": reply.exit_code, "stdout": reply.stdout,
                  "stderr": reply.stderr, "duration": round(reply.duration, 3),
                  "argv": list(reply.argv), "timed_out": reply.timed_out,
                  "timeout": reply.timeout, "error": reply.error})


def parse_reply(line: bytes) -> Reply:
    body = _object(line, MAX_REPLY)
    try:
        reply = Reply(exit_code=body.get("exit_code"), stdout=body.get("stdout", ""),
                      stderr=body.get("stderr", ""), duration=float(body.get("duration", 0)),
                      argv=tuple(body.get("argv", ())), timed_out=bool(body.get("timed_out")),
                      timeout=body.get("timeout"), error=body.get("error"))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed reply: {exc}") from None
    if reply.error is None and not reply.timed_out and not isinstance(reply.exit_code, int):
        raise ProtocolError("malformed reply: no exit code")
    if not isinstance(reply.stdout, str) or not isinstance(reply.stderr, str):
        raise ProtocolError("malformed reply: output is not text")
    return reply


def _line(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n"


def _object(line: bytes, limit: int) -> dict[str, Any]:
    if len(line) > limit:
        raise ProtocolError(f"line longer than {limit} bytes")
    try:
        body = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    return body


@dataclass
class LineReader:
    """Collects bytes up to the first newline, refusing more than ``limit``."""

    limit: int
    data: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> bytes | None:
        """The complete line once it has arrived (None: need more); ProtocolError if the
        line outgrows the limit or the peer closed before a newline (empty chunk)."""
        if not chunk:
            raise ProtocolError("connection closed before a complete line"
                                if self.data else "connection closed without a line")
        self.data += chunk
        end = self.data.find(b"\n")
        if end < 0:
            if len(self.data) > self.limit:
                raise ProtocolError(f"line longer than {self.limit} bytes")
            return None
        return bytes(self.data[:end + 1])
