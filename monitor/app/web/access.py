"""Who is calling, may they, and the audit row each write leaves (issue #11).

monitor/app/web/operations.py asks ``Access.bearer`` before an operation that needs a
scope and ``Access.record`` after every write; the form handlers (api_alerts.py,
api_maintenance.py) ask ``Access.check`` with the token from their form field, and the
maintenance handlers ask ``Access.also`` for lms-actions when a window acts on the LMS.
Tokens come from the config at each request (monitor/app/tokens.py), so a SIGHUP reload
takes effect at once. Handlers describe their change with ``note``; the row goes to the
audit log (monitor/app/audit.py) with the token's name as the actor.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from monitor.app.audit import AuditLog, Outcome
from monitor.app.tokens import ApiToken, Principal, identify
from monitor.app.web.operations import Operation, problem
from monitor.app.web.sessions import (
    COOKIE,
    Session,
    Sessions,
    csrf_matches,
    foreign_origin,
    holder,
)

log = logging.getLogger(__name__)
UNAUTHENTICATED = "unauthenticated"  # the actor of a request without a known token
DISABLED = ("write operations are disabled: add [[server.tokens]] (or the deprecated "
            "server.api_token) to the config (the vigil CLI on the host works without it)")


SIGN_IN = "sign in first (the Sign in page takes a named API token once)"
BAD_CSRF = ("the form's CSRF token is missing or wrong (a form from another site, or from "
            "before you signed in again): reload the page and send it again")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at a page: the signed-in token (None: nobody) and its form's CSRF token.
    Pages offer a write form only when ``can`` says the scope is there."""

    principal: Principal | None = None
    csrf: str = ""

    def can(self, scope: str) -> bool:
        return self.principal is not None and self.principal.allows(scope)


@dataclass(frozen=True, slots=True)
class Denial:
    status: int  # 401: no known token; 403: no tokens configured, or the scope is missing
    message: str


def note(request: Request, *, summary: str | None = None, target: str | None = None,
         reason: str | None = None) -> None:
    """What a handler tells the audit log about its write (never a secret)."""
    for key, value in (("audit_summary", summary), ("audit_target", target),
                       ("audit_reason", reason)):
        if value is not None:
            setattr(request.state, key, value)


def caller(request: Request) -> Principal | None:
    return getattr(request.state, "caller", None)


class Access:
    def __init__(self, tokens: Callable[[], Sequence[ApiToken]], audit: AuditLog | None,
                 clock: Callable[[], float]) -> None:
        self.tokens = tokens
        self.audit = audit
        self.clock = clock
        self.sessions = Sessions()

    def session(self, request: Request) -> tuple[Session, Principal] | None:
        """The request's live session and its token as configured now, or None."""
        session = self.sessions.find(request.cookies.get(COOKIE, ""), self.clock())
        if session is None:
            return None
        principal = holder(session, self.tokens())
        if principal is None:  # the token was removed or rotated: the session ends
            self.sessions.close(session.id)
            return None
        return session, principal

    def viewer(self, request: Request) -> Viewer:
        found = self.session(request)
        return Viewer() if found is None else Viewer(found[1], found[0].csrf)

    def form(self, request: Request, fields: dict[str, str], scope: str) -> Denial | None:
        """A page's form: the session's cookie and its CSRF token (both removed from
        ``fields``). A form with a token field instead (scripts, older pages) is checked
        as that token: no cookie is involved, so a foreign page cannot forge it."""
        given_csrf = fields.pop("csrf", "")
        token = fields.pop("token", "")
        if token:
            return self.check(request, token, scope)
        if not self.tokens():
            return Denial(403, DISABLED)
        found = self.session(request)
        if found is None:
            return Denial(401, SIGN_IN)
        session, principal = found
        request.state.caller = principal
        if not csrf_matches(session, given_csrf):
            return Denial(403, BAD_CSRF)
        if (origin := foreign_origin(request)) is not None:
            return Denial(403, f"the form was posted by a page of another site ({origin})")
        if not principal.allows(scope):
            return Denial(403, f"token {principal.name!r} lacks the scope {scope!r}")
        return None

    def check(self, request: Request, presented: str, scope: str) -> Denial | None:
        """None when ``presented`` carries ``scope``; the caller is kept for the audit."""
        tokens = self.tokens()
        if not tokens:
            return Denial(403, DISABLED)
        principal = identify(tokens, presented)
        if principal is None:
            return Denial(401, "missing or wrong bearer token")
        request.state.caller = principal
        if not principal.allows(scope):
            return Denial(403, f"token {principal.name!r} lacks the scope {scope!r}")
        return None

    def bearer(self, request: Request, scope: str) -> Response | None:
        """None when the request may go on; else the 401/403 JSON answer that says why."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        denial = self.check(request, given if scheme.lower() == "bearer" else "", scope)
        if denial is None:
            return None
        headers = {"WWW-Authenticate": "Bearer"} if denial.status == 401 else None
        return problem(denial.status, denial.message, headers=headers)

    def also(self, request: Request, scope: str, why: str) -> Denial | None:
        """A scope the caller, already let in, needs as well for this request."""
        principal = caller(request)
        if principal is not None and principal.allows(scope):
            return None
        name = principal.name if principal is not None else UNAUTHENTICATED
        return Denial(403, f"token {name!r} lacks the scope {scope!r}, needed because {why}")

    def record(self, request: Request, op: Operation, response: Response | None) -> None:
        if self.audit is None:
            return
        status = response.status_code if response is not None else 500
        outcome: Outcome = ("ok" if status < 400 else
                            "refused" if status in (401, 403, 409) else "error")
        principal = caller(request)
        state = request.state
        target = getattr(state, "audit_target", None) or "/".join(
            str(v) for v in request.path_params.values())
        reason = "" if outcome == "ok" else (getattr(state, "audit_reason", None)
                                             or _error_text(response) or f"HTTP {status}")
        try:
            self.audit.record(self.clock(), principal.name if principal else UNAUTHENTICATED,
                              op.action or f"{op.method} {op.template}", target=target,
                              summary=getattr(state, "audit_summary", ""), outcome=outcome,
                              reason=reason)
        except sqlite3.Error as exc:  # the write itself is done; say so loudly, go on
            log.error("audit log: cannot record %s by %s: %s", op.action,
                      principal.name if principal else UNAUTHENTICATED, exc)


def _error_text(response: Response | None) -> str:
    if not isinstance(response, JSONResponse):
        return ""
    try:
        return str(json.loads(bytes(response.body)).get("error", ""))
    except (ValueError, AttributeError):
        return ""
