"""The fault matrix for the web side of an LMS: one real `vigil run` watches a dozen sites,
each broken in its own way (refused, hanging, dripping, 5xx, not HTTP, endless body, gzip
bomb, redirect loop, bad certificates, a name that does not resolve). Each check must say
what is wrong within one interval, and the daemon must stay up, healthy and quiet.

All servers are on loopback (tests/faults/fault_servers.py); the daemon is a subprocess
so its memory and its log are its own.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import trustme

from tests.faults import fault_servers as fs
from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
INTERVAL, TIMEOUT = 2.0, 1.5
RSS_LIMIT = 200 * 1024 * 1024
# Before checks/http_body.py, httpx inflated each 64 KiB network read whole (~64 MiB of a
# zeros bomb at once, RSS ~210 MiB): the two bomb tests below failed then.


@dataclass
class Daemon:
    api: str
    proc: subprocess.Popen[bytes]
    log: Path
    servers: fs.FaultServers

    def checks(self) -> dict[str, dict[str, Any]]:
        listed = httpx.get(self.api + "/api/v1/checks", timeout=5).json()["checks"]
        return {f"{c['lms']}/{c['check']}": c for c in listed}

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _site(name: str, url: str, **options: Any) -> str:
    lines = [f'[[lms]]\nname = "{name}"\nurl = "{url}"\n[lms.checks.http]',
             f'interval = "{INTERVAL:g}s"', f'timeout = "{TIMEOUT:g}s"']
    for key, value in options.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def start_daemon(tmp: Path, servers: fs.FaultServers, sites: list[str],
                 extra: str = "", extra_checks: int = 0) -> Daemon:
    """A real `vigil run` on ``sites``, once every check has been judged twice."""
    port = free_port()
    config = tmp / "vigil.toml"
    config.write_text(f'[state]\ndir = "{tmp / "state"}"\n[server]\nport = {port}\n'
                      '[[alerts.receivers]]\nname = "log"\ntype = "log"\n' + "".join(sites)
                      + extra)
    log = tmp / "vigil.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    running = Daemon(f"http://127.0.0.1:{port}", proc, log, servers)
    try:
        wait_for(lambda: httpx.get(running.api + "/healthz").status_code == 200, 20,
                 "the daemon up")
        # Every site judged twice: the second run shows the first left nothing behind
        # that changes the verdict (a stuck connection, a poisoned client).
        wait_for(lambda: len(c := running.checks()) >= len(sites) + extra_checks
                 and all(x["consecutive_failures"] + x["consecutive_successes"] >= 2
                         for x in c.values()), 10 * INTERVAL, "every site probed twice")
    except BaseException:
        stop(running)
        raise
    return running


def stop(daemon: Daemon) -> None:
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.servers.close()


def tls(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


OK_PAGE = fs.answer(200, b"<title>Moodle</title>")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("http-faults")
    servers = fs.FaultServers()
    trusted, stranger = trustme.CA(), trustme.CA()
    ca_file = tmp / "ca.pem"
    trusted.cert_pem.write_to_path(str(ca_file))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    expired = trusted.issue_cert("127.0.0.1", "localhost", not_before=past,
                                 not_after=past + dt.timedelta(days=90))
    wrong_host = trusted.issue_cert("lms.example.org")
    untrusted = stranger.issue_cert("127.0.0.1", "localhost")  # a CA nobody configured

    def url(handler: fs.Handler, cert: trustme.LeafCert | None = None) -> str:
        port = servers.serve(handler, tls(cert) if cert else None)
        return f"{'https' if cert else 'http'}://127.0.0.1:{port}/"

    sites = [
        _site("down", f"http://127.0.0.1:{free_port()}/"),
        _site("hanging", url(fs.hang)),
        _site("dripping", url(fs.drip)),
        _site("error-503", url(fs.answer(503, b"Service Unavailable"))),
        _site("garbage", url(fs.garbage)),
        _site("huge", url(fs.endless()), body_size_limit="1MiB"),
        _site("redirect-loop", url(fs.redirect_loop), max_redirects=5),
        _site("expired", url(OK_PAGE, expired), ca_file=str(ca_file)),
        _site("wrong-host", url(OK_PAGE, wrong_host), ca_file=str(ca_file)),
        _site("untrusted", url(OK_PAGE, untrusted), ca_file=str(ca_file)),
        _site("no-dns", "http://lms.vigil-fault.invalid/"),
        _site("healthy", url(OK_PAGE)),
    ]
    running = start_daemon(tmp, servers, sites, backends_down(), extra_checks=2)
    yield running
    stop(running)


def backends_down() -> str:
    """A Moodle site whose database port has nothing listening, and a Redis likewise."""
    return f"""
[[lms]]
name = "db-down"
kind = "moodle"
[lms.moodle.database]
type = "pgsql"
host = "127.0.0.1"
port = {free_port()}
name = "moodle"
user = "vigil_ro"
connect_timeout = "1s"
[lms.checks.cron]
type = "moodle_cron"
interval = "{INTERVAL:g}s"
timeout = "{TIMEOUT:g}s"
[[lms]]
name = "redis-down"
[lms.checks.caches]
type = "moodle_caches"
interval = "{INTERVAL:g}s"
timeout = "{TIMEOUT:g}s"
redis = [{{name = "cache", port = {free_port()}}}]
"""


@pytest.fixture(scope="module")
def bomb_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Its own daemon: inflating a bomb can stall the event loop, which would blur the
    other sites' verdicts (a hang reported by the runner instead of the check)."""
    tmp = tmp_path_factory.mktemp("bomb")
    servers = fs.FaultServers()
    bomb_port, ok_port = servers.serve(fs.bomb(fs.gzip_bomb())), servers.serve(OK_PAGE)
    running = start_daemon(tmp, servers, [
        _site("bomb", f"http://127.0.0.1:{bomb_port}/", keyword="Moodle"),
        _site("neighbour", f"http://127.0.0.1:{ok_port}/")])
    yield running
    stop(running)


