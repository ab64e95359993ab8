"""The console's shared parts: rendering a page for whoever is signed in, the message
page every refusal and result uses, reading a posted form, and the sign-in, sign-out and
audit log pages (issue #15).

monitor/app/web/api.py builds one ``Console`` and hands it to each page module
(page_overview.py, page_check.py, page_alerts.py, page_maintenance.py). Sessions and
CSRF live in access.py and sessions.py.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from monitor.app.tokens import identify
from monitor.app.web.access import Access, Denial, Viewer, note
from monitor.app.web.bodies import BodyError, read_limited
from monitor.app.web.operations import Inputs, Operation, Reply
from monitor.app.web.schemas import SignInForm
from monitor.app.web.sessions import (
    ABSOLUTE_SECONDS,
    COOKIE,
    clear_cookie,
    foreign_origin,
    set_cookie,
)

HTML = "text/html"
MAX_FORM_BYTES = 65_536


def clock_text(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_path(target: str) -> str:
    """Only a path on this site to go back to (no //host or scheme: no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class Console:
    def __init__(self, pages: Environment, access: Access) -> None:
        self.pages = pages
        self.access = access
        pages.filters["clock"] = clock_text

    def render(self, request: Request, template: str, status: int = 200, **context: Any
               ) -> HTMLResponse:
        context.setdefault("nav", request.url.path)
        body = self.pages.get_template(template).render(
            viewer=self.access.viewer(request), **context)
        return HTMLResponse(body, status_code=status)

    def message(self, request: Request, status: int, title: str, message: str,
                back: str = "/", back_label: str = "Back to the overview") -> HTMLResponse:
        return self.render(request, "message.html.j2", status, title=title, message=message,
                           back=back, back_label=back_label, nav="", code=status)

    def refusal(self, request: Request, denial: Denial, title: str, back: str = "/"
                ) -> HTMLResponse:
        note(request, reason=denial.message)
        return self.message(request, denial.status, title, f"Refused: {denial.message}.",
                            back, "Back")

    async def fields(self, request: Request) -> dict[str, str] | None:
        """The posted form's fields (last value of each), or None when it is too large."""
        try:
            raw = await read_limited(request, MAX_FORM_BYTES)
        except BodyError:
            return None
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                              keep_blank_values=True).items()}


def console_operations(console: Console) -> list[Operation]:
    """GET/POST /signin, POST /signout and GET /audit."""
    access = console.access

    async def signin_page(request: Request, _: Inputs) -> Response:
        return console.render(request, "signin.html.j2", next=local_path(
            request.query_params.get("next", "/")), error="", hours=int(ABSOLUTE_SECONDS // 3600))

    async def signin(request: Request, _: Inputs) -> Response:
        fields = await console.fields(request) or {}
        target = local_path(fields.get("next", "/"))
        if (origin := foreign_origin(request)) is not None:  # login CSRF
            return console.message(request, 403, "Not signed in", "The sign-in form was "
                                   f"posted by a page of another site ({origin}).",
                                   "/signin", "Sign in here")
        tokens = access.tokens()
        principal = identify(tokens, fields.get("token", "")) if tokens else None
        if principal is None:
            error = ("No API tokens are configured: add [[server.tokens]] to the config."
                     if not tokens else "The token is missing or not one the config knows.")
            _audit(access, "unauthenticated", "session.signin", "refused", error)
            return console.render(request, "signin.html.j2", 401 if tokens else 403,
                                  next=target, error=error,
                                  hours=int(ABSOLUTE_SECONDS // 3600))
        token = next(t for t in tokens if t.principal == principal)
        access.sessions.close(request.cookies.get(COOKIE, ""))  # a new id each sign-in
        session = access.sessions.open(token, access.clock())
        _audit(access, principal.name, "session.signin", "ok", "")
        response = RedirectResponse(target, status_code=303)
        set_cookie(response, request, session, access.sessions.absolute)
        return response

    async def signout(request: Request, _: Inputs) -> Response:
        fields = await console.fields(request) or {}
        found = access.session(request)
        if found is not None:
            session, principal = found
            if fields.get("csrf") is None or not _same(session.csrf, fields.get("csrf", "")):
                return console.message(request, 403, "Not signed out",
                                       "The form's CSRF token is missing or wrong: reload "
                                       "the page and sign out again.")
            access.sessions.close(session.id)
            _audit(access, principal.name, "session.signout", "ok", "")
        response = console.message(request, 200, "Signed out", "You are signed out.",
                                   "/signin", "Sign in again")
        clear_cookie(response, request)
        return response

    async def audit_page(request: Request, _: Inputs) -> Response:
        viewer = access.viewer(request)
        scheme, _sep, given = request.headers.get("authorization", "").partition(" ")
        if viewer.principal is None and scheme.lower() == "bearer":  # scripts, like the API
            viewer = Viewer(identify(access.tokens(), given))
        if not viewer.can("read"):
            why = ("Sign in with a token that has the read scope to see the audit log."
                   if viewer.principal is None else
                   f"Token {viewer.principal.name!r} lacks the scope 'read'.")
            return console.message(request, 401 if viewer.principal is None else 403,
                                   "Audit log", why)
        before = request.query_params.get("before", "")
        entries = access.audit.entries(200, int(before) if before.isdigit()
                                       and len(before) < 19 else None) if access.audit else []
        return console.render(request, "audit.html.j2", entries=entries)

    page = {200: Reply("OK", media=HTML)}
    return [
        Operation("GET", "/signin", signin_page, "Console sign-in page", page),
        Operation("POST", "/signin", signin, "Sign in with a named token (sets the session "
                  "cookie)", {303: Reply("Signed in", media=HTML),
                              401: Reply("Unknown token", media=HTML),
                              403: Reply("No tokens configured", media=HTML)},
                  form=SignInForm),
        Operation("POST", "/signout", signout, "Sign out (ends the session)",
                  {**page, 403: Reply("Wrong CSRF token", media=HTML)}),
        Operation("GET", "/audit", audit_page, "Audit log page (needs a signed-in read "
                  "scope)", {**page, 401: Reply("Not signed in", media=HTML),
                             403: Reply("No read scope", media=HTML)}),
    ]


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _audit(access: Access, actor: str, operation: str, outcome: Any, reason: str) -> None:
    if access.audit is None:
        return
    try:
        access.audit.record(access.clock(), actor, operation, outcome=outcome, reason=reason)
    except sqlite3.Error:  # signing in must not fail because the log cannot be written
        pass
