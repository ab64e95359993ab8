"""Acknowledging alerts over HTTP: the JSON API and the status page's ack form.

Part of the daemon's HTTP surface (monitor/app/web/api.py mounts these routes). Writes need the
API token: ``Authorization: Bearer`` for JSON, a token field for the HTML form (which also
keeps a foreign page from posting acks through a logged-in browser: there is no cookie).
The work itself is alerts/acks.py through the daemon's AlertService.
"""

from __future__ import annotations

import hmac
import json
import math
from typing import Any, Protocol
from urllib.parse import parse_qs, quote

from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from alerts.acks import AckError
from alerts.service import AlertService
from alerts.snapshot import ack_json
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.spec import PositiveDuration, StrictModel, parse_duration

ACK_STATUS = {"not_found": 404, "not_firing": 409, "not_acked": 409, "invalid": 422,
              "conflict": 409}
MAX_FORM_BYTES = 16_384


class AckBody(StrictModel):
    by: str = Field(min_length=1, max_length=100)
    comment: str = Field(default="", max_length=1000)
    sticky: bool = True
    # Either a duration from now ("2h") or a Unix time; absent: no expiry.
    expires_in: PositiveDuration | None = None
    expires_at: float | None = None


class UnackBody(StrictModel):
    by: str = Field(default="api", min_length=1, max_length=100)


class AckView(Protocol):
    """What the routes need from the daemon (monitor/app/daemon.py ``Daemon``)."""

    alerts: AlertService


def _token(view: object) -> str | None:
    config = getattr(view, "config", None)
    secret = config.server.api_token if config is not None else None
    return secret.get_secret_value() if secret is not None else None


def _clock(view: object) -> Clock:
    return getattr(view, "clock", None) or SystemClock()


def _service(view: object) -> AlertService | None:
    # The test views of other API tests carry no alert service; they get a 503 here.
    return getattr(view, "alerts", None)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())


def ack_expiry(expires_in: float | None, expires_at: float | None, now: float) -> float | None:
    if expires_in is not None and expires_at is not None:
        raise AckError("invalid", "expires_in, expires_at: give one, not both")
    if expires_in is not None:
        return now + expires_in
    if expires_at is not None and not math.isfinite(expires_at):
        raise AckError("invalid", "expires_at: must be a Unix time")
    return expires_at


