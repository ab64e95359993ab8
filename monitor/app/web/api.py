"""The HTTP surface of the daemon: /metrics, /healthz, /readyz and the JSON API.

Served by uvicorn inside the daemon's event loop (monitor/app/web/server.py). Handlers
only read: check states and alerts come from the state store, metrics from the
registry at scrape time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from alerts.store import AlertRecord
from monitor import __version__
from monitor.app.store import StateStore
from monitor.app.web.api_alerts import ACK_OPENAPI, ack_json, ack_routes
from monitor.app.web.api_maintenance import OPENAPI_PATHS, OPENAPI_SCHEMAS, maintenance_routes
from monitor.state.store import CheckState


def write_refusal(request: Request, token: str | None) -> Response | None:
    """None when the request may write; else the 401/403 response that says why.

    Write operations (ack, maintenance windows) need ``Authorization: Bearer <token>``
    matching ``server.api_token``; compared in constant time.
    """
    if token is None:
        return JSONResponse({"error": "write operations are disabled: set server.api_token"
                             " in the config (the vigil CLI on the host works without it)"},
                            status_code=403)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return None


class DaemonView(Protocol):
    store: StateStore
    registry: CollectorRegistry

    def readiness_problems(self) -> list[str]: ...


def state_json(state: CheckState) -> dict[str, Any]:
    return {
        "lms": state.lms, "check": state.check, "type": state.check_type,
        "status": state.result.status.name, "status_code": int(state.result.status),
        "summary": state.result.summary, "details": dict(state.result.details),
        "samples": [{"name": s.name, "value": s.value, "labels": dict(s.labels)}
                    for s in state.result.samples],
        "ran_at": state.ran_at, "duration_seconds": state.duration,
        "consecutive_failures": state.consecutive_fail,
        "consecutive_successes": state.consecutive_ok, "last_change": state.last_change,
    }


def alert_json(alert: AlertRecord) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint, "lms": alert.lms, "check": alert.check,
        "state": alert.state, "status": alert.status.name, "summary": alert.summary,
        "labels": dict(alert.labels), "started_at": alert.started_at,
        "transition": alert.transition, "severity": alert.severity,
        "flapping": alert.flapping, "held_reason": alert.held,
        "acknowledged": ack_json(alert),
    }


def _clock_text(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_app(view: DaemonView) -> Starlette:
    pages = Environment(loader=PackageLoader("monitor.app.web", "templates"),
                        undefined=StrictUndefined,
                        autoescape=select_autoescape(["html", "html.j2"]))
    status_page = pages.get_template("status.html.j2")

    async def index(request: Request) -> Response:
        checks = [{"lms": s.lms, "check": s.check, "check_type": s.check_type,
                   "result": s.result, "ran": _clock_text(s.ran_at)} for s in view.store.states()]
        alerts = [{"lms": a.lms, "check": a.check, "status": a.status, "summary": a.summary,
                   "since": _clock_text(a.started_at), "fingerprint": a.fingerprint,
                   "severity": a.severity, "held": a.held, "flapping": a.flapping,
                   "ack": ack_json(a)} for a in view.store.firing_alerts()]
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return HTMLResponse(status_page.render(checks=checks, alerts=alerts, now=now,
                                               acked=request.query_params.get("acked")))

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(view.registry), media_type=content_type)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        problems = view.readiness_problems()
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return JSONResponse(body, status_code=200 if not problems else 503)

    async def checks(request: Request) -> Response:
        wanted = request.query_params.get("lms")
        states = [s for s in view.store.states() if wanted in (None, s.lms)]
        return JSONResponse({"checks": [state_json(s) for s in states]})

    async def one_check(request: Request) -> Response:
        lms, name = request.path_params["lms"], request.path_params["check"]
        state = view.store.get_state(lms, name)
        if state is None:
            return JSONResponse({"error": f"no check {name!r} on LMS {lms!r}"}, status_code=404)
        history = [{"ran_at": at, "status": status.name, "summary": summary}
                   for at, status, summary in view.store.history(lms, name, limit=50)]
        return JSONResponse({**state_json(state), "history": history})

    async def alerts(request: Request) -> Response:
        return JSONResponse({"alerts": [alert_json(a) for a in view.store.firing_alerts()]})

    async def one_alert(request: Request) -> Response:
        alert = view.store.get_alert(request.path_params["fingerprint"])
        if alert is None:
            return JSONResponse({"error": "no such alert"}, status_code=404)
        transitions = [{"transition": n, "kind": kind, "at": at, "summary": summary}
                       for n, kind, at, summary in view.store.transitions(alert.fingerprint)]
        return JSONResponse({**alert_json(alert), "transitions": transitions})

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    routes: list[tuple[str, Callable[..., Any]]] = [
        ("/", index), ("/metrics", metrics), ("/healthz", healthz), ("/readyz", readyz),
        ("/api/v1/checks", checks), ("/api/v1/checks/{lms}/{check}", one_check),
        ("/api/v1/alerts", alerts), ("/api/v1/alerts/{fingerprint}", one_alert),
        ("/api/v1/openapi.json", openapi),
    ]
    mounted = [Route(path, fn, methods=["GET"]) for path, fn in routes]
    mounted += ack_routes(view, write_refusal)  # POST/DELETE .../ack, the status page form
    if hasattr(view, "maintenance"):  # windows, /maintenance.ics, the maintenance page
        mounted += maintenance_routes(view, pages, write_refusal)  # type: ignore[arg-type]
    return Starlette(routes=mounted)


def _get(summary: str, schema: str | None = None, extra: dict[str, Any] | None = None) -> Any:
    responses: dict[str, Any] = {"200": {"description": "OK"}}
    if schema:
        responses["200"]["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    return {"get": {"summary": summary, "responses": {**responses, **(extra or {})}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Vigil API", "version": __version__},
    "paths": {
        "/healthz": _get("The process is alive"),
        "/readyz": _get("Config loaded, scheduler running, state writable",
                        extra={"503": {"description": "Not ready; body lists problems"}}),
        "/metrics": _get("Prometheus exposition"),
        "/api/v1/checks": _get("Current state of every check (filter with ?lms=)", "CheckList"),
        "/api/v1/checks/{lms}/{check}": {
            **_get("One check with recent history", "Check",
                   {"404": {"description": "No such check"}}),
            "parameters": [
                {"name": "lms", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "check", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
        },
        "/api/v1/alerts": _get("Alerts currently firing", "AlertList"),
        "/api/v1/alerts/{fingerprint}": {
            **_get("One alert (firing or not) with its transitions", "Alert",
                   {"404": {"description": "No such alert"}}),
            "parameters": [{"name": "fingerprint", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
        },
        **ACK_OPENAPI,
        "/": _get("Status page (HTML)"),
    },
    "components": {"schemas": {
        "Check": {"type": "object", "required": ["lms", "check", "status", "summary"],
                  "properties": {
                      "lms": {"type": "string"}, "check": {"type": "string"},
                      "type": {"type": "string"},
                      "status": {"enum": ["OK", "WARNING", "CRITICAL", "UNKNOWN"]},
                      "status_code": {"type": "integer"}, "summary": {"type": "string"},
                      "details": {"type": "object"}, "samples": {"type": "array"},
                      "ran_at": {"type": "number"}, "duration_seconds": {"type": "number"},
                      "consecutive_failures": {"type": "integer"},
                      "consecutive_successes": {"type": "integer"},
                      "last_change": {"type": "number"}}},
        "CheckList": {"type": "object", "properties": {
            "checks": {"type": "array", "items": {"$ref": "#/components/schemas/Check"}}}},
        "Alert": {"type": "object", "properties": {
            "fingerprint": {"type": "string"}, "lms": {"type": "string"},
            "check": {"type": "string"}, "state": {"type": "string"},
            "status": {"type": "string"}, "summary": {"type": "string"},
            "labels": {"type": "object"}, "started_at": {"type": ["number", "null"]},
            "transition": {"type": "integer"},
            "severity": {"enum": ["info", "warning", "critical", "page"]},
            "flapping": {"type": "boolean"}, "held_reason": {"type": ["string", "null"]},
            "acknowledged": {"type": ["object", "null"]}}},
        "AlertList": {"type": "object", "properties": {
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}}},
    }},
}
OPENAPI["paths"].update(OPENAPI_PATHS)  # maintenance (monitor/app/web/api_maintenance.py)
OPENAPI["components"]["schemas"].update(OPENAPI_SCHEMAS)
OPENAPI["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