MATRIX = [
    ("down", "CRITICAL", ["Connection refused to 127.0.0.1:"]),
    ("hanging", "CRITICAL", ["timeout after 1.5s"]),
    ("dripping", "CRITICAL", ["timeout after 1.5s"]),
    ("error-503", "CRITICAL", ["HTTP 503 (expected 200-299)"]),
    ("garbage", "CRITICAL", ["malformed response"]),
    ("huge", "CRITICAL", ["body exceeds limit of 1.0 MiB"]),
    ("redirect-loop", "CRITICAL", ["too many redirects (more than 5)"]),
    ("expired", "CRITICAL", ["TLS", "certificate has expired"]),
    ("wrong-host", "CRITICAL", ["TLS", "127.0.0.1"]),
    ("untrusted", "CRITICAL", ["TLS", "unable to get local issuer certificate"]),
    # A resolver that cannot answer at all times out instead: it still names the lookup.
    ("no-dns", "CRITICAL", ["DNS: cannot resolve lms.vigil-fault.invalid"
                            "|resolving lms.vigil-fault.invalid"]),
    ("healthy", "OK", ["HTTP 200 in "]),
]
BACKENDS = [
    ("db-down/cron", "UNKNOWN", ["cannot query pgsql database 'moodle' on 127.0.0.1:",
                                "as 'vigil_ro'", "refused"]),
    ("redis-down/caches", "CRITICAL", ["Redis", "127.0.0.1:", "connection refused"]),
]


@pytest.mark.parametrize(("check", "status", "words"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_a_backend_that_is_down_is_named_by_the_daemon(
    daemon: Daemon, check: str, status: str, words: list[str]
) -> None:
    found = daemon.checks()[check]
    assert found["status"] == status, found["summary"]
    for word in words:
        assert word.lower() in found["summary"].lower(), found["summary"]


@pytest.mark.parametrize(("site", "status", "words"), MATRIX, ids=[m[0] for m in MATRIX])
def test_each_broken_site_gets_a_status_naming_what_is_wrong(
    daemon: Daemon, site: str, status: str, words: list[str]
) -> None:
    check = daemon.checks()[f"{site}/http"]
    assert check["status"] == status, check["summary"]
    for word in words:  # "a|b": either
        assert any(w.lower() in check["summary"].lower() for w in word.split("|")), \
            check["summary"]
    assert "\n" not in check["summary"] and len(check["summary"]) < 300


def test_a_hang_and_a_drip_say_which_phase_stalled(daemon: Daemon) -> None:
    checks = daemon.checks()
    for site in ("hanging", "dripping"):  # the check's own budget, not the runner's cut-off
        summary = checks[f"{site}/http"]["summary"]
        assert summary == "timeout after 1.5s waiting for response headers", summary
        assert checks[f"{site}/http"]["duration_seconds"] < TIMEOUT


def test_the_wrong_host_certificate_is_told_apart_from_an_expired_one(daemon: Daemon) -> None:
    checks = daemon.checks()
    wrong = checks["wrong-host/http"]["summary"]
    assert "mismatch" in wrong.lower() or "doesn't match" in wrong.lower(), wrong
    assert "expired" not in wrong


def test_an_endless_body_is_not_downloaded_past_the_limit(daemon: Daemon) -> None:
    samples = daemon.checks()["huge/http"]["samples"]
    [size] = [s["value"] for s in samples if s["name"] == "lms_http_uncompressed_body_bytes"]
    assert 1024 * 1024 < size <= 1024 * 1024 + 64 * 1024


def test_a_gzip_bomb_is_critical_and_named_by_its_limit(bomb_daemon: Daemon) -> None:
    check = bomb_daemon.checks()["bomb/http"]
    assert check["status"] == "CRITICAL"
    assert "body exceeds limit of 10.0 MiB" in check["summary"]
    assert bomb_daemon.checks()["neighbour/http"]["status"] == "OK"


def test_a_gzip_bomb_is_inflated_no_further_than_one_step_past_the_limit(
    bomb_daemon: Daemon
) -> None:
    samples = bomb_daemon.checks()["bomb/http"]["samples"]
    [size] = [s["value"] for s in samples if s["name"] == "lms_http_uncompressed_body_bytes"]
    assert size <= 10 * 1024 * 1024 + 1024 * 1024, size


def test_the_daemon_stays_small_while_it_probes_a_gzip_bomb_every_interval(
    bomb_daemon: Daemon
) -> None:
    process = psutil.Process(bomb_daemon.proc.pid)
    before = bomb_daemon.checks()["bomb/http"]["ran_at"]
    peak = 0
    deadline = time.monotonic() + 3 * INTERVAL
    while time.monotonic() < deadline:  # bounded: sample RSS across more bomb probes
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.05)
    assert bomb_daemon.checks()["bomb/http"]["ran_at"] > before
    assert peak < RSS_LIMIT, f"RSS peaked at {peak / 2**20:.0f} MiB"
    assert bomb_daemon.proc.poll() is None
    assert "Traceback" not in bomb_daemon.output()


def test_the_daemon_survives_the_whole_matrix_healthy_and_quiet(daemon: Daemon) -> None:
    assert daemon.proc.poll() is None
    assert httpx.get(daemon.api + "/healthz").status_code == 200
    assert httpx.get(daemon.api + "/metrics").status_code == 200
    output = daemon.output()
    assert "Traceback" not in output, output[-3000:]
    assert " raised" not in output  # the runner's "check ... raised": a check broke
