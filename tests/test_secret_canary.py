"""Issue #11: no resolved secret leaves Vigil, in any form, anywhere it writes.

A distinct canary is planted (through ``${ENV}`` references) in every secret-bearing
field of one config: an http check's URL path, URL query, URL userinfo and header; the
Moodle web-service token and database password; the API token; a PagerDuty routing key;
SMTP, webhook and Alertmanager credentials; an Apprise URL. A real ``vigil run`` watches
loopback servers that fail and echo every request back (the secret that came in placed
across the 200-character cut of an error snippet), so checks fail, alerts fire and
every receiver's delivery fails with the secret in its error. Then everything Vigil
emitted is searched for each canary and its base64, Basic, URL-encoded and 11-character
prefix forms: the log, ``vigil check --format json``, ``vigil config validate`` on a
broken config, the API and pages, /metrics, the state file (and its WAL) and the bodies
the receivers got.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
USER = "vigil"
# "!" is URL-encoded by quote(): the encoded forms differ from the raw one.
CANARIES = {name: f"Cy{name}{secrets.token_hex(5)}!x{secrets.token_hex(3)}" for name in (
    "URLPATH", "URLQUERY", "URLUSER", "HEADER", "WSTOKEN", "DBPASS", "APITOKEN", "PDKEY",
    "SMTPPASS", "HOOKPASS", "AMPASS", "APPRISE", "BADNAME", "BADURL", "NEXTTO")}
USERINFO = ("URLUSER", "HOOKPASS", "AMPASS")
SNIPPET_CUT = 200  # alerts/notifiers/http.py cuts error bodies here


def _b64(value: str) -> list[str]:
    raw = value.encode()
    forms = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return forms + [f.rstrip("=") for f in forms]


def forms_of(name: str) -> dict[str, str]:
    canary = CANARIES[name]
    forms = {"raw": canary, "quote": quote(canary, safe=""), "quote_plus": quote_plus(canary),
             "prefix11": canary[:11]}
    forms.update({f"base64_{i}": f for i, f in enumerate(_b64(canary))})
    if name in USERINFO:
        forms.update({f"basic_{i}": f for i, f in enumerate(_b64(f"{USER}:{canary}"))})
    return forms


ALL_FORMS = {(name, kind): form for name in CANARIES for kind, form in forms_of(name).items()}


class EchoServer:
    """Answers every request with an error that echoes it: the first secret it carried
    (in any form: a Basic header, a key in the body) whole, then again starting 11
    characters before the 200th, so a cut there leaves exactly 11 of it."""

    def __init__(self, status_for: dict[str, int]) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                server.requests.append({"path": self.path, "body": body})
                status = next((s for p, s in status_for.items() if self.path.startswith(p)),
                              500)
                echo = f"{self.path} {dict(self.headers)} {body}"
                found = [f for f in ALL_FORMS.values() if f in echo and len(f) > 11]
                lead = min(found, key=echo.index) if found else ""
                # Whole at the start, then again from 11 characters before the cut.
                pad = "x" * (SNIPPET_CUT - len('{"error": "') - len(lead) - 1 - 11)
                text = f"{lead} {pad}{lead} {echo}" if lead else echo
                payload = json.dumps({"error": text}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def got(self, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(prefix)]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def write_config(path: Path, api_port: int, echo: int, closed: int) -> None:
    base = f"http://127.0.0.1:{echo}"
    path.write_text(f"""