def ack_routes(view: object, write_refusal: Any) -> list[Route]:
    """POST/DELETE /api/v1/alerts/{fingerprint}/ack and POST /alerts/{fingerprint}/ack."""

    def _writer(request: Request) -> Any:
        """The alert service for a JSON write, or the response that refuses it."""
        refused = write_refusal(request, _token(view))
        if refused is not None:
            return refused
        service = _service(view)
        if service is None:
            return JSONResponse({"error": "alerting is not running"}, status_code=503)
        return service

    async def json_ack(request: Request) -> Response:
        service = _writer(request)
        if isinstance(service, Response):
            return service
        fingerprint = request.path_params["fingerprint"]
        try:
            raw = await request.json()
            body = AckBody.model_validate(raw)
        except json.JSONDecodeError:
            return JSONResponse({"error": "body: must be a JSON object"}, status_code=400)
        except ValidationError as exc:
            return JSONResponse({"error": _problems(exc)}, status_code=422)
        now = _clock(view).time()
        try:
            expires_at = ack_expiry(body.expires_in, body.expires_at, now)
            alert = service.ack(fingerprint, body.by, body.comment, sticky=body.sticky,
                                expires_at=expires_at, now=now)
        except AckError as exc:
            return JSONResponse({"error": str(exc)}, status_code=ACK_STATUS[exc.reason])
        return JSONResponse({"fingerprint": alert.fingerprint, "acknowledged": ack_json(alert)})

    async def json_unack(request: Request) -> Response:
        service = _writer(request)
        if isinstance(service, Response):
            return service
        raw = await request.body()
        try:
            body = UnackBody.model_validate(json.loads(raw) if raw.strip() else {})
        except json.JSONDecodeError:
            return JSONResponse({"error": "body: must be a JSON object"}, status_code=400)
        except ValidationError as exc:
            return JSONResponse({"error": _problems(exc)}, status_code=422)
        try:
            alert = service.unack(request.path_params["fingerprint"], body.by,
                                  now=_clock(view).time())
        except AckError as exc:
            return JSONResponse({"error": str(exc)}, status_code=ACK_STATUS[exc.reason])
        return JSONResponse({"fingerprint": alert.fingerprint, "acknowledged": None})

    async def form_ack(request: Request) -> Response:
        """The status page's form: fields by, comment, token, sticky, expires (e.g. 2h)."""
        raw = await request.body()
        if len(raw) > MAX_FORM_BYTES:
            return _page("The form is too large.", 413)
        fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        token = _token(view)
        if token is None:
            return _page("Acknowledging from the web is disabled: set server.api_token.", 403)
        given = fields.get("token", "").strip().encode()
        if not hmac.compare_digest(given, token.encode()):
            return _page("Wrong or missing token.", 401)
        service = _service(view)
        if service is None:
            return _page("Alerting is not running.", 503)
        now = _clock(view).time()
        try:
            expires = fields.get("expires", "").strip()
            expires_at = now + parse_duration(expires) if expires else None
        except ValueError as exc:
            return _page(f"expires: {exc}", 422)
        try:
            service.ack(request.path_params["fingerprint"], fields.get("by", ""),
                        fields.get("comment", ""), sticky=fields.get("sticky") == "on",
                        expires_at=expires_at, now=now)
        except AckError as exc:
            return _page(str(exc), ACK_STATUS[exc.reason])
        fingerprint = quote(request.path_params["fingerprint"])
        return RedirectResponse(f"/?acked={fingerprint}", status_code=303)

    return [
        Route("/api/v1/alerts/{fingerprint}/ack", json_ack, methods=["POST"]),
        Route("/api/v1/alerts/{fingerprint}/ack", json_unack, methods=["DELETE"]),
        Route("/alerts/{fingerprint}/ack", form_ack, methods=["POST"]),
    ]


def _page(message: str, status: int) -> HTMLResponse:
    from html import escape

    return HTMLResponse(
        # The icon link: no /favicon.ico request, so no 404 in the browser's console.
        f"<!doctype html><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
        f"<title>Vigil: acknowledgement not saved</title>"
        f"<p>{escape(message)}</p><p><a href=\"/\">Back to the status page</a></p>",
        status_code=status)


_FP = [{"name": "fingerprint", "in": "path", "required": True, "schema": {"type": "string"}}]
_AUTH_ERRORS = {
    "401": {"description": "Missing or wrong bearer token"},
    "403": {"description": "Writes disabled (no server.api_token)"},
    "404": {"description": "No such alert"},
}
ACK_OPENAPI: dict[str, Any] = {
    "/api/v1/alerts/{fingerprint}/ack": {
        "parameters": _FP,
        "post": {
            "summary": "Acknowledge a firing alert (bearer token)",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["by"], "additionalProperties": False,
                "properties": {
                    "by": {"type": "string", "maxLength": 100},
                    "comment": {"type": "string", "maxLength": 1000},
                    "sticky": {"type": "boolean", "default": True,
                               "description": "true: until OK; false: until the status "
                                              "changes"},
                    "expires_in": {"type": ["string", "number"],
                                   "description": "duration, e.g. \"2h\"; then it "
                                                  "notifies again"},
                    "expires_at": {"type": "number", "description": "Unix time"}}}}}},
            "responses": {"200": {"description": "Acknowledged"}, **_AUTH_ERRORS,
                          "409": {"description": "The alert is not firing"},
                          "422": {"description": "Invalid body; the error names the field"}},
        },
        "delete": {
            "summary": "Withdraw an acknowledgement (bearer token)",
            "security": [{"bearer": []}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"by": {"type": "string"}}}}}},
            "responses": {"200": {"description": "Withdrawn"}, **_AUTH_ERRORS,
                          "409": {"description": "The alert is not acknowledged"}},
        },
    },
}
