"""The vigil-moodle-cli helper for real: a server running as another user (the web user
``vigiltestweb``, created if missing) on a fake Moodle dirroot, asked by the daemon's
client (checks/moodle/cli.py with ``helper_socket``), by raw requests and by a stranger.

Needs root (to create the user and drop to it with setpriv); skipped otherwise. The
site's php is the fake from tests/moodle_double/sitedir_php.py, which records its uid.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checks.base import CheckUnavailable
from checks.moodle.cli import run_cli_sync
from checks.moodle.settings import CliSettings
from tests.moodle_double.sitedir import FakeSite, make_site

REPO = Path(__file__).resolve().parents[2]
WEB_USER = "vigiltestweb"
HELPER_TIMEOUT, MAX_OUTPUT = 3, 65536

# The helper runs as another user: root, setpriv and useradd.
pytestmark = pytest.mark.needs("setpriv", "useradd", root=True)


@dataclass
class Helper:
    site: FakeSite
    socket: Path
    log: Path
    web: pwd.struct_passwd

    def cli(self, timeout: float = 60.0) -> CliSettings:
        return CliSettings(helper_socket=str(self.socket), timeout=timeout)

    def logged(self) -> str:
        return self.log.read_text(encoding="utf-8")


def _web_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(WEB_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", WEB_USER], check=True)
        return pwd.getpwnam(WEB_USER)


def _as_user(user: str, argv: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
            "--init-groups", "--", *argv]


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1"}


def _runnable_by_anyone(php: Path) -> None:
    """Point the fake php's #! at the system Python: the test venv's interpreter may sit
    under a directory the web user cannot enter (here /root/.pyenv, /root being 0700).
    The fake needs only the standard library."""
    system = Path("/usr/bin/python3")
    if system.exists():
        lines = php.read_text(encoding="utf-8").splitlines(keepends=True)
        php.write_text(f"#!{system}\n" + "".join(lines[1:]), encoding="utf-8")


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            os.chown(os.path.join(root, name), uid, gid)


@pytest.fixture
def helper() -> Iterator[Helper]:
    web = _web_user()
    # Outside pytest's tmp_path, whose parents are 0700 root: the web user must get in.
    base = Path(tempfile.mkdtemp(prefix="vigil-helper-"))
    try:
        base.chmod(0o755)
        site = make_site(base)
        _runnable_by_anyone(site.php)
        for owned in (site.php.parent, site.dataroot):  # the fake's state, the dataroot
            _chown_tree(owned, web.pw_uid, web.pw_gid)
        rundir = base / "run"
        rundir.mkdir()
        os.chown(rundir, web.pw_uid, web.pw_gid)
        sock, log = rundir / "moodle-cli.sock", base / "helper.log"
        with log.open("wb") as err:
            server = subprocess.Popen(_as_user(WEB_USER, [
                sys.executable, "-m", "monitor.app.moodle_cli_helper", "--listen", str(sock),
                "--site", f"main={site.root}", "--php", str(site.php), "--allow-user", "root",
                "--timeout", str(HELPER_TIMEOUT), "--max-output", str(MAX_OUTPUT)]),
                cwd=REPO, env=_env(), stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 15
            while not sock.exists():
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the helper did not start"
                time.sleep(0.05)
            # Open to every local user, so that a stranger is stopped by the uid check
            # and not by the file mode.
            sock.chmod(0o666)
            yield Helper(site, sock, log, web)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def ask(path: Path, raw: bytes) -> dict[str, Any]:
    """Send raw bytes as a client would and return the decoded reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(15)
        sock.connect(str(path))
        sock.sendall(raw)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def test_an_allow_listed_call_runs_as_the_web_user(helper: Helper) -> None:
    site = helper.site

    result = run_cli_sync(helper.cli(), site.root, "checks.php", ["-v", "--type=security"])

    assert result.exit_code == 1  # one WARNING among the security checks
    assert "WARNING: XSS trusted users (core_riskxss)" in result.stdout
    assert "\x1b" not in result.stdout
    assert result.argv == (str(site.php), str(site.root / "admin/cli/checks.php"), "-v",
                           "--type=security")
    [call] = site.calls()
    assert call["uid"] == helper.web.pw_uid != os.getuid()
    assert call["argv"] == [str(site.root / "admin/cli/checks.php"), "-v", "--type=security"]
    assert call["env"] == ["LANG", "LC_ALL", "PATH"]  # nothing of the helper's own
    assert (f"uid=0(root) pid={os.getpid()} site={site.root} command=checks-security "
            "exit=1") in helper.logged()