[state]
dir = "state"
[server]
port = {api_port}
api_token = "${{CANARY_APITOKEN}}"
[scheduler]
max_concurrency = 8
[alerts]
failure_threshold = 1
success_threshold = 1
[alerts.retry]
initial_backoff = "300ms"
max_backoff = "1s"
[alerts.route]
group_wait = "500ms"
group_interval = "1s"
[[alerts.receivers]]
name = "log"
type = "log"
[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "http://{USER}:${{CANARY_HOOKPASS}}@127.0.0.1:{echo}/hook"
timeout = "2s"
[[alerts.receivers]]
name = "am"
type = "alertmanager"
url = "http://{USER}:${{CANARY_AMPASS}}@127.0.0.1:{echo}/am"
timeout = "2s"
[[alerts.receivers]]
name = "pd"
type = "pagerduty"
routing_key = "${{CANARY_PDKEY}}"
url = "{base}/pd/enqueue"
change_url = "{base}/pd/change"
timeout = "2s"
[[alerts.receivers]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {closed}
security = "tls"
username = "{USER}"
password = "${{CANARY_SMTPPASS}}"
from = "vigil@example.org"
to = ["ops@example.org"]
timeout = "2s"
[[alerts.receivers]]
name = "chat"
type = "apprise"
urls = ["json://127.0.0.1:{echo}/apprise/${{CANARY_APPRISE}}"]
timeout = "2s"

[[lms]]
name = "site"
kind = "moodle"
url = "{base}"
[lms.moodle]
wstoken = "${{CANARY_WSTOKEN}}"
[lms.moodle.database]
type = "pgsql"
host = "127.0.0.1"
port = {closed}
name = "moodle"
user = "vigil_ro"
password = "${{CANARY_DBPASS}}"
connect_timeout = "1s"
[lms.checks.http]
url = "{base}/app/${{CANARY_URLPATH}}/status?token=${{CANARY_URLQUERY}}"
headers = {{ Authorization = "Bearer ${{CANARY_HEADER}}" }}
keyword = ["never-there"]
interval = "2s"
timeout = "2s"
[lms.checks.userinfo]
type = "http"
url = "http://{USER}:${{CANARY_URLUSER}}@127.0.0.1:{echo}/private"
interval = "2s"
timeout = "2s"
[lms.checks.availability]
type = "moodle_availability"
interval = "2s"
timeout = "2s"
[lms.checks.cron]
type = "moodle_cron"
interval = "2s"
timeout = "2s"
""")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            **{f"CANARY_{name}": value for name, value in CANARIES.items()}}


def vigil(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def occurrences(places: dict[str, bytes]) -> list[str]:
    found = []
    for place, data in places.items():
        for (name, kind), form in ALL_FORMS.items():
            count = data.count(form.encode())
            if count:
                found.append(f"{place}: {name} as {kind} x{count}")
    return found


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer({"/pd/": 400})
    yield server
    server.close()


def test_no_secret_leaves_vigil_in_any_form(tmp_path: Path, echo: EchoServer) -> None:
    api_port, closed = free_port(), free_port()
    config = tmp_path / "vigil.toml"
    write_config(config, api_port, echo.port, closed)
    places: dict[str, bytes] = {}

    log_file = (tmp_path / "vigil.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--log-level", "debug", "run",
                             "-c", str(config)], cwd=ROOT, env=env(), stdout=log_file,
                            stderr=subprocess.STDOUT)
    auth = {"Authorization": f"Bearer {CANARIES['APITOKEN']}"}
    api = f"http://127.0.0.1:{api_port}"

    def output() -> str:
        log_file.flush()
        return (tmp_path / "vigil.log").read_text()

    try:
        wait_for(lambda: proc.poll() is None and httpx.get(
            api + "/readyz", timeout=5).status_code == 200 or proc.poll() is not None, 30,
            "vigil /readyz")
        assert proc.poll() is None, output()
        wait_for(lambda: len(httpx.get(api + "/api/v1/checks", headers=auth, timeout=5)
                             .json()["checks"]) == 4, 30, "every check to run")
        wait_for(lambda: all(echo.got(p) for p in ("/hook", "/am", "/pd", "/apprise")), 40,
                 "every HTTP receiver to be tried")
        wait_for(lambda: len(echo.got("/hook")) >= 2, 20, "a webhook retry")
        wait_for(lambda: "FAILED" in output() and "'mail'" in output(), 30,
                 "the failed deliveries in the log")
        for path in ("/api/v1/checks", "/api/v1/alerts", "/", "/metrics"):
            response = httpx.get(api + path, headers=auth, timeout=5)
            assert response.status_code == 200, path
            places[f"GET {path}"] = response.content
        state = tmp_path / "state" / "vigil.sqlite3"
        for file in (state, state.with_name(state.name + "-wal")):
            if file.exists():
                places[f"{file.name} (running)"] = file.read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    places["vigil run log"] = (tmp_path / "vigil.log").read_bytes()
    for file in sorted((tmp_path / "state").glob("vigil.sqlite3*")):
        places[f"{file.name} (stopped)"] = file.read_bytes()

    # What the receivers got: each notification body, less a receiver's own credential.
    # (The checks' own requests carry their secrets by design and are not searched.)
    for index, request in enumerate(echo.requests):
        body = request["body"]
        if request["path"].startswith("/pd/"):
            body = json.dumps({k: v for k, v in json.loads(body).items() if k != "routing_key"})
        if request["path"].startswith(("/hook", "/am", "/pd", "/apprise")):
            places[f"receiver {request['path'].split('/')[1]} #{index}"] = body.encode()

    check = vigil("check", "-c", str(config), "--format", "json")
    assert check.stdout.strip().startswith("["), check.stderr
    places["vigil check --format json (stdout)"] = check.stdout.encode()
    places["vigil check --format json (stderr)"] = check.stderr.encode()

    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text().replace('name = "site"', 'name = "${CANARY_BADNAME}"')
                      .replace("/hook\"", "/hook\"\nheaders = { X-Key = \"${CANARY_NEXTTO}\" }\n"
                               "max_alerts = -1", 1)
                      + '\n[[alerts.receivers]]\nname = "bad"\ntype = "webhook"\n'
                        'url = "${CANARY_BADURL}"\n')
    validate = vigil("config", "validate", str(broken))
    assert validate.returncode == 2
    assert "lms[0].name" in validate.stderr and "max_alerts" in validate.stderr
    assert "alerts.receivers[6].url" in validate.stderr
    places["vigil config validate (stdout)"] = validate.stdout.encode()
    places["vigil config validate (stderr)"] = validate.stderr.encode()

    # The search would be worthless if the canaries never reached the echo servers.
    echoed = " ".join(f"{r['path']} {r['body']}" for r in echo.requests)
    assert CANARIES["URLPATH"] in echoed and CANARIES["PDKEY"] in echoed
    found = occurrences(places)
    searched = len(places) * len(ALL_FORMS)
    print(f"\nsecret canary: {len(CANARIES)} canaries, {len(ALL_FORMS)} forms, "
          f"{len(places)} places, {searched} searches, {len(found)} occurrences found")
    assert not found, "\n".join(found)
