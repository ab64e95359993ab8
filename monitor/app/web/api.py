"""The HTTP surface of the daemon: /metrics, /healthz, /readyz and the JSON API.

Served by uvicorn inside the daemon's event loop (monitor/app/web/server.py). Handlers
only read: check states and alerts come from the state store, metrics from the
registry at scrape time. Every route is an ``Operation`` (monitor/app/web/operations.py):
its inputs and JSON replies are models (schemas.py) and /api/v1/openapi.json is built
from the same table (openapi.py); acks and maintenance windows add their own operations.
"""

from __future__ import annotations

from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from alerts.snapshot import ack_json
from alerts.store import AlertRecord
from monitor import __version__
from monitor.app.audit import AuditLog
from monitor.app.scrape import Gzip, Masked, Scrape, wants_gzip
from monitor.app.store import StateStore
from monitor.app.tokens import ApiToken
from monitor.app.web import schemas as s
from monitor.app.web.access import Access
from monitor.app.web.api_alerts import ack_operations
from monitor.app.web.api_audit import audit_operations
from monitor.app.web.api_maintenance import maintenance_operations
from monitor.app.web.console import Console, console_operations
from monitor.app.web.openapi import document
from monitor.app.web.operations import Inputs, Operation, Reply, mount, problem, reply
from monitor.app.web.page_alerts import alerts_operations
from monitor.app.web.page_check import check_operations
from monitor.app.web.page_maintenance import page_maintenance_operations
from monitor.app.web.page_overview import overview_operations
from monitor.kernel.clock import SystemClock
from monitor.state.store import CheckState


def access_for(view: object) -> Access:
    """Tokens read from the view's config at each request (a reload takes effect at once);
    the audit log over the view's state file."""

    def tokens() -> list[ApiToken]:
        config = getattr(view, "config", None)
        return config.server.api_tokens() if config is not None else []

    store = getattr(view, "store", None)
    audit = AuditLog(store.database) if store is not None else None
    clock = getattr(view, "clock", None) or SystemClock()
    return Access(tokens, audit, clock.time)


class DaemonView(Protocol):
    store: StateStore
    registry: CollectorRegistry

    def readiness_problems(self) -> list[str]: ...


def check_model(state: CheckState) -> s.Check:
    return s.Check(
        lms=state.lms,
        check=state.check,
        type=state.check_type,
        status=state.result.status.name,  # type: ignore[arg-type]
        status_code=int(state.result.status),
        summary=state.result.summary,
        details=dict(state.result.details),
        samples=[
            s.Sample(name=x.name, value=x.value, labels=dict(x.labels))
            for x in state.result.samples
        ],
        ran_at=state.ran_at,
        duration_seconds=state.duration,
        consecutive_failures=state.consecutive_fail,
        consecutive_successes=state.consecutive_ok,
        last_change=state.last_change,
    )


def alert_model(alert: AlertRecord) -> s.Alert:
    ack = ack_json(alert)
    return s.Alert(
        fingerprint=alert.fingerprint,
        lms=alert.lms,
        check=alert.check,
        state=alert.state,
        status=alert.status.name,  # type: ignore[arg-type]
        summary=alert.summary,
        labels=dict(alert.labels),
        started_at=alert.started_at,
        transition=alert.transition,
        severity=alert.severity,
        flapping=alert.flapping,
        held_reason=alert.held,
        acknowledged=s.Acknowledgement.model_validate(ack) if ack else None,
    )


def create_app(view: DaemonView) -> Starlette:
    pages = Environment(
        loader=PackageLoader("monitor.app.web", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "html.j2"]),
    )
    access = access_for(view)
    console = Console(pages, access)  # the signed-in pages (issue #15)
    operations = core_operations(view)
    operations += ack_operations(view, access)  # POST/DELETE /api/v1/alerts/.../ack
    operations += console_operations(console)  # sign in/out, the audit log page
    operations += overview_operations(view, console) + check_operations(view, console)
    operations += alerts_operations(view, console)  # alerts, ack forms, delivery log
    if hasattr(view, "maintenance"):  # windows, /maintenance.ics, the maintenance page
        operations += maintenance_operations(view, access)  # type: ignore[arg-type]
        operations += page_maintenance_operations(view, console)  # type: ignore[arg-type]
    if access.audit is not None:
        operations += audit_operations(access.audit)  # GET /api/v1/audit
    spec: dict[str, Any] = {}

    async def openapi(request: Request, _: Inputs) -> Response:
        return JSONResponse(spec)

    operations.append(
        Operation(
            "GET",
            "/api/v1/openapi.json",
            openapi,
            "This document (OpenAPI 3.1)",
            {200: Reply("OpenAPI 3.1")},
        )
    )
    spec.update(document(operations, __version__))  # exactly the operations mounted below

    async def http_error(request: Request, exc: Exception) -> Response:
        """Unknown paths and methods: JSON under /api/, as every other API answer; a
        console page elsewhere, plain text for the machine endpoints."""
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return problem(exc.status_code, exc.detail.lower(), headers=exc.headers)
        if "text/html" in request.headers.get("accept", ""):
            page = console.message(
                request, exc.status_code, exc.detail, f"{exc.detail}: {request.url.path}"
            )
            for key, value in (exc.headers or {}).items():  # e.g. Allow on a 405
                page.headers[key] = value
            return page
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    return Starlette(
        routes=mount(operations, access), exception_handlers={HTTPException: http_error}
    )