def test_the_maintenance_switch_writes_the_dataroot_as_the_web_user(helper: Helper) -> None:
    site = helper.site

    switched = run_cli_sync(helper.cli(), site.root, "maintenance.php", ["--enable"])
    status = run_cli_sync(helper.cli(), site.root, "maintenance.php")

    assert switched.exit_code == 0 and status.exit_code == 0
    assert (site.dataroot / "climaintenance.html").stat().st_uid == helper.web.pw_uid
    assert "Status: enabled" in status.stdout


@pytest.mark.parametrize(("script", "args"), [
    ("cron.php", []),
    ("checks.php", ["--type=status"]),  # the right script, other arguments
    ("checks.php", ["-v", "--type=status", "--filter=core_environment"]),
    ("maintenance.php", ["--enablelater=10"]),
])
def test_the_client_refuses_what_the_helper_would_not_run(
        helper: Helper, script: str, args: list[str]) -> None:
    with pytest.raises(CheckUnavailable, match=rf"^admin/cli/{script}.* is not on the "
                       "Moodle CLI helper's allow-list"):
        run_cli_sync(helper.cli(), helper.site.root, script, args)
    assert helper.site.calls() == []


@pytest.mark.parametrize(("raw", "error"), [
    (b'{"site": "main", "command": "cron"}\n', "command 'cron' is not on the allow-list"),
    (b'{"site": "main", "command": "checks-status", "args": ["--filter=x"]}\n',
     "unknown field(s): args"),
    (b'{"site": "/etc", "command": "checks-status"}\n', "site '/etc' is not configured"),
    (b'{"site": "main", "command": "checks-status", "timeout": -1}\n',
     "timeout must be a positive number"),
    (b'{"site": "main", "command": "upgrade-is-pending"}', "closed before a complete line"),
    (b"php -r 'system(\"id\");'\n", "not a JSON line"),
    (b'["main", "checks-status"]\n', "not a JSON object"),
    (b'{"site": "' + b"m" * 5000 + b'"}\n', "line longer than 4096 bytes"),
])
def test_requests_off_the_allow_list_are_refused_and_logged(
        helper: Helper, raw: bytes, error: str) -> None:
    if not raw.endswith(b"\n"):  # the client stops writing without finishing its line
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(15)
            sock.connect(str(helper.socket))
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            reply = json.loads(sock.makefile("rb").readline())
    else:
        reply = ask(helper.socket, raw)

    assert error in reply["error"]
    assert reply["exit_code"] is None and reply["stdout"] == ""
    assert helper.site.calls() == []
    assert "refused: " in helper.logged()


def test_a_site_given_by_its_dirroot_is_served(helper: Helper) -> None:
    request = {"site": str(helper.site.root), "command": "upgrade-is-pending"}
    reply = ask(helper.socket, json.dumps(request).encode() + b"\n")

    assert reply["error"] is None and reply["exit_code"] == 0
    assert "No upgrade needed" in reply["stderr"]


def test_a_caller_with_another_uid_is_refused(helper: Helper) -> None:
    client = ("import sys\nfrom checks.base import CheckUnavailable\n"
              "from checks.moodle.cli import run_cli_sync\n"
              "from checks.moodle.settings import CliSettings\nfrom pathlib import Path\n"
              "try:\n    run_cli_sync(CliSettings(helper_socket=sys.argv[1]), "
              "Path(sys.argv[2]), 'upgrade.php', ['--is-pending'])\n"
              "except CheckUnavailable as exc:\n    print(exc)\n")
    nobody = pwd.getpwnam("nobody")
    proc = subprocess.run(
        ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
         "--", sys.executable, "-c", client, str(helper.socket), str(helper.site.root)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60, check=False)

    assert proc.stdout.strip() == ("the Moodle CLI helper did not run admin/cli/upgrade.php: "
                                   f"uid {nobody.pw_uid} may not use this helper"), proc.stderr
    assert helper.site.calls() == []
    assert (f"uid={nobody.pw_uid}(nobody)" in helper.logged()
            and "command=upgrade-is-pending refused" in helper.logged())


