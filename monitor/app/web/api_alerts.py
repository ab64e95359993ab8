"""Acknowledging alerts over HTTP: the JSON API and the status page's ack form.

Part of the daemon's HTTP surface (monitor/app/web/api.py mounts these routes). Writes need a
token with the ack scope (monitor/app/web/access.py): ``Authorization: Bearer`` for JSON, a
token field for the HTML form (which also keeps a foreign page from posting acks through a
logged-in browser: there is no cookie). Each leaves an audit row.
The work itself is alerts/acks.py through the daemon's AlertService.
"""

from __future__ import annotations

import math
from typing import Protocol
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from alerts.acks import AckError
from alerts.service import AlertService
from alerts.snapshot import ack_json
from monitor.app.audit import ack_summary
from monitor.app.web import schemas as s
from monitor.app.web.access import Access, note
from monitor.app.web.bodies import BodyError, read_limited
from monitor.app.web.operations import Inputs, Operation, Reply, problem, reply
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.spec import parse_duration

ACK_STATUS = {"not_found": 404, "not_firing": 409, "not_acked": 409, "invalid": 422,
              "conflict": 409}
MAX_FORM_BYTES = 16_384


class AckView(Protocol):
    """What the routes need from the daemon (monitor/app/daemon.py ``Daemon``)."""

    alerts: AlertService


def _clock(view: object) -> Clock:
    return getattr(view, "clock", None) or SystemClock()


def _service(view: object) -> AlertService | None:
    # The test views of other API tests carry no alert service; they get a 503 here.
    return getattr(view, "alerts", None)


def ack_expiry(expires_in: float | None, expires_at: float | None, now: float) -> float | None:
    if expires_in is not None and expires_at is not None:
        raise AckError("invalid", "expires_in, expires_at: give one, not both")
    if expires_in is not None:
        return now + expires_in
    if expires_at is not None and not math.isfinite(expires_at):
        raise AckError("invalid", "expires_at: must be a Unix time")
    return expires_at


def _result(alert: object) -> s.AckResult:
    ack = ack_json(alert)  # type: ignore[arg-type]
    return s.AckResult(fingerprint=alert.fingerprint,  # type: ignore[attr-defined]
                       acknowledged=s.Acknowledgement.model_validate(ack) if ack else None)


def ack_operations(view: object, access: Access) -> list[Operation]:
    """POST/DELETE /api/v1/alerts/{fingerprint}/ack and POST /alerts/{fingerprint}/ack."""

    async def json_ack(request: Request, given: Inputs) -> Response:
        service = _service(view)
        if service is None:
            return problem(503, "alerting is not running")
        body: s.AckRequest = given.body
        now = _clock(view).time()
        note(request, summary=f"ack by {body.by!r}")
        try:
            expires_at = ack_expiry(body.expires_in, body.expires_at, now)
            note(request, summary=ack_summary(body.by, body.comment, body.sticky, expires_at,
                                              now))
            alert = service.ack(given.path.fingerprint, body.by, body.comment,
                                sticky=body.sticky, expires_at=expires_at, now=now)
        except AckError as exc:
            return problem(ACK_STATUS[exc.reason], str(exc))
        return reply(_result(alert))

    async def json_unack(request: Request, given: Inputs) -> Response:
        service = _service(view)
        if service is None:
            return problem(503, "alerting is not running")
        note(request, summary=f"unack by {given.body.by!r}")
        try:
            alert = service.unack(given.path.fingerprint, given.body.by,
                                  now=_clock(view).time())
        except AckError as exc:
            return problem(ACK_STATUS[exc.reason], str(exc))
        return reply(_result(alert))

    async def form_ack(request: Request, given: Inputs) -> Response:
        """The status page's form: fields by, comment, token, sticky, expires (e.g. 2h)."""
        try:
            raw = await read_limited(request, MAX_FORM_BYTES)
        except BodyError:
            return _page("The form is too large.", 413)
        form = s.AckForm.model_validate(
            {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()})
        denial = access.check(request, form.token, "ack")
        if denial is not None:
            note(request, reason=denial.message)
            return _page(_FORM_DENIALS.get(denial.message, denial.message), denial.status)
        service = _service(view)
        if service is None:
            return _page("Alerting is not running.", 503)
        now = _clock(view).time()
        try:
            expires = form.expires.strip()
            expires_at = now + parse_duration(expires) if expires else None
        except ValueError as exc:
            return _page(f"expires: {exc}", 422)
        note(request, summary=ack_summary(form.by, form.comment, form.sticky == "on",
                                          expires_at, now))
        try:
            service.ack(given.path.fingerprint, form.by, form.comment,
                        sticky=form.sticky == "on", expires_at=expires_at, now=now)
        except AckError as exc:
            note(request, reason=str(exc))
            return _page(str(exc), ACK_STATUS[exc.reason])
        fingerprint = quote(given.path.fingerprint)
        return RedirectResponse(f"/?acked={fingerprint}", status_code=303)

    path = "/api/v1/alerts/{fingerprint}/ack"
    unavailable = {503: Reply("Alerting is not running", s.Error)}
    page = "text/html"
    return [
        Operation("POST", path, json_ack, "Acknowledge a firing alert",
                  {200: Reply("Acknowledged", s.AckResult),
                   404: Reply("No such alert", s.Error),
                   409: Reply("The alert is not firing", s.Error), **unavailable},
                  path_params=s.AlertPath, body=s.AckRequest, scope="ack",
                  action="alert.ack", not_found="no such alert"),
        Operation("DELETE", path, json_unack, "Withdraw an acknowledgement",
                  {200: Reply("Withdrawn (acknowledged is null)", s.AckResult),
                   404: Reply("No such alert", s.Error),
                   409: Reply("The alert is not acknowledged", s.Error), **unavailable},
                  path_params=s.AlertPath, body=s.UnackRequest, body_required=False,
                  scope="ack", action="alert.unack", not_found="no such alert"),
        Operation("POST", "/alerts/{fingerprint}/ack", form_ack,
                  "The status page's acknowledge form (token in a field)",
                  {303: Reply("Saved; back to the status page", media=page),
                   **{code: Reply(why, media=page) for code, why in (
                       (401, "Wrong or missing token"),
                       (403, "The token lacks the ack scope, or no tokens are configured"),
                       (404, "No such alert"), (409, "The alert is not firing"),
                       (413, "The form is too large"), (422, "Bad expires"),
                       (503, "Alerting is not running"))}},
                  path_params=s.AlertPath, form=s.AckForm, scope="ack",
                  action="alert.ack", not_found="no such alert"),
    ]


# The form's wording for the two refusals every token check can give.
_FORM_DENIALS = {"missing or wrong bearer token": "Wrong or missing token."}


def _page(message: str, status: int) -> HTMLResponse:
    from html import escape

    return HTMLResponse(
        # The icon link: no /favicon.ico request, so no 404 in the browser's console.
        f"<!doctype html><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
        f"<title>Vigil: acknowledgement not saved</title>"
        f"<p>{escape(message)}</p><p><a href=\"/\">Back to the status page</a></p>",
        status_code=status)
