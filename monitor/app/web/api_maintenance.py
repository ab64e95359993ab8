"""HTTP endpoints for maintenance windows: the JSON API, the iCalendar feed and the web page.

monitor/app/web/api.py mounts these routes when the daemon has a MaintenanceBook. Reads are open
like the rest of the API; writes need the bearer token (``write_refusal``), and the web
form carries the token in a field. Adding or editing goes through
alerts/maintenance/scheduling.py, which refuses windows over Moodle exams unless forced;
the page shows the conflicting quizzes and offers to force.

  GET    /api/v1/maintenance            windows (?all=1 with ended ones)
  POST   /api/v1/maintenance            add (201; 400 bad window; 409 exam conflict)
  GET    /api/v1/maintenance/{id}       one window and its next occurrences
  PATCH  /api/v1/maintenance/{id}       edit (409 for config windows or exam conflict)
  DELETE /api/v1/maintenance/{id}       end now
  GET    /maintenance.ics               iCalendar feed (text/calendar)
  GET    /maintenance, POST /maintenance  web page and its add form
  POST   /maintenance/{id}/end          the page's end button
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from alerts.maintenance.book import (
    MaintenanceBook,
    ReadOnlyWindow,
    WindowError,
    WindowNotFound,
    parse_spec,
)
from alerts.maintenance.scheduling import Outcome, add_window, edit_window
from alerts.maintenance.store import Window
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.kernel.clock import Clock

Refusal = Callable[[Request, "str | None"], "Response | None"]
_UPCOMING = 400 * 86400.0  # "next occurrence" looks this far ahead


class MaintenanceView(Protocol):
    config: Any  # VigilConfig
    clock: Clock
    maintenance: MaintenanceBook
    sites: Any  # SiteRegistry


def _token(view: MaintenanceView) -> str | None:
    secret = view.config.server.api_token
    return secret.get_secret_value() if secret is not None else None


def window_json(book: MaintenanceBook, window: Window, now: float, upcoming: int = 1
                ) -> dict[str, Any]:
    body = window.as_json()
    found = [o for o in book.occurrences_between(now, now + _UPCOMING)
             if o.window_id == window.id][:upcoming]
    body["active"] = any(o.contains(now) for o in found)
    body["next"] = [{"start": o.start, "end": o.end,
                     "start_local": _local(o.start, window.spec.timezone),
                     "end_local": _local(o.end, window.spec.timezone) if o.end else None}
                    for o in found]
    return body


def _local(timestamp: float, zone: str) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _problem(status: int, error: str, problems: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error}
    if problems is not None:
        body["problems"] = problems
    return JSONResponse(body, status_code=status)


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _problem(400, f"body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _problem(400, "body must be a JSON object with the window's fields")
    return body


def maintenance_routes(view: MaintenanceView, pages: Environment,
                       write_refusal: Refusal) -> list[Route]:
    page = pages.get_template("maintenance.html.j2")

    def book() -> MaintenanceBook:
        return view.maintenance

    def sites() -> Any:
        return view.sites.lms_for(view.config)  # LMS name -> (kind, site access)

    async def list_windows(request: Request) -> Response:
        now = view.clock.time()
        include_ended = request.query_params.get("all") in ("1", "true", "yes")
        return JSONResponse({"windows": [window_json(book(), w, now)
                                         for w in book().list(include_ended=include_ended)]})

    async def create(request: Request) -> Response:
        refused = write_refusal(request, _token(view))
        if refused is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        force = bool(body.pop("force", False))
        body.setdefault("created_by", "api")
        try:
            spec = parse_spec(body)
            outcome = await add_window(book(), spec, sites(), actions=MAINTENANCE_ACTIONS,
                                       source="api", force=force, now=view.clock.time())
        except WindowError as exc:
            return _problem(400, "invalid maintenance window", exc.problems)
        return JSONResponse(outcome.as_json(), status_code=409 if outcome.refused else 201)

    async def one(request: Request) -> Response:
        try:
            window = book().get(int(request.path_params["id"]))
        except WindowNotFound as exc:
            return _problem(404, str(exc))
        return JSONResponse(window_json(book(), window, view.clock.time(), upcoming=10))

    async def change(request: Request) -> Response:
        refused = write_refusal(request, _token(view))
        if refused is not None:
            return refused
        window_id = int(request.path_params["id"])
        try:
            if request.method == "DELETE":
                window = book().end(window_id, now=view.clock.time())
                return JSONResponse({"window": window.as_json()})
            body = await _json_body(request)
            if isinstance(body, JSONResponse):
                return body
            force = bool(body.pop("force", False))
            outcome = await edit_window(book(), window_id, body, sites(),
                                        actions=MAINTENANCE_ACTIONS, force=force,
                                        now=view.clock.time())
        except WindowNotFound as exc:
            return _problem(404, str(exc))
        except ReadOnlyWindow as exc:
            return _problem(409, str(exc))
        except WindowError as exc:
            return _problem(400, "invalid maintenance window", exc.problems)
        return JSONResponse(outcome.as_json(), status_code=409 if outcome.refused else 200)

    async def ics(request: Request) -> Response:
        return Response(book().ics(view.clock.time()), media_type="text/calendar",
                        headers={"Content-Disposition": 'inline; filename="maintenance.ics"'})

    def render(status: int = 200, form: dict[str, str] | None = None,
               outcome: Outcome | None = None, problems: list[str] | None = None,
               ended: int | None = None) -> Response:
        now = view.clock.time()
        windows = [window_json(book(), w, now) for w in book().list(include_ended=False)]
        return HTMLResponse(page.render(
            windows=windows, form=form or {}, outcome=outcome, problems=problems or [],
            ended=ended, lms_names=[lms.name for lms in view.config.lms]), status_code=status)

    async def form_fields(request: Request) -> tuple[dict[str, str], Response | None]:
        """The posted form, and the page to answer with when its token does not do."""
        fields = {k: v[-1] for k, v in parse_qs((await request.body()).decode(
            "utf-8", "replace"), keep_blank_values=True).items()}
        token = _token(view)
        if token is None:
            return fields, render(403, fields, problems=[
                "write operations are disabled: set server.api_token in the config"])
        if not hmac.compare_digest(fields.pop("token", "").encode(), token.encode()):
            return fields, render(401, fields, problems=["token: missing or wrong API token"])
        return fields, None

    async def web_page(request: Request) -> Response:
        if request.method == "GET":
            # After "End now" the window leaves the list; say so instead of nothing.
            ended = request.query_params.get("ended", "")
            return render(ended=int(ended) if ended.isdigit() else None)
        fields, refused = await form_fields(request)
        if refused is not None:
            return refused
        try:
            spec = parse_spec(_form_window(fields))
            outcome = await add_window(book(), spec, sites(), actions=MAINTENANCE_ACTIONS,
                                       source="api", force=fields.get("force") == "on",
                                       now=view.clock.time())
        except WindowError as exc:
            return render(400, fields, problems=exc.problems)
        if outcome.refused:
            return render(409, fields, outcome=outcome)
        return RedirectResponse("/maintenance", status_code=303)

    async def web_end(request: Request) -> Response:
        _, refused = await form_fields(request)
        if refused is not None:
            return refused
        window_id = int(request.path_params["id"])
        try:
            book().end(window_id, now=view.clock.time())
        except (WindowNotFound, ReadOnlyWindow) as exc:
            return render(404 if isinstance(exc, WindowNotFound) else 409, problems=[str(exc)])
        return RedirectResponse(f"/maintenance?ended={window_id}", status_code=303)

    return [
        Route("/api/v1/maintenance", list_windows, methods=["GET"]),
        Route("/api/v1/maintenance", create, methods=["POST"]),
        Route("/api/v1/maintenance/{id:int}", one, methods=["GET"]),
        Route("/api/v1/maintenance/{id:int}", change, methods=["PATCH", "DELETE"]),
        Route("/maintenance.ics", ics, methods=["GET"]),
        Route("/maintenance", web_page, methods=["GET", "POST"]),
        Route("/maintenance/{id:int}/end", web_end, methods=["POST"]),
    ]


def _form_window(fields: dict[str, str]) -> dict[str, Any]:
    """The window fields of the web form; empty inputs are left out."""
    data: dict[str, Any] = {key: fields[key] for key in (
        "name", "kind", "timezone", "start", "end", "duration", "rrule", "comment",
        "created_by", "lms", "check") if fields.get(key, "").strip()}
    matchers = [m.strip() for m in fields.get("matchers", "").split(",") if m.strip()]
    if matchers:
        data["matchers"] = matchers
    data.setdefault("created_by", "web")
    return data


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_WRITE_ERRORS = {"400": {"description": "Invalid window; body lists problems as field: rule"},
                 "401": {"description": "Missing or wrong bearer token"},
                 "403": {"description": "Writes disabled (no server.api_token)"},
                 "409": {"description": "Overlaps Moodle exams (body lists them; send "
                         "force: true) or the window comes from the config file"}}
_WINDOW_BODY = {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/MaintenanceWindowInput"}}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/maintenance": {
        "get": {"summary": "Maintenance windows (?all=1 includes ended ones)",
                "responses": {"200": {"description": "OK"}}},
        "post": {"summary": "Schedule a window", "security": _BEARER,
                 "requestBody": _WINDOW_BODY,
                 "responses": {"201": {"description": "Scheduled"}, **_WRITE_ERRORS}},
    },
    "/api/v1/maintenance/{id}": {
        "parameters": _ID,
        "get": {"summary": "One window with its next occurrences",
                "responses": {"200": {"description": "OK"}, "404": {"description": "None"}}},
        "patch": {"summary": "Change fields of a window (API/CLI windows only)",
                  "security": _BEARER, "requestBody": _WINDOW_BODY,
                  "responses": {"200": {"description": "Changed"}, **_WRITE_ERRORS}},
        "delete": {"summary": "End the window now", "security": _BEARER,
                   "responses": {"200": {"description": "Ended"}, **_WRITE_ERRORS}},
    },
    "/maintenance.ics": {"get": {"summary": "Maintenance windows as an iCalendar feed",
                                 "responses": {"200": {"description": "text/calendar"}}}},
    "/maintenance": {"get": {"summary": "Maintenance page (HTML) with an add form",
                             "responses": {"200": {"description": "OK"}}}},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "MaintenanceWindowInput": {"type": "object", "properties": {
        "name": {"type": "string"}, "kind": {"enum": ["once", "recurring", "manual"]},
        "timezone": {"type": "string", "description": "IANA name, default UTC"},
        "start": {"type": "string", "description": "local wall-clock, 2026-03-29T02:30"},
        "end": {"type": "string"}, "duration": {"type": ["number", "string"]},
        "rrule": {"type": "string", "description": "RFC 5545, e.g. FREQ=WEEKLY;BYDAY=SU"},
        "matchers": {"type": "array", "items": {"type": "string"},
                     "description": "label matchers: lms=\"prod\", check=~\"cron|tasks\""},
        "lms": {"type": "string"}, "check": {"type": "string"},
        "actions": {"type": "object"}, "comment": {"type": "string"},
        "created_by": {"type": "string"}, "force": {"type": "boolean"}}},
}
