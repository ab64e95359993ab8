"""An in-process demo LMS that looks like Moodle 4.5 to a monitor, with injectable faults.

Used by ``vigil demo`` (checks run against it, alerts fire and resolve, notifications
land in its webhook sink) and by tests that need a real HTTP server. It is the one
hand-written stand-in the architecture allows, so each surface follows Moodle's source
(moodle/moodle paths at 4.5; 5.1 moved the web files under public/):

- login/index.php, lib/templates/loginform.mustache: form id="login", hidden logintoken,
  a MoodleSession cookie, and M.cfg as page_requirements_manager::get_config_for_javascript
  writes it (lib/classes/output/requirements/page_requirements_manager.php), which adds
  ``developerdebug`` only when debugdeveloper is on.
- login/token.php: ``{"appsitecheck":"ok"}`` before any login work, CORS ``*``.
- lib/ajax/service-nologin.php: a JSON array of ``{error, data|exception}``;
  tool_mobile_get_public_config's fields from admin/tool/mobile/classes/api.php.
- webservice/rest/server.php, webservice/rest/locallib.php: errors are HTTP 200 JSON;
  core_webservice_get_site_info's fields from webservice/externallib.php.
- lib/setup.php: CLI maintenance answers every script with 503 "Moodle under
  maintenance", Retry-After: 300 and the climaintenance.html that
  enable_cli_maintenance_mode() writes (lib/adminlib.php).
- lib/classes/output/bootstrap_renderer.php early_error(): a database read failure
  during bootstrap is a 500 plain page (error/plainpage.php), JSON for AJAX scripts.
- lib/setuplib.php is_major_upgrade_required(): front and login pages 303 to
  admin/index.php.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import ipaddress
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# "down" closes the listeners (connection refused); the others change the answers.
FAULTS = ("ok", "down", "slow", "maintenance", "dberror", "wrong_content", "upgrade")
Handler = Callable[[Request], Awaitable[Response]]
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache",
             "Expires": "Mon, 20 Aug 1969 09:23:00 GMT"}
_DB_ERROR = "Error reading from database"  # lang/en/error.php 'dmlreadexception'
_NO_FUNCTION = "Can't find data record in database table external_functions."


@dataclass(frozen=True)
class DemoSite:
    sitename: str = "Vigil Demo University"
    release: str = "4.5.2 (Build: 20250210)"
    version: str = "2024100702"
    wstoken: str = "vigil-demo-token"  # the demo's own web-service token, not a secret
    developer_debug: bool = False
    wwwroot: str | None = None  # None: the scheme://host:port the request came in on


class FaultController:
    """The fault the demo LMS shows right now; read by every request."""

    def __init__(self, fault: str = "ok", *, slow_seconds: float = 3.0) -> None:
        self.fault = fault
        self.slow_seconds = slow_seconds

    @property
    def fault(self) -> str:
        return self._fault

    @fault.setter
    def fault(self, name: str) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; expected one of: {', '.join(FAULTS)}")
        self._fault = name


@dataclass(frozen=True)
class FaultSchedule:
    """Which fault is active ``elapsed`` seconds into the demo; the phases repeat.

    The default suits checks every 5 s with failure threshold 3 and success threshold 2:
    25 s of a fault gives at least 4 failing runs (fires ~15 s in), 20 s of "ok" at least
    3 passing runs (resolves ~10 s in). The "down" alert fires about 35 s after start and
    resolves at about 55 s; "slow" fires and resolves before the two-minute mark.
    """

    phases: tuple[tuple[str, float], ...] = (
        ("ok", 20), ("down", 25), ("ok", 20), ("slow", 25), ("ok", 20),
        ("wrong_content", 25), ("ok", 20), ("maintenance", 25), ("ok", 20), ("dberror", 25),
    )

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a fault schedule needs at least one phase")
        for name, seconds in self.phases:
            FaultController(name)  # raises for an unknown fault name
            if seconds <= 0:
                raise ValueError(f"phase {name!r}: duration must be > 0, got {seconds}")

    @property
    def cycle_seconds(self) -> float:
        return float(sum(seconds for _, seconds in self.phases))

    def table(self) -> list[tuple[float, float, str]]:
        """(start, end, fault) for one cycle."""
        rows, start = [], 0.0
        for name, seconds in self.phases:
            rows.append((start, start + seconds, name))
            start += seconds
        return rows

    def fault_at(self, elapsed: float) -> str:
        return self._locate(elapsed)[0]

    def seconds_until_change(self, elapsed: float) -> float:
        return self._locate(elapsed)[1]

    def _locate(self, elapsed: float) -> tuple[str, float]:
        offset = max(0.0, elapsed) % self.cycle_seconds
        for start, end, name in self.table():
            if start <= offset < end:
                return name, end - offset
        return self.phases[-1][0], self.cycle_seconds - offset  # float rounding at the end


@dataclass
class WebhookSink:
    """Keeps the payloads POSTed to /_demo/webhook; logs one line per alert in them."""

    limit: int = 500
    received: list[dict[str, Any]] = field(default_factory=list)

    def record(self, payload: Any) -> None:
        self.received.append({"received_at": time.time(), "payload": payload})
        del self.received[:-self.limit]
        alerts = payload.get("alerts") if isinstance(payload, dict) else None
        for alert in alerts if isinstance(alerts, list) else [payload]:
            alert = alert if isinstance(alert, dict) else {}
            labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
            log.info("webhook received: [%s] %s/%s %s: %s", str(alert.get("status", "?")).upper(),
                     labels.get("lms", "?"), labels.get("check", "?"),
                     labels.get("severity", ""), notes.get("summary", ""))


def create_app(site: DemoSite, faults: FaultController, sink: WebhookSink) -> Starlette:
    """The demo LMS as an ASGI app; each request reads the current fault from ``faults``."""
    pages = {name: _template(f"{name}.html") for name in (
        "layout", "login", "frontpage", "upgrade", "plainpage", "default_site", "bad_gateway")}

    def root(request: Request) -> str:
        return site.wwwroot or str(request.base_url).rstrip("/")

    def page(request: Request, bodyid: str, title: str, body: str, **values: str) -> Response:
        www = root(request)
        mcfg = _json_template("mcfg.json", wwwroot=www, sesskey=secrets.token_hex(5))
        if site.developer_debug:
            mcfg["developerdebug"] = True
        text = {"wwwroot": www, "sitename": site.sitename, "release": site.release, **values}
        esc = {k: html.escape(v) for k, v in text.items()}
        content = pages[body].substitute(esc)
        response = HTMLResponse(pages["layout"].substitute(
            esc, title=html.escape(title), mcfg=_php_json(mcfg), bodyid=bodyid,
            bodyclass=f"path-{bodyid.split('-')[1]}", content=content), headers=_NO_CACHE)
        response.set_cookie("MoodleSession", secrets.token_hex(13), path="/", httponly=True,
                            samesite=None, secure=request.url.scheme == "https")
        return response

    def plain(status: int, title: str, message: str, **headers: str) -> Response:
        body = pages["plainpage"].substitute(
            title=html.escape(title), meta="", content=f"<div class='alert-danger'>{message}</div>")
        return HTMLResponse(body, status_code=status, headers={**_NO_CACHE, **headers})

    def fault_answer(request: Request, kind: str) -> Response | None:
        """What the site answers under the current fault, or None to answer normally."""
        fault = faults.fault
        if fault == "down":  # only seen in-process (no listener): a proxy before dead PHP
            return HTMLResponse(pages["bad_gateway"].template, status_code=502)
        if fault == "maintenance":  # lib/setup.php, before any script-specific code
            return plain(503, f"{site.sitename} under maintenance", "The site is undergoing "
                         "maintenance and is currently not available", **{"Retry-After": "300"})
        if fault == "dberror" and kind == "ajax":  # early_error(), AJAX_SCRIPT branch
            return _moodle_json({"error": _DB_ERROR, "stacktrace": None, "debuginfo": None,
                                 "errorcode": "dmlreadexception"})
        if fault == "dberror" and kind == "ws":  # raise_early_ws_exception(): REST format
            return _ws_reply(request, _ws_error("dml_read_exception", "dmlreadexception",
                                                _DB_ERROR))
        if fault == "dberror":
            return plain(500, "Error", _DB_ERROR)
        if fault == "wrong_content":
            return HTMLResponse(pages["default_site"].template)
        if fault == "upgrade" and kind == "page":
            return RedirectResponse(f"{root(request)}/admin/index.php", status_code=303)
        return None

    def moodle(kind: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if faults.fault == "slow":
                await asyncio.sleep(faults.slow_seconds)
            return fault_answer(request, kind) or await handler(request)
        return endpoint

    async def front(request: Request) -> Response:
        return page(request, "page-site-index", site.sitename, "frontpage")

    async def login(request: Request) -> Response:
        return page(request, "page-login-index", f"Log in to the site | {site.sitename}",
                    "login", logintoken=secrets.token_hex(16))

    async def admin(request: Request) -> Response:
        return page(request, "page-admin-index", "Upgrading", "upgrade")

    async def token(request: Request) -> Response:
        if request.query_params.get("appsitecheck", "0") not in ("", "0"):
            return _moodle_json({"appsitecheck": "ok"}, cors=True)
        # Logging in is out of scope for a monitor's stand-in: answer as to a bad login.
        return _moodle_json({"error": "Invalid login, please try again", "errorcode":
                             "invalidlogin", "stacktrace": None, "debuginfo": None,
                             "reproductionlink": None}, cors=True)

    async def nologin(request: Request) -> Response:
        raw = request.query_params.get("args") or (await request.body()).decode() or "[]"
        try:
            calls = json.loads(raw)
        except ValueError as exc:
            return _moodle_json({"error": "Coding error detected, it must be fixed by a "
                                 f"programmer: Invalid json in request: {exc}", "errorcode":
                                 "codingerror", "stacktrace": None, "debuginfo": None,
                                 "reproductionlink": None})
        replies: list[dict[str, Any]] = []
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict) and call.get("methodname") == "tool_mobile_get_public_config":
                data = _json_template("public_config.json", wwwroot=root(request),
                                      sitename=site.sitename)
                replies.append({"error": False, "data": data})
                continue
            replies.append({"error": True, "exception": {  # service.php stops at the first
                "message": _NO_FUNCTION, "errorcode": "invalidrecord", "link": root(request)
                + "/", "moreinfourl": "https://docs.moodle.org/405/en/error/moodle/invalidrecord"}})
            break
        return _moodle_json(replies)

    async def rest(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if not secrets.compare_digest(params.get("wstoken", "").encode(), site.wstoken.encode()):
            error = _ws_error("moodle_exception", "invalidtoken", "Invalid token - token not found")
            return _ws_reply(request, error)
        if params.get("wsfunction") != "core_webservice_get_site_info":
            return _ws_reply(request, _ws_error("dml_missing_record_exception", "invalidrecord",
                                                _NO_FUNCTION))
        return _ws_reply(request, _json_template(
            "site_info.json", wwwroot=root(request), sitename=site.sitename,
            release=site.release, version=site.version))

    return Starlette(routes=[
        Route("/", moodle("page", front)),
        Route("/index.php", moodle("page", front)),
        Route("/login/index.php", moodle("page", login)),
        Route("/admin/index.php", moodle("admin", admin)),
        Route("/login/token.php", moodle("ajax", token), methods=["GET", "POST"]),
        Route("/lib/ajax/service-nologin.php", moodle("ajax", nologin), methods=["GET", "POST"]),
        Route("/webservice/rest/server.php", moodle("ws", rest), methods=["GET", "POST"]),
        *_sink_routes(sink),  # not Moodle: the demo's alert receiver, never faulted
    ])


def create_control_app(sink: WebhookSink, set_fault: Callable[[str], Awaitable[None]]
                       ) -> Starlette:
    """The demo's side door, up even while the LMS is "down": the webhook sink and
    ``POST /_demo/fault`` (body ``{"fault": "slow"}``) for trying faults by hand."""

    async def fault(request: Request) -> Response:
        try:
            await set_fault(str((await request.json())["fault"]))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"expected {{\"fault\": one of {FAULTS}}}: {exc}"},
                                status_code=400)
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[*_sink_routes(sink), Route("/_demo/fault", fault, methods=["POST"])])


def _sink_routes(sink: WebhookSink) -> list[Route]:
    async def receive(request: Request) -> Response:
        try:
            sink.record(await request.json())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        return JSONResponse({"status": "received"})

    async def show(request: Request) -> Response:
        return JSONResponse({"received": sink.received})

    return [Route("/_demo/webhook", receive, methods=["POST"]),
            Route("/_demo/webhook", show, methods=["GET"])]


@functools.cache
def _template(name: str) -> Template:
    # Read once: templates ship with the package and do not change while it runs.
    return Template((resources.files("monitor") / "demo_pages" / name).read_text("utf-8"))


def _json_template(name: str, **values: str) -> dict[str, Any]:
    quoted = {key: json.dumps(value)[1:-1] for key, value in values.items()}
    data: dict[str, Any] = json.loads(_template(name).substitute(quoted))
    return data


def _php_json(value: Any) -> str:
    # PHP's json_encode escapes "/" by default; a monitor parsing Moodle must cope.
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def _moodle_json(value: Any, *, cors: bool = False,
                 media: str = "application/json; charset=utf-8") -> Response:
    return Response(_php_json(value), media_type=media,
                    headers={"Access-Control-Allow-Origin": "*"} if cors else None)


def _ws_error(exception: str, errorcode: str, message: str) -> dict[str, Any]:
    return {"exception": exception, "errorcode": errorcode, "message": message}


def _ws_reply(request: Request, value: dict[str, Any]) -> Response:
    """REST answers are HTTP 200 either way, XML unless moodlewsrestformat=json."""
    if request.query_params.get("moodlewsrestformat", "xml") == "json":
        return _moodle_json(value, cors=True, media="application/json")
    if "exception" in value:
        body = (f'<EXCEPTION class="{value["exception"]}">\n<ERRORCODE>{value["errorcode"]}'
                f'</ERRORCODE>\n<MESSAGE>{html.escape(value["message"])}</MESSAGE>\n</EXCEPTION>')
    else:
        body = f"<RESPONSE>\n{_xmlize(value)}</RESPONSE>"
    return Response(f'<?xml version="1.0" encoding="UTF-8" ?>\n{body}\n',
                    media_type="application/xml", headers={"Access-Control-Allow-Origin": "*"})


def _xmlize(value: Any) -> str:
    # webservice_rest_server::xmlize_result: dict -> SINGLE, list -> MULTIPLE, bool -> 0/1.
    if isinstance(value, dict):
        keys = "".join(f'<KEY name="{k}">{_xmlize(v)}</KEY>\n' for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xmlize(v) for v in value) + "</MULTIPLE>\n"
    if value is None:
        return '<VALUE null="null"/>\n'
    return f"<VALUE>{html.escape(str(int(value) if isinstance(value, bool) else value))}</VALUE>\n"


@dataclass(frozen=True)
class DemoCertificate:
    ca_file: Path  # give this to a tls/http check as ca_file
    cert_file: Path
    key_file: Path
    not_after: datetime


def write_demo_certificate(
    directory: Path, *, days: float = 14.0, now: datetime | None = None,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
) -> DemoCertificate:
    """Write a private CA and a server certificate for ``hosts`` expiring in ``days``.

    14 days lies between the tls check's default warning (21 d) and critical (7 d)
    thresholds, so the demo shows a WARNING without anything being broken.
    """
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vigil demo CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (_builder(ca_name, ca_name, ca_key.public_key(), now, max(days, 365.0) + 1)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    sans = [_general_name(host) for host in hosts]
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    leaf = (_builder(leaf_name, ca_name, key.public_key(), now, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = DemoCertificate(directory / "demo-ca.pem", directory / "demo-cert.pem",
                            directory / "demo-key.pem", leaf.not_valid_after_utc)
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    # The key file is created 0600 rather than chmod-ed after being written world-readable.
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: datetime, days: float) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=days)))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn swaps SIGINT/SIGTERM handlers while it serves and restores them when it
        # stops; listeners stopped and started out of order (the "down" fault) would
        # leave stale handlers. Signals belong to the process that embeds the demo.
        yield


@dataclass
class _Listener:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int


class DemoServer:
    """Serves the demo LMS on real sockets in the running event loop.

    Listeners: the LMS over HTTP (``url``), optionally over HTTPS with a short-lived
    certificate (``https_url``, when ``tls_dir`` is given), and a control listener
    (``control_url``, ``webhook_url``) that stays up during "down" so alerts about the
    outage still reach the webhook sink.
    """

    def __init__(self, site: DemoSite | None = None, *, faults: FaultController | None = None,
                 tls_dir: Path | None = None, cert_days: float = 14.0) -> None:
        self.site = site or DemoSite()
        self.faults = faults or FaultController()
        self.sink = WebhookSink()
        self.app = create_app(self.site, self.faults, self.sink)
        self.control_app = create_control_app(self.sink, self.set_fault)
        self.certificate = write_demo_certificate(tls_dir, days=cert_days) if tls_dir else None
        self._host = "127.0.0.1"
        self._listeners: dict[str, _Listener] = {}
        self._ports: dict[str, int] = {}
        self._reopened: set[str] = set()
        self._lock = asyncio.Lock()

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, https_port: int = 0,
                    control_port: int = 0) -> None:
        """Bind and serve; port 0 picks a free port (read it back from ``url``)."""
        self._host = host
        self._ports = {"http": port, "https": https_port, "control": control_port}
        await self._open("control")
        if self.faults.fault != "down":
            await self._open_lms()

    @property
    def url(self) -> str:
        return self._url("http", "http")

    @property
    def https_url(self) -> str | None:
        return self._url("https", "https") if self.certificate else None

    @property
    def control_url(self) -> str:
        return self._url("http", "control")

    @property
    def webhook_url(self) -> str:
        return f"{self.control_url}/_demo/webhook"

    async def set_fault(self, name: str) -> None:
        """Switch fault; "down" closes the LMS listeners, leaving it reopens them."""
        FaultController(name)  # validate before changing anything
        async with self._lock:
            previous = self.faults.fault
            if name == previous:
                return
            if name == "down":
                self.faults.fault = name
                await asyncio.gather(self._close("http"), self._close("https"))
            else:
                if previous == "down" and "control" in self._listeners:
                    await self._open_lms()
                self.faults.fault = name
            log.info("demo LMS fault: %s -> %s", previous, name)

    async def run_schedule(self, schedule: FaultSchedule, *,
                           clock: Callable[[], float] = time.monotonic,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Follow ``schedule`` until cancelled; the clock and sleep are injectable."""
        start = clock()
        while True:
            elapsed = clock() - start
            await self.set_fault(schedule.fault_at(elapsed))
            await sleep(schedule.seconds_until_change(elapsed))

    async def stop(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._close(kind) for kind in list(self._listeners)))

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _url(self, scheme: str, kind: str) -> str:
        if kind not in self._ports:
            raise RuntimeError("DemoServer.start() has not run")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self._ports[kind]}"

    async def _open_lms(self) -> None:
        await self._open("http")
        if self.certificate:
            await self._open("https")

    async def _open(self, kind: str) -> None:
        cert = self.certificate if kind == "https" else None
        config = uvicorn.Config(
            self.control_app if kind == "control" else self.app, lifespan="off",
            log_config=None, log_level="warning", access_log=False, timeout_graceful_shutdown=1,
            ssl_certfile=cert.cert_file if cert else None,
            ssl_keyfile=cert.key_file if cert else None)
        server = _QuietServer(config)
        # Retry only when reopening after "down": the old socket may still be closing.
        sock = await _bind(self._host, self._ports[kind], retry=kind in self._reopened)
        self._reopened.add(kind)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-lms-{kind}")
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the start-up
                raise RuntimeError(f"demo LMS {kind} listener stopped during start-up")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self._ports[kind] = port  # a restart after "down" reuses the port clients know
        self._listeners[kind] = _Listener(server, task, port)

    async def _close(self, kind: str) -> None:
        listener = self._listeners.pop(kind, None)
        if listener is None:
            return
        # An outage, not a graceful stop: do not wait for open requests to finish.
        listener.server.should_exit = listener.server.force_exit = True
        try:
            await asyncio.wait_for(listener.task, timeout=5)
        except TimeoutError:
            log.warning("demo LMS %s listener did not stop within 5 s", kind)


async def _bind(host: str, port: int, *, retry: bool) -> socket.socket:
    """A bound TCP socket; binding it ourselves keeps uvicorn's sys.exit() on errors out."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(50 if retry else 1):
        if attempt:
            await asyncio.sleep(0.1)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error