def core_operations(view: DaemonView) -> list[Operation]:
    state = getattr(getattr(view, "metrics", None), "state", None)  # the daemon's collector
    scrape = Scrape(view.registry, state) if state is not None else None
    secrets = getattr(view, "secrets", None)  # the daemon's SecretRegistry, if any
    masked = Masked(secrets) if secrets is not None else None
    gzip = Gzip()

    async def metrics(request: Request, _: Inputs) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        if scrape is None:  # a view without the daemon's metrics: the plain encoder
            return Response(encoder(view.registry), media_type=content_type)
        parts = scrape.parts(encoder, content_type.startswith("application/openmetrics"))
        vary = {"Vary": "Accept-Encoding"}
        if not wants_gzip(request.headers.get("accept-encoding", "")):
            return Response(b"".join(parts), media_type=content_type, headers=vary)
        if masked is not None and secrets:  # before compressing: RedactingApp cannot read gzip
            parts = masked(parts)
        body = gzip(parts)  # on the loop: see Gzip
        return Response(body, media_type=content_type, headers={**vary, "Content-Encoding": "gzip"})

    async def healthz(request: Request, _: Inputs) -> Response:
        return reply(s.Health(status="ok", version=__version__))

    async def readyz(request: Request, _: Inputs) -> Response:
        problems = view.readiness_problems()
        body = s.Readiness(status="ready" if not problems else "not ready", problems=problems)
        return reply(body, 200 if not problems else 503)

    async def checks(request: Request, given: Inputs) -> Response:
        wanted = given.query.lms
        states = [x for x in view.store.states() if wanted in (None, x.lms)]
        return reply(s.CheckList(checks=[check_model(x) for x in states]))

    async def one_check(request: Request, given: Inputs) -> Response:
        lms, name = given.path.lms, given.path.check
        state = view.store.get_state(lms, name)
        if state is None:
            return problem(404, f"no check {name!r} on LMS {lms!r}")
        history = [
            s.CheckRun(ran_at=at, status=status.name, summary=summary)  # type: ignore[arg-type]
            for at, status, summary in view.store.history(lms, name, limit=50)
        ]
        return reply(s.CheckDetail(**dict(check_model(state)), history=history))

    async def alerts(request: Request, _: Inputs) -> Response:
        return reply(s.AlertList(alerts=[alert_model(a) for a in view.store.firing_alerts()]))

    async def one_alert(request: Request, given: Inputs) -> Response:
        alert = view.store.get_alert(given.path.fingerprint)
        if alert is None:
            return problem(404, "no such alert")
        transitions = [
            s.AlertTransition(transition=n, kind=kind, at=at, summary=summary)
            for n, kind, at, summary in view.store.transitions(alert.fingerprint)
        ]
        return reply(s.AlertDetail(**dict(alert_model(alert)), transitions=transitions))

    return [
        Operation(
            "GET",
            "/metrics",
            metrics,
            "Prometheus exposition (text or OpenMetrics)",
            {200: Reply("OK", media="text/plain")},
        ),
        Operation(
            "GET", "/healthz", healthz, "The process is alive", {200: Reply("Alive", s.Health)}
        ),
        Operation(
            "GET",
            "/readyz",
            readyz,
            "Config loaded, scheduler running, state writable",
            {
                200: Reply("Ready", s.Readiness),
                503: Reply("Not ready; problems say why", s.Readiness),
            },
        ),
        Operation(
            "GET",
            "/api/v1/checks",
            checks,
            "Current state of every check",
            {200: Reply("OK", s.CheckList)},
            query=s.CheckQuery,
        ),
        Operation(
            "GET",
            "/api/v1/checks/{lms}/{check}",
            one_check,
            "One check with its recent history",
            {200: Reply("OK", s.CheckDetail)},
            path_params=s.CheckPath,
            not_found="no such check",
        ),
        Operation(
            "GET",
            "/api/v1/alerts",
            alerts,
            "Alerts currently firing",
            {200: Reply("OK", s.AlertList)},
        ),
        Operation(
            "GET",
            "/api/v1/alerts/{fingerprint}",
            one_alert,
            "One alert (firing or not) with its transitions",
            {200: Reply("OK", s.AlertDetail)},
            path_params=s.AlertPath,
            not_found="no such alert",
        ),
    ]
