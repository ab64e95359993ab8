"""An in-process demo LMS that looks like Moodle 4.5 to a monitor, with injectable faults.

Used by ``vigil demo`` (checks run against it, alerts fire and resolve, notifications
land in its webhook sink) and, as the HTTP side of the Moodle test double, by tests that
need a real Moodle-like server (DemoServer in monitor/app/demo/server.py serves this app). It
is the one hand-written stand-in the architecture allows, so each surface follows
Moodle's source (moodle/moodle paths at 4.5; 5.1 moved the web files under public/):

- login/index.php, lib/templates/loginform.mustache: form id="login", hidden logintoken,
  a MoodleSession<$CFG->sessioncookie> cookie (SameSite=Lax, HttpOnly;
  lib/classes/session/manager.php prepare_cookies()), and M.cfg as
  page_requirements_manager::get_config_for_javascript writes it
  (lib/classes/output/requirements/page_requirements_manager.php), which adds
  ``developerdebug`` only when debugdeveloper is on. Under web maintenance the form
  shows the "login-maintenance" notice (auth/classes/output/login.php).
- login/token.php: enablewebservices off -> AJAX error "enablewsdescription" before
  anything else; else ``{"appsitecheck":"ok"}`` before any login work, CORS ``*``.
- lib/ajax/service-nologin.php: a JSON array of ``{error, data|exception}``;
  tool_mobile_get_public_config's fields from admin/tool/mobile/classes/api.php.
- webservice/rest/server.php, webservice/rest/locallib.php: protocol off -> 403 with no
  body; errors are HTTP 200 JSON/XML; token errors from webservice/lib.php
  (invalidtoken, sitemaintenance); core_webservice_get_site_info's fields from
  webservice/externallib.php.
- lib/setup.php: CLI maintenance answers every script with 503 "Moodle under
  maintenance", Retry-After: 300 and the climaintenance.html that
  enable_cli_maintenance_mode() writes (lib/adminlib.php). Web maintenance:
  print_maintenance_message() (lib/weblib.php) on the front page, 503 + Retry-After.
- lib/classes/output/bootstrap_renderer.php early_error(): a database failure during
  bootstrap is a 500 plain page (error/plainpage.php), JSON for AJAX scripts; messages
  from lang/en/error.php (dmlreadexception, dbconnectionfailed).
- lib/setuplib.php is_major_upgrade_required(): front and login pages 303 to
  admin/index.php.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor.app.demo.faults import FaultController
from monitor.app.demo.replies import (
    NO_CACHE,
    ajax_error,
    early_ajax_error,
    json_template,
    moodle_json,
    php_json,
    template,
    ws_error,
    ws_reply,
)
from monitor.app.demo.sink import WebhookSink, sink_routes

Handler = Callable[[Request], Awaitable[Response]]
# fault -> (exception class, errorcode, message): lib/dml/*exception, lang/en/error.php
_DB_ERRORS = {
    "dberror": ("dml_read_exception", "dmlreadexception", "Error reading from database"),
    "dbdown": ("dml_connection_exception", "dbconnectionfailed",
               "Error: Database connection failed"),
}
_MAINTENANCE = "The site is undergoing maintenance and is currently not available"
_NO_FUNCTION = "Can't find data record in database table external_functions."


@dataclass(frozen=True)
class DemoSite:
    sitename: str = "Vigil Demo University"
    release: str = "4.5.2 (Build: 20250210)"
    version: str = "2024100702"
    wstoken: str = "vigil-demo-token"  # the demo's own web-service token, not a secret
    developer_debug: bool = False
    wwwroot: str | None = None  # None: the scheme://host:port the request came in on
    sessioncookie: str = ""  # $CFG->sessioncookie: the cookie is MoodleSession<this>


def create_app(site: DemoSite, faults: FaultController, sink: WebhookSink) -> Starlette:
    """The demo LMS as an ASGI app; each request reads the current fault from ``faults``."""
    moodle = _DemoMoodle(site, faults)
    return Starlette(routes=[
        *moodle.routes(),
        *sink_routes(sink),  # not Moodle: the demo's alert receiver, never faulted
    ])


class _DemoMoodle:
    """The request handlers; every answer depends on the fault active right now."""

    def __init__(self, site: DemoSite, faults: FaultController) -> None:
        self.site = site
        self.faults = faults

    def routes(self) -> list[Route]:
        both = ["GET", "POST"]
        return [
            Route("/", self._wrap("front", self.front)),
            Route("/index.php", self._wrap("front", self.front)),
            Route("/login/index.php", self._wrap("login", self.login)),
            Route("/admin/index.php", self._wrap("admin", self.admin)),
            Route("/login/token.php", self._wrap("ajax", self.token), methods=both),
            Route("/lib/ajax/service-nologin.php", self._wrap("ajax", self.nologin),
                  methods=both),
            Route("/webservice/rest/server.php", self._wrap("ws", self.rest), methods=both),
        ]

    def _wrap(self, kind: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if self.faults.fault == "slow":
                await asyncio.sleep(self.faults.slow_seconds)
            return self._fault_answer(request, kind) or await handler(request)
        return endpoint

    def _fault_answer(self, request: Request, kind: str) -> Response | None:
        """What the site answers under the current fault, or None to answer normally."""
        fault = self.faults.fault
        if fault == "down":  # only seen in-process (no listener): a proxy before dead PHP
            return HTMLResponse(template("bad_gateway.html").template, status_code=502)
        if fault == "maintenance":  # lib/setup.php, before any script-specific code
            return self._plain(503, f"{self.site.sitename} under maintenance", _MAINTENANCE,
                               **{"Retry-After": "300"})
        if fault in _DB_ERRORS:
            exception, errorcode, message = _DB_ERRORS[fault]
            if kind == "ajax":  # early_error(), AJAX_SCRIPT branch
                return early_ajax_error(message, errorcode)
            if kind == "ws":  # raise_early_ws_exception(): the REST error format
                return ws_reply(request, ws_error(exception, errorcode, message))
            return self._plain(500, "Error", message)
        if fault == "wrong_content":
            return HTMLResponse(template("default_site.html").template)
        if fault == "upgrade" and kind in ("front", "login"):
            return RedirectResponse(f"{self._root(request)}/admin/index.php", status_code=303)
        return None

    def _root(self, request: Request) -> str:
        return self.site.wwwroot or str(request.base_url).rstrip("/")

    def _page(self, request: Request, bodyid: str, title: str, body: str, *, status: int = 200,
              headers: dict[str, str] | None = None, raw: dict[str, str] | None = None,
              **values: str) -> Response:
        """A themed page; ``values`` are escaped, ``raw`` holds HTML Moodle prints as is."""
        www = self._root(request)
        mcfg = json_template("mcfg.json", wwwroot=www, sesskey=secrets.token_hex(5))
        if self.site.developer_debug or self.faults.fault == "developer_debug":
            mcfg["developerdebug"] = True
        text = {"wwwroot": www, "sitename": self.site.sitename, "release": self.site.release,
                **values}
        esc = {k: html.escape(v) for k, v in text.items()}
        content = template(f"{body}.html").substitute(esc, **(raw or {}))
        response = HTMLResponse(template("layout.html").substitute(
            esc, title=html.escape(title), mcfg=php_json(mcfg), bodyid=bodyid,
            bodyclass=f"path-{bodyid.split('-')[1]}", content=content),
            status_code=status, headers={**NO_CACHE, **(headers or {})})
        response.set_cookie(f"MoodleSession{self.site.sessioncookie}", secrets.token_hex(13),
                            path="/", httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    def _plain(self, status: int, title: str, message: str, **headers: str) -> Response:
        body = template("plainpage.html").substitute(
            title=html.escape(title), meta="", content=f"<div class='alert-danger'>{message}</div>")
        return HTMLResponse(body, status_code=status, headers={**NO_CACHE, **headers})

    async def front(self, request: Request) -> Response:
        if self.faults.fault == "web_maintenance":  # index.php -> print_maintenance_message()
            return self._page(request, "page-maintenance-message", self.site.sitename,
                              "maintenance", status=503, headers={"Retry-After": "300"},
                              message=_MAINTENANCE)
        return self._page(request, "page-site-index", self.site.sitename, "frontpage")

    async def login(self, request: Request) -> Response:
        # The login page stays up under web maintenance (admins must get in), with a notice.
        notice = ""
        if self.faults.fault == "web_maintenance":
            notice = (f'<div class="alert alert-danger login-maintenance">\n'
                      f"    <div class=\"no-overflow\"><p>{_MAINTENANCE}</p></div>\n</div>")
        return self._page(request, "page-login-index",
                          f"Log in to the site | {self.site.sitename}", "login",
                          raw={"maintenance": notice}, logintoken=secrets.token_hex(16))

    async def admin(self, request: Request) -> Response:
        return self._page(request, "page-admin-index", "Upgrading", "upgrade")

    async def token(self, request: Request) -> Response:
        if self.faults.fault == "ws_disabled":  # checked before appsitecheck
            return ajax_error("Web services must be enabled in Advanced features.",
                              "enablewsdescription", cors=True)
        if request.query_params.get("appsitecheck", "0") not in ("", "0"):
            return moodle_json({"appsitecheck": "ok"}, cors=True)
        # Logging in is out of scope for a monitor's stand-in: answer as to a bad login.
        return ajax_error("Invalid login, please try again", "invalidlogin", cors=True)

    async def nologin(self, request: Request) -> Response:
        raw = request.query_params.get("args") or (await request.body()).decode() or "[]"
        try:
            calls = json.loads(raw)
        except ValueError as exc:
            return ajax_error("Coding error detected, it must be fixed by a programmer: "
                              f"Invalid json in request: {exc}", "codingerror")
        replies: list[dict[str, Any]] = []
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict) and call.get("methodname") == "tool_mobile_get_public_config":
                replies.append({"error": False, "data": self._public_config(request)})
                continue
            replies.append({"error": True, "exception": {  # service.php stops at the first
                "message": _NO_FUNCTION, "errorcode": "invalidrecord",
                "link": self._root(request) + "/",
                "moreinfourl": "https://docs.moodle.org/405/en/error/moodle/invalidrecord"}})
            break
        return moodle_json(replies)

    def _public_config(self, request: Request) -> dict[str, Any]:
        data = json_template("public_config.json", wwwroot=self._root(request),
                             sitename=self.site.sitename)
        if self.faults.fault == "web_maintenance":
            data["maintenanceenabled"] = 1
        if self.faults.fault == "ws_disabled":
            data["enablewebservices"] = 0
        return data

    async def rest(self, request: Request) -> Response:
        fault = self.faults.fault
        if fault == "ws_disabled":  # webservice/rest/server.php: 403, no body
            return Response(status_code=403)
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        known = secrets.compare_digest(params.get("wstoken", "").encode(),
                                       self.site.wstoken.encode())
        if not known or fault == "invalidtoken":
            error = ws_error("moodle_exception", "invalidtoken", "Invalid token - token not found")
            return ws_reply(request, error)
        if fault == "web_maintenance":  # webservice_server::authenticate_by_token()
            return ws_reply(request, ws_error("moodle_exception", "sitemaintenance", _MAINTENANCE))
        if params.get("wsfunction") != "core_webservice_get_site_info":
            return ws_reply(request, ws_error("dml_missing_record_exception", "invalidrecord",
                                              _NO_FUNCTION))
        return ws_reply(request, json_template(
            "site_info.json", wwwroot=self._root(request), sitename=self.site.sitename,
            release=self.site.release, version=self.site.version))
