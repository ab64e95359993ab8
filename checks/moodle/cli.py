"""Run Moodle's own CLI scripts (admin/cli/*.php) as the site's web user, bounded in time.

Sits between the CLI-backed probes (checkapi.py, upgrade.py) and the site: the argv is
``[*run_as, php, <dirroot>/admin/cli/<script>, *args]`` from ``[lms.moodle.cli]``
(admin/cli stays at the project root in 5.1 too, next to config.php). The scripts write
caches into the dataroot, so they must run as the web user, never as Vigil's own user:
either through the ``vigil-moodle-cli`` helper unit (``helper_socket``: one JSON request
naming an allow-listed command, cli_protocol.py; the only way under the hardened
vigil.service, whose NoNewPrivileges forbids sudo) or through a configured wrapper
(``run_as = ["sudo", "-n", "-u", "www-data"]``).

The process runs in its own session with a minimal environment; on timeout the whole
process group is killed (php may have children, sudo forwards the signal). Output is
decoded leniently and the ANSI colour codes Moodle always emits on Unix (cli_ansi_format,
lib/clilib.php) are stripped. A script that cannot start, hangs or dies becomes
CheckUnavailable with the cause, e.g. "admin/cli/checks.php did not finish within 120s".
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.cli_protocol import (
    COMMANDS,
    MAX_REPLY,
    LineReader,
    ProtocolError,
    Request,
    command_for,
    encode_request,
    parse_reply,
)
from checks.moodle.settings import CliSettings
from checks.moodle.site import moodle_site, site_dirroot

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x07")
# sudo, php and Moodle need no more than this; the daemon's own secrets stay out.
_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_MARGIN = 5.0  # seconds left to the check after a CLI timeout, so it can report UNKNOWN
_PHP_FATAL = 255  # PHP's exit status after a fatal error
_HELPER_GRACE = 5.0  # seconds the helper may take beyond the limit to kill and answer


@dataclass(frozen=True, slots=True)
class CliResult:
    script: str  # "admin/cli/checks.php"
    argv: tuple[str, ...]
    exit_code: int
    stdout: str  # decoded, ANSI codes stripped
    stderr: str
    duration: float

    def first_line(self, limit: int = 120) -> str:
        """The first non-empty output line (stdout, else stderr), shortened for a summary."""
        for text in (self.stdout, self.stderr):
            for line in text.splitlines():
                if line.strip():
                    line = line.strip()
                    return line if len(line) <= limit else line[:limit - 1] + "…"
        return "(no output)"

    def failure(self) -> str:
        """One line describing a run that failed, for CheckUnavailable."""
        what = "died with a PHP fatal error" if self.exit_code == _PHP_FATAL \
            else f"failed with exit code {self.exit_code}"
        last = next((line.strip() for line in reversed(self.stderr.splitlines())
                     if line.strip()), self.first_line())
        return f"{self.script} {what}: {last[:160]}"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def decode(data: bytes) -> str:
    """Moodle prints UTF-8; a broken byte must not break the check."""
    return strip_ansi(data.decode("utf-8", errors="replace"))


def cli_argv(cli: CliSettings, dirroot: Path, script: str, args: Sequence[str]) -> list[str]:
    return [*cli.run_as, cli.php, str(dirroot / "admin" / "cli" / script), *args]


def run_cli_sync(cli: CliSettings, dirroot: Path, script: str, args: Sequence[str] = (),
                 timeout: float | None = None) -> CliResult:
    """Blocking: run one script; raises CheckUnavailable when it cannot start or hangs."""
    limit = cli.timeout if timeout is None else timeout
    if cli.helper_socket is not None:
        return run_helper_sync(cli.helper_socket, dirroot, script, args, limit)
    return run_argv_sync(cli_argv(cli, dirroot, script, args), f"admin/cli/{script}",
                         dirroot, limit)


def run_argv_sync(argv: Sequence[str], name: str, cwd: Path, limit: float) -> CliResult:
    """Blocking: run ``argv`` (named ``name`` in messages) in its own session, killed with
    its process group after ``limit`` seconds."""
    argv = list(argv)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(_ENV), cwd=cwd,
                                start_new_session=True)
    except OSError as exc:
        raise CheckUnavailable(f"cannot run {name}: {argv[0]}: "
                               f"{exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CheckUnavailable(f"{name} did not finish within {limit:g}s") from None
    return CliResult(name, tuple(argv), proc.returncode, decode(out), decode(err),
                     time.monotonic() - started)


def run_helper_sync(path: str, dirroot: Path, script: str, args: Sequence[str],
                    limit: float) -> CliResult:
    """Blocking: ask the helper at ``path`` to run one allow-listed script in ``dirroot``
    within ``limit`` seconds; raises CheckUnavailable when it refuses, is unreachable or
    the script hangs."""
    name = f"admin/cli/{script}"
    command = command_for(script, args)
    if command is None:
        wanted = " ".join([name, *args])
        raise CheckUnavailable(f"{wanted} is not on the Moodle CLI helper's allow-list "
                               f"({', '.join(COMMANDS)})")
    started = time.monotonic()
    request = encode_request(Request(str(dirroot), command, limit))
    try:
        line = _exchange(path, request, started + limit + _HELPER_GRACE)
        reply = parse_reply(line)
    except TimeoutError:
        raise CheckUnavailable(f"{name} did not finish within {limit:g}s (no answer from "
                               f"the Moodle CLI helper at {path})") from None
    except ProtocolError as exc:
        raise CheckUnavailable(f"the Moodle CLI helper at {path} answered {name} "
                               f"wrongly: {exc}") from None
    except OSError as exc:
        raise CheckUnavailable(f"cannot reach the Moodle CLI helper at {path}: "
                               f"{exc.strerror or exc}") from None
    if reply.error is not None:
        raise CheckUnavailable(f"the Moodle CLI helper did not run {name}: {reply.error}")
    if reply.timed_out or reply.exit_code is None:
        applied = limit if reply.timeout is None else reply.timeout
        raise CheckUnavailable(f"{name} did not finish within {applied:g}s")
    return CliResult(name, reply.argv, reply.exit_code, strip_ansi(reply.stdout),
                     strip_ansi(reply.stderr), time.monotonic() - started)


def _exchange(path: str, request: bytes, deadline: float) -> bytes:
    """Send one request line, read one reply line before ``deadline`` (monotonic)."""
    reader = LineReader(MAX_REPLY)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        sock.connect(path)
        sock.sendall(request)
        while True:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            line = reader.feed(sock.recv(65536))
            if line is not None:
                return line


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:  # reap it; a grandchild that left the group could hold the pipes open
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait(timeout=2)


def site_cli(ctx: CheckContext) -> tuple[CliSettings, Path]:
    """The site's CLI settings and code directory, or CheckUnavailable saying what to set."""
    site = moodle_site(ctx)
    cli = site.settings.cli
    if cli is None:
        raise CheckUnavailable("no CLI access configured: add [lms.moodle.cli] (php and "
                               "helper_socket or run_as, to run admin/cli scripts as the "
                               "web user)")
    return cli, site_dirroot(ctx)


async def run_cli(ctx: CheckContext, script: str, args: Sequence[str] = ()) -> CliResult:
    """Run admin/cli/<script> in the daemon's thread pool, inside the check's own timeout."""
    cli, dirroot = site_cli(ctx)
    timeout = min(cli.timeout, max(1.0, ctx.timeout - _MARGIN))
    return await ctx.run_blocking(lambda: run_cli_sync(cli, dirroot, script, args, timeout))


async def run_php(ctx: CheckContext, args: Sequence[str]) -> CliResult:
    """``php <args>`` (e.g. ``-r 'echo PHP_VERSION;'``) with the site's PHP binary, as
    Vigil's own user: such a call reads and writes nothing of the site, and neither the helper
    nor the sudoers rule `vigil init` suggests allows anything but admin/cli scripts."""
    cli, dirroot = site_cli(ctx)
    timeout = min(cli.timeout, max(1.0, ctx.timeout - _MARGIN))
    argv = [cli.php, *args]
    return await ctx.run_blocking(lambda: run_argv_sync(argv, "php " + " ".join(args),
                                                        dirroot, timeout))
