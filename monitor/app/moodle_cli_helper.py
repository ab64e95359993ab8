"""``vigil-moodle-cli``: run an allow-list of Moodle CLI scripts as the web user for the
daemon (the server end of checks/moodle/cli_protocol.py).

The daemon's unit forbids privilege changes (NoNewPrivileges), so the scripts that must
run as the web user (they write caches into the dataroot) are run by this helper, a
separate unit running as that user: systemd/vigil-moodle-cli.socket accepts each
connection and starts one vigil-moodle-cli@.service instance for it (Accept=yes), which
finds the connection as fd 3 (LISTEN_FDS). ``--listen PATH`` serves a socket itself, for
hosts without systemd and for tests.

Per connection: the peer's uid (SO_PEERCRED) must be an allowed client; one JSON request
names a configured site and an allow-listed command (cli_protocol.COMMANDS); the helper
runs ``php <dirroot>/admin/cli/<script> <fixed args>`` in its own session with a minimal
environment, kills the process group at the time limit (or when the client hangs up),
keeps at most ``--max-output`` bytes of each stream, answers with the exit code and
output, and logs who asked for what and how it ended to stderr (the journal).
Configuration comes from the command line or the unit's environment, never the request.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.moodle.cli_protocol import (
    COMMANDS,
    MAX_REQUEST,
    LineReader,
    ProtocolError,
    Reply,
    Request,
    encode_reply,
    parse_request,
)

log = logging.getLogger("vigil-moodle-cli")
_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_REQUEST_WAIT = 5.0  # seconds a client has to send its request line
_SD_LISTEN_FDS_START = 3


@dataclass(frozen=True, slots=True)
class HelperConfig:
    sites: dict[str, Path]  # name -> dirroot; a request may name either
    php: str
    clients: frozenset[int]  # uids allowed to ask
    timeout: float
    max_output: int

    def dirroot(self, site: str) -> Path | None:
        if site in self.sites:
            return self.sites[site]
        wanted = os.path.normpath(site)
        return next((root for root in self.sites.values() if str(root) == wanted), None)


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int

    def __str__(self) -> str:
        try:
            name = pwd.getpwuid(self.uid).pw_name
        except KeyError:
            name = "?"
        return f"uid={self.uid}({name}) pid={self.pid}"


def peer_of(conn: socket.socket) -> Peer:
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return Peer(*struct.unpack("3i", raw))


def serve_connection(conn: socket.socket, config: HelperConfig) -> None:
    """Answer one request on ``conn``; never raises for anything the peer does."""
    peer = peer_of(conn)
    try:
        # Read first even from a stranger (bounded in size and time), so that the refusal
        # reaches a client still writing its request instead of a broken pipe.
        try:
            request, problem = _read_request(conn), ""
        except (ProtocolError, OSError) as exc:
            request, problem = None, f"bad request: {exc}"
        command = request.command if request else "-"
        if peer.uid not in config.clients:
            _refuse(conn, peer, f"uid {peer.uid} may not use this helper", command)
            return
        if request is None:
            _refuse(conn, peer, problem, command)
            return
        dirroot = config.dirroot(request.site)
        if dirroot is None:
            _refuse(conn, peer, f"site {request.site!r} is not configured in this helper",
                    request.command)
            return
        script, args = COMMANDS[request.command]
        argv = [config.php, str(dirroot / "admin" / "cli" / script), *args]
        limit = min(config.timeout, request.timeout or config.timeout)
        reply = run_bounded(argv, dirroot, limit, config.max_output, conn)
        outcome = (f"failed to start: {reply.error}" if reply.error
                   else f"killed after {limit:g}s" if reply.timed_out
                   else f"exit={reply.exit_code}")
        log.info("%s site=%s command=%s %s duration=%.2fs stdout=%d stderr=%d chars", peer,
                 dirroot, request.command, outcome, reply.duration, len(reply.stdout),
                 len(reply.stderr))
        _send(conn, reply)
    except Exception:  # a helper bug: log it, the client sees a closed connection
        log.exception("%s: internal error", peer)


def _read_request(conn: socket.socket) -> Request:
    reader = LineReader(MAX_REQUEST)
    deadline = time.monotonic() + _REQUEST_WAIT
    while True:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            line = reader.feed(conn.recv(MAX_REQUEST))
        except TimeoutError:
            raise ProtocolError(f"no request line within {_REQUEST_WAIT:g}s") from None
        if line is not None:
            return parse_request(line)


def _refuse(conn: socket.socket, peer: Peer, error: str, command: str) -> None:
    log.warning("%s command=%s refused: %s", peer, command, error)
    _send(conn, Reply.refusal(error))


def _send(conn: socket.socket, reply: Reply) -> None:
    try:
        conn.settimeout(_REQUEST_WAIT)
        conn.sendall(encode_reply(reply))
    except OSError as exc:
        log.warning("could not answer the client: %s", exc)


def run_bounded(argv: Sequence[str], cwd: Path, limit: float, max_output: int,
                client: socket.socket | None = None) -> Reply:
    """Run ``argv`` in its own session; kill its process group after ``limit`` seconds or
    when ``client`` hangs up; keep the first ``max_output`` bytes of each stream."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(_ENV), cwd=cwd,
                                start_new_session=True)
    except OSError as exc:  # nothing ran: the client reports it like a refusal
        return Reply(error=f"cannot run {exc.filename or argv[0]}: {exc.strerror or exc}",
                     argv=tuple(argv))
    assert proc.stdout is not None and proc.stderr is not None
    streams = {"stdout": proc.stdout.fileno(), "stderr": proc.stderr.fileno()}
    kept = {fd: bytearray() for fd in streams.values()}
    dropped = dict.fromkeys(kept, 0)
    timed_out = _pump(proc, kept, dropped, started + limit, max_output, client)
    if timed_out:
        _kill_group(proc)
    proc.wait()
    notes = "".join(f"vigil-moodle-cli: {name} cut after {max_output} bytes "
                    f"({dropped[fd]} more dropped)\n"
                    for name, fd in streams.items() if dropped[fd])
    out, err = (bytes(kept[fd]).decode("utf-8", errors="replace")
                for fd in streams.values())
    return Reply(exit_code=None if timed_out else proc.returncode, stdout=out,
                 stderr=err + notes, duration=time.monotonic() - started, argv=tuple(argv),
                 timed_out=timed_out, timeout=limit)


