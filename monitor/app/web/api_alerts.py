"""Acknowledging alerts over the JSON API (the console's forms are page_alerts.py).

Part of the daemon's HTTP surface (monitor/app/web/api.py mounts these routes). Writes need a
token with the ack scope as ``Authorization: Bearer`` (monitor/app/web/access.py). Each
leaves an audit row.
The work itself is alerts/acks.py through the daemon's AlertService.
"""

from __future__ import annotations

import math
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from alerts.acks import AckError
from alerts.service import AlertService
from alerts.snapshot import ack_json
from monitor.app.audit import ack_summary
from monitor.app.web import schemas as s
from monitor.app.web.access import Access, note
from monitor.app.web.operations import Inputs, Operation, Reply, problem, reply
from monitor.kernel.clock import Clock, SystemClock

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
    """POST/DELETE /api/v1/alerts/{fingerprint}/ack."""

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

    path = "/api/v1/alerts/{fingerprint}/ack"
    unavailable = {503: Reply("Alerting is not running", s.Error)}
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
    ]
