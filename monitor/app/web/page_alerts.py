"""The console's alerts page and its forms: firing and recent alerts, acknowledge (comment,
sticky, expiry) and withdraw, and the delivery log (the outbox) with a retry button for
failed notifications (issue #15).

Each form is a write: it needs the signed-in session and its CSRF token
(monitor/app/web/access.py ``Access.form``) and leaves an audit row (operations.py). The
ack form keeps accepting a token field for scripts that post it. The work itself is
alerts/acks.py through the daemon's AlertService and alerts/outbox_store.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.acks import AckError
from alerts.service import AlertService
from alerts.snapshot import ack_json
from alerts.store import AlertRecord
from monitor.app.audit import ack_summary
from monitor.app.web import schemas as s
from monitor.app.web.access import Denial, caller, note
from monitor.app.web.api_alerts import ACK_STATUS
from monitor.app.web.console import HTML, Console, local_path
from monitor.app.web.operations import Inputs, Operation, Reply
from monitor.app.web.schemas_maintenance import TokenForm
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.spec import parse_duration

RECENT = 50  # resolved alerts the page lists
DELIVERIES = 100  # outbox rows the page lists


def alert_row(alert: AlertRecord) -> dict[str, Any]:
    return {"fingerprint": alert.fingerprint, "lms": alert.lms, "check": alert.check,
            "state": alert.state, "status": alert.status.name, "summary": alert.summary,
            "severity": alert.severity, "started_at": alert.started_at,
            "resolved_at": alert.resolved_at, "held": alert.held, "flapping": alert.flapping,
            "ack": ack_json(alert)}


def delivery_row(item: Any) -> dict[str, Any]:
    payload = item.payload
    return {"id": item.id, "receiver": item.receiver, "state": item.state,
            "attempts": item.attempts, "error": item.last_error, "at": item.created_at,
            "next_at": item.next_attempt_at, "status": payload.get("status", ""),
            "reason": payload.get("reason", ""),
            "fingerprints": [a.get("fingerprint") for a in payload.get("alerts", [])],
            "title": payload.get("title") or payload.get("subject") or item.dedup_key}


def alerts_operations(view: Any, console: Console) -> list[Operation]:
    """GET /alerts, POST /alerts/{fingerprint}/ack|unack, POST /outbox/{id}/retry."""
    access = console.access

    def clock() -> Clock:
        return getattr(view, "clock", None) or SystemClock()

    def service() -> AlertService | None:
        return getattr(view, "alerts", None)  # test views of other API tests have none

    def page(request: Request, status: int = 200, errors: dict[str, Any] | None = None,
             form: dict[str, str] | None = None) -> Response:
        store = view.store
        recent = sorted((a for a in store.all_alerts() if a.state != "firing"),
                        key=lambda a: -(a.resolved_at or 0))[:RECENT]
        deliveries = [delivery_row(i) for i in store.outbox_items()[-DELIVERIES:]][::-1]
        return console.render(
            request, "alerts.html.j2", status, firing=[alert_row(a) for a in
                                                       store.firing_alerts()],
            recent=[alert_row(a) for a in recent], deliveries=deliveries,
            counts=store.outbox_counts(), errors=errors or {}, form=form or {},
            done=request.query_params.get("done", ""))

    async def posted(request: Request, scope: str, title: str
                     ) -> tuple[dict[str, str], Response | None]:
        fields = await console.fields(request)
        if fields is None:
            return {}, console.message(request, 413, title, "The form is too large.")
        denial = access.form(request, fields, scope)
        if denial is not None:
            return fields, console.refusal(request, _worded(denial), title, "/alerts")
        if service() is None:
            return fields, console.message(request, 503, title, "Alerting is not running.")
        return fields, None

    async def form_ack(request: Request, given: Inputs) -> Response:
        fields, refused = await posted(request, "ack", "Acknowledgement not saved")
        if refused is not None:
            return refused
        form = s.AckForm.model_validate(fields)
        principal = caller(request)
        by = form.by.strip() or (principal.name if principal else "web")
        now = clock().time()
        fingerprint = given.path.fingerprint
        try:
            expires = form.expires.strip()
            expires_at = now + parse_duration(expires) if expires else None
        except ValueError as exc:
            note(request, reason=f"expires: {exc}")
            return page(request, 422, {fingerprint: {"expires": f"Expires after: {exc}"}},
                        fields)
        note(request, summary=ack_summary(by, form.comment, form.sticky == "on", expires_at,
                                          now))
        try:
            service().ack(fingerprint, by, form.comment,  # type: ignore[union-attr]
                          sticky=form.sticky == "on", expires_at=expires_at, now=now)
        except AckError as exc:
            note(request, reason=str(exc))
            return console.message(request, ACK_STATUS[exc.reason],
                                   "Acknowledgement not saved", str(exc), "/alerts", "Back")
        back = local_path(form.next) if form.next else "/alerts"
        mark = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{mark}acked={quote(fingerprint)}", status_code=303)

    async def form_unack(request: Request, given: Inputs) -> Response:
        fields, refused = await posted(request, "ack", "Acknowledgement not withdrawn")
        if refused is not None:
            return refused
        principal = caller(request)
        by = principal.name if principal else "web"
        note(request, summary=f"unack by {by!r}")
        try:
            service().unack(given.path.fingerprint, by,  # type: ignore[union-attr]
                            now=clock().time())
        except AckError as exc:
            note(request, reason=str(exc))
            return console.message(request, ACK_STATUS[exc.reason],
                                   "Acknowledgement not withdrawn", str(exc), "/alerts", "Back")
        back = local_path(fields.get("next", "") or "/alerts")
        return RedirectResponse(back, status_code=303)

    async def retry(request: Request, given: Inputs) -> Response:
        _, refused = await posted(request, "ack", "Notification not retried")
        if refused is not None:
            return refused
        note(request, summary=f"retry notification {given.path.id}")
        if not view.store.requeue_item(given.path.id, clock().time()):
            note(request, reason="no failed notification with that id")
            return console.message(request, 404, "Notification not retried",
                                   f"No failed notification {given.path.id}: it may have "
                                   "been retried already.", "/alerts", "Back")
        dispatcher = getattr(view, "dispatcher", None)  # send it now, not at the next poll
        if dispatcher is not None:
            dispatcher.wake()
        return RedirectResponse(f"/alerts?done=retry-{given.path.id}#deliveries",
                                status_code=303)

    def writes(what: str) -> dict[int, Reply]:
        return {303: Reply(f"{what}; back to the page", media=HTML), **{
            code: Reply(why, media=HTML) for code, why in (
                (401, "Not signed in, or a wrong token field"),
                (403, "Wrong CSRF token, the token lacks the ack scope, or no tokens are "
                      "configured"), (404, "No such alert or failed notification"),
                (409, "The alert is not firing (or not acknowledged)"),
                (413, "The form is too large"), (422, "Bad expires"),
                (503, "Alerting is not running"))}}

    async def alerts_page(request: Request, _: Inputs) -> Response:
        return page(request)

    return [
        Operation("GET", "/alerts", alerts_page,
                  "Alerts page: firing and recent alerts, the delivery log",
                  {200: Reply("OK", media=HTML)}),
        Operation("POST", "/alerts/{fingerprint}/ack", form_ack,
                  "The console's acknowledge form (session and CSRF token)",
                  writes("Saved"), path_params=s.AlertPath, form=s.AckForm, scope="ack",
                  action="alert.ack", not_found="no such alert"),
        Operation("POST", "/alerts/{fingerprint}/unack", form_unack,
                  "The console's withdraw-acknowledgement button", writes("Withdrawn"),
                  path_params=s.AlertPath, form=s.AckForm, scope="ack",
                  action="alert.unack", not_found="no such alert"),
        Operation("POST", "/outbox/{id:int}/retry", retry,
                  "The console's retry button for a failed notification", writes("Queued"),
                  path_params=s.OutboxPath, form=TokenForm, scope="ack",
                  action="outbox.retry", not_found="no such notification"),
    ]


# The page's wording for a wrong token field (scripts), as before sessions.
def _worded(denial: Denial) -> Denial:
    if denial.message == "missing or wrong bearer token":
        return Denial(denial.status, "wrong or missing token")
    return denial