def _pump(proc: subprocess.Popen[bytes], kept: dict[int, bytearray],
          dropped: dict[int, int], deadline: float,
          max_output: int, client: socket.socket | None) -> bool:
    """Read both pipes until they close; True when the deadline passed (or the client
    left) first."""
    with selectors.DefaultSelector() as sel:
        for fd in kept:
            sel.register(fd, selectors.EVENT_READ)
        if client is not None:
            sel.register(client, selectors.EVENT_READ)
        while len(sel.get_map()) > (client is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            for key, _ in sel.select(remaining):
                if key.fileobj is client:  # the client sends nothing more: EOF = gone
                    return True
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                room = max(0, max_output - len(kept[key.fd]))
                kept[key.fd] += chunk[:room]
                dropped[key.fd] += len(chunk) - min(room, len(chunk))
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # closed its pipes but lives on
        return True
    return False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def serve_forever(path: Path, config: HelperConfig, max_connections: int = 4) -> None:
    """``--listen``: accept connections on a Unix socket (mode 0660), one thread each."""
    path.unlink(missing_ok=True)
    slots = threading.BoundedSemaphore(max_connections)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        os.chmod(path, 0o660)
        server.listen(16)
        log.info("listening on %s", path)
        while True:
            conn, _ = server.accept()
            slots.acquire()
            threading.Thread(target=_serve_and_close, args=(conn, config, slots),
                             daemon=True).start()


def _serve_and_close(conn: socket.socket, config: HelperConfig,
                     slots: threading.BoundedSemaphore) -> None:
    try:
        with conn:
            serve_connection(conn, config)
    finally:
        slots.release()


def parse_config(argv: Sequence[str] | None = None) -> tuple[HelperConfig, Path | None]:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="vigil-moodle-cli", description="Run allow-listed Moodle CLI scripts as the "
        "web user for the Vigil daemon (see systemd/vigil-moodle-cli.socket).")
    parser.add_argument("--site", action="append", metavar="[NAME=]DIRROOT",
                        help="a Moodle code directory (repeatable; default: "
                             "$VIGIL_MOODLE_DIRROOT, several separated by ':')")
    parser.add_argument("--php", default=env.get("VIGIL_MOODLE_PHP", "php"))
    parser.add_argument("--allow-user", action="append", metavar="USER|UID",
                        help="who may connect (repeatable; default: "
                             "$VIGIL_MOODLE_CLI_CLIENTS, else vigil)")
    parser.add_argument("--timeout", type=float,
                        default=float(env.get("VIGIL_MOODLE_CLI_TIMEOUT", "300")))
    parser.add_argument("--max-output", type=int,
                        default=int(env.get("VIGIL_MOODLE_CLI_MAX_OUTPUT", str(1 << 20))))
    parser.add_argument("--listen", type=Path, help="serve this socket path itself "
                        "(without systemd socket activation)")
    args = parser.parse_args(argv)
    sites = args.site or [s for s in env.get("VIGIL_MOODLE_DIRROOT", "").split(":") if s]
    users = args.allow_user or env.get("VIGIL_MOODLE_CLI_CLIENTS", "vigil").split()
    if not sites:
        parser.error("no site: give --site or set VIGIL_MOODLE_DIRROOT")
    if args.timeout <= 0 or args.max_output <= 0:
        parser.error("--timeout and --max-output must be positive")
    try:
        clients = frozenset(_uid(user) for user in users)
    except KeyError as exc:
        parser.error(f"unknown user {exc.args[0]}")
    config = HelperConfig(dict(_site(entry) for entry in sites), args.php, clients,
                          args.timeout, args.max_output)
    return config, args.listen


def _site(entry: str) -> tuple[str, Path]:
    name, sep, root = entry.partition("=")
    path = Path(os.path.normpath(root if sep else entry))
    return (name if sep else path.name), path


def _uid(user: str) -> int:
    return int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(message)s")
    config, listen = parse_config(argv)
    if listen is not None:
        try:
            serve_forever(listen, config)
        except KeyboardInterrupt:
            return 0
        return 0
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and \
            os.environ.get("LISTEN_FDS") == "1":
        with socket.socket(fileno=_SD_LISTEN_FDS_START) as conn:
            serve_connection(conn, config)
        return 0
    print("vigil-moodle-cli: no connection: start it from vigil-moodle-cli.socket "
          "(Accept=yes) or give --listen PATH", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