def _wait_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_hanging_script_is_killed_at_the_helpers_limit(helper: Helper) -> None:
    helper.site.cli_mode("upgrade.php", "hang")  # php and a child it started hang
    started = time.monotonic()

    with pytest.raises(CheckUnavailable, match=rf"^admin/cli/upgrade.php did not finish "
                       rf"within {HELPER_TIMEOUT}s$"):
        run_cli_sync(helper.cli(timeout=60), helper.site.root, "upgrade.php",
                     ["--is-pending"])

    assert HELPER_TIMEOUT <= time.monotonic() - started < HELPER_TIMEOUT + 3
    [call] = helper.site.calls()
    assert _wait_gone(call["pgid"]), "the script's process group is still alive"
    assert f"command=upgrade-is-pending killed after {HELPER_TIMEOUT}s" in helper.logged()


def test_the_clients_shorter_timeout_is_honoured(helper: Helper) -> None:
    helper.site.cli_mode("checks.php", "hang")
    started = time.monotonic()

    with pytest.raises(CheckUnavailable, match=r"did not finish within 1s$"):
        run_cli_sync(helper.cli(), helper.site.root, "checks.php", ["-v", "--type=status"],
                     timeout=1)

    assert time.monotonic() - started < 2.5
    assert _wait_gone(helper.site.calls()[0]["pgid"])


def test_huge_output_is_capped(helper: Helper) -> None:
    helper.site.cli_mode("checks.php", "flood")  # 4 MiB on each stream, exit 0

    result = run_cli_sync(helper.cli(), helper.site.root, "checks.php",
                          ["-v", "--type=performance"])

    assert result.exit_code == 0
    assert result.stdout == "x" * MAX_OUTPUT
    assert result.stderr.startswith("x" * MAX_OUTPUT)
    extra = (4 << 20) - MAX_OUTPUT
    assert result.stderr.endswith(
        f"vigil-moodle-cli: stdout cut after {MAX_OUTPUT} bytes ({extra} more dropped)\n"
        f"vigil-moodle-cli: stderr cut after {MAX_OUTPUT} bytes ({extra} more dropped)\n")


def test_a_connection_passed_by_systemd_is_served_on_fd_3(helper: Helper) -> None:
    """What vigil-moodle-cli.socket (Accept=yes) does: the accepted connection is fd 3,
    LISTEN_FDS=1 and LISTEN_PID the helper's pid; configuration from the environment."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    site = helper.site
    env = {**_env(), "VIGIL_MOODLE_DIRROOT": str(site.root), "VIGIL_MOODLE_PHP": str(site.php),
           "VIGIL_MOODLE_CLI_CLIENTS": "root"}
    # The helper needs only the standard library: the system Python will do (the test
    # venv's may be out of the web user's reach, see _runnable_by_anyone).
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    argv = _as_user(WEB_USER, ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh",
                               python, "-m", "monitor.app.moodle_cli_helper"])
    with ours:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, pass_fds=(3, theirs.fileno()),
                                preexec_fn=lambda: os.dup2(theirs.fileno(), 3),
                                stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(30)
        ours.sendall(json.dumps({"site": str(site.root),
                                 "command": "maintenance-status"}).encode() + b"\n")
        line = ours.makefile("rb").readline()
        _, err = proc.communicate(timeout=30)
        assert line, err
        reply = json.loads(line)

    assert proc.returncode == 0, err
    assert reply["error"] is None and reply["exit_code"] == 0
    assert "Status: disabled" in reply["stdout"]
    assert site.calls()[0]["uid"] == helper.web.pw_uid
    assert b"command=maintenance-status exit=0" in err
