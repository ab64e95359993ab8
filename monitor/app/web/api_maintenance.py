"""HTTP endpoints for maintenance windows: the JSON API, the iCalendar feed and the web page.

monitor/app/web/api.py mounts these routes when the daemon has a MaintenanceBook. Reads are open
like the rest of the API; writes need a token with the maintenance scope, and a window
whose actions act on the LMS (Moodle's maintenance mode) or accept integrity changes needs
lms-actions as well, when it is added and whenever an edit leaves it so
(monitor/app/web/access.py). Every write leaves an audit row. Adding or editing goes through
alerts/maintenance/scheduling.py, which refuses windows over Moodle exams unless forced.

  GET    /api/v1/maintenance            windows (?all=1 with ended ones)
  POST   /api/v1/maintenance            add (201; 400 bad window; 409 exam conflict)
  GET    /api/v1/maintenance/{id}       one window and its next occurrences
  PATCH  /api/v1/maintenance/{id}       edit (409 for config windows or exam conflict)
  DELETE /api/v1/maintenance/{id}       end now
  GET    /maintenance.ics               iCalendar feed (text/calendar)

The console's maintenance page and its forms are monitor/app/web/page_maintenance.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from alerts.maintenance.book import (
    MaintenanceBook,
    ReadOnlyWindow,
    WindowError,
    WindowNotFound,
    parse_spec,
)
from alerts.maintenance.model import WindowActions
from alerts.maintenance.scheduling import Outcome, add_window, edit_window
from alerts.maintenance.store import Window
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.app.audit import window_summary
from monitor.app.tokens import LMS_ACTIONS, LMS_ACTIONS_WHEN, acts_on_lms
from monitor.app.web import schemas as s
from monitor.app.web import schemas_maintenance as sm
from monitor.app.web.access import Access, note
from monitor.app.web.operations import Handler, Inputs, Operation, Reply, problem, reply
from monitor.kernel.clock import Clock

MAX_FORM_BYTES = 65_536


class MaintenanceView(Protocol):
    config: Any  # VigilConfig
    clock: Clock
    maintenance: MaintenanceBook
    sites: Any  # SiteRegistry


def window_json(book: MaintenanceBook, window: Window, now: float, upcoming: int = 1
                ) -> dict[str, Any]:
    body = window.as_json()
    found = book.next_of(window, now, upcoming)
    body["active"] = any(o.contains(now) for o in found)
    body["next"] = [{"start": o.start, "end": o.end,
                     "start_local": _local(o.start, window.spec.timezone),
                     "end_local": _local(o.end, window.spec.timezone) if o.end else None}
                    for o in found]
    return body


def _local(timestamp: float, zone: str) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _outcome(outcome: Outcome, status: int) -> Response:
    """201/200 with the stored window, or 409 with the exams in the way."""
    body = outcome.as_json()
    if outcome.refused:
        return reply(sm.Refusal.model_validate(body), 409)
    return reply(sm.Scheduled.model_validate(body), status)


def maintenance_operations(view: MaintenanceView, access: Access) -> list[Operation]:

    def lms_denial(request: Request, actions: WindowActions | dict[str, Any] | None
                   ) -> Response | None:
        if not acts_on_lms(actions):
            return None
        denial = access.also(request, LMS_ACTIONS, LMS_ACTIONS_WHEN)
        return None if denial is None else problem(denial.status, denial.message)

    def book() -> MaintenanceBook:
        return view.maintenance

    def sites() -> Any:
        return view.sites.lms_for(view.config)  # LMS name -> (kind, site access)

    async def expanded(windows: list[Window], now: float, upcoming: int = 1
                       ) -> list[dict[str, Any]]:
        """Each window with its next occurrences, computed in a worker thread: a walk is
        bounded (at most ~3,400 instants per window, alerts/maintenance/rules.py), but many
        windows together must still not hold the event loop (issue #11)."""
        return await asyncio.to_thread(
            lambda: [window_json(book(), w, now, upcoming) for w in windows])

    async def list_windows(request: Request, given: Inputs) -> Response:
        now = view.clock.time()
        include_ended = given.query.all in ("1", "true", "yes")
        windows = book().list(include_ended=include_ended)
        return reply(sm.WindowList.model_validate({"windows": await expanded(windows, now)}))

    async def create(request: Request, given: Inputs) -> Response:
        body: sm.MaintenanceWindowInput = given.body
        fields = body.window_fields()
        note(request, summary=window_summary("add", fields))
        if (refused := lms_denial(request, body.actions)) is not None:
            return refused
        fields.setdefault("created_by", "api")
        try:
            spec = parse_spec(fields)
            outcome = await add_window(book(), spec, sites(), actions=MAINTENANCE_ACTIONS,
                                       source="api", force=body.force, now=view.clock.time())
        except WindowError as exc:
            return problem(400, "invalid maintenance window", exc.problems)
        if outcome.window is not None:
            note(request, target=str(outcome.window.id))
        return _outcome(outcome, 201)

    async def one(request: Request, given: Inputs) -> Response:
        try:
            window = book().get(given.path.id)
        except WindowNotFound as exc:
            return problem(404, str(exc))
        [body] = await expanded([window], view.clock.time(), upcoming=10)
        return reply(sm.WindowState.model_validate(body))

    async def edit(request: Request, given: Inputs) -> Response:
        body: sm.MaintenanceWindowChanges = given.body
        note(request, summary=window_summary("edit", body.window_fields()))
        try:
            # The window as it will be: its own actions unless the edit replaces them.
            current = book().get(given.path.id)
        except WindowNotFound as exc:
            return problem(404, str(exc))
        actions = body.actions if "actions" in body.model_fields_set else current.spec.actions
        if (refused := lms_denial(request, actions)) is not None:
            return refused
        try:
            outcome = await edit_window(book(), given.path.id, body.window_fields(), sites(),
                                        actions=MAINTENANCE_ACTIONS, force=body.force,
                                        now=view.clock.time())
        except WindowNotFound as exc:
            return problem(404, str(exc))
        except ReadOnlyWindow as exc:
            return problem(409, str(exc))
        except WindowError as exc:
            return problem(400, "invalid maintenance window", exc.problems)
        return _outcome(outcome, 200)

    async def end(request: Request, given: Inputs) -> Response:
        note(request, summary="end now")
        try:
            window = book().end(given.path.id, now=view.clock.time())
        except WindowNotFound as exc:
            return problem(404, str(exc))
        except ReadOnlyWindow as exc:
            return problem(409, str(exc))
        return reply(sm.Ended.model_validate({"window": window.as_json()}))

    async def ics(request: Request, _: Inputs) -> Response:
        render_feed = book().ics_renderer(view.clock.time())  # VTIMEZONEs: off the loop
        return Response(await asyncio.to_thread(render_feed), media_type="text/calendar",
                        headers={"Content-Disposition": 'inline; filename="maintenance.ics"'})

    return _table(list_windows, create, one, edit, end, ics)



def _table(list_windows: Handler, create: Handler, one: Handler, edit: Handler,
           end: Handler, ics: Handler) -> list[Operation]:
    one_path = "/api/v1/maintenance/{id:int}"
    missing = {404: Reply("No such window", s.Error)}
    read_only = "The window comes from the config file"
    bad = {400: Reply("Invalid window; problems say field: rule (missing or unknown "
                      "fields, timezone, times, rrule, matchers, LMS)", s.Error)}
    exams = "Overlaps Moodle exams; exams lists them (send force: true)"
    lms = (LMS_ACTIONS, LMS_ACTIONS_WHEN)
    return [
        Operation("GET", "/api/v1/maintenance", list_windows, "Maintenance windows",
                  {200: Reply("OK", sm.WindowList)}, query=sm.WindowQuery),
        Operation("POST", "/api/v1/maintenance", create, "Schedule a window",
                  {201: Reply("Scheduled", sm.Scheduled), **bad, 409: Reply(exams, sm.Refusal)},
                  body=sm.MaintenanceWindowInput, scope="maintenance", also=lms,
                  action="maintenance.create"),
        Operation("GET", one_path, one, "One window with its next occurrences",
                  {200: Reply("OK", sm.WindowState), **missing}, path_params=sm.WindowPath,
                  not_found="no such window"),
        Operation("PATCH", one_path, edit, "Change fields of a window (API and CLI windows)",
                  {200: Reply("Changed", sm.Scheduled), **bad, **missing,
                   409: Reply(f"{exams}, or {read_only.lower()}", sm.Refusal)},
                  path_params=sm.WindowPath, body=sm.MaintenanceWindowChanges,
                  scope="maintenance", also=lms, action="maintenance.edit",
                  not_found="no such window"),
        Operation("DELETE", one_path, end, "End the window now",
                  {200: Reply("Ended", sm.Ended), **missing, 409: Reply(read_only, s.Error)},
                  path_params=sm.WindowPath, scope="maintenance", action="maintenance.end",
                  not_found="no such window"),
        Operation("GET", "/maintenance.ics", ics, "Maintenance windows as an iCalendar feed",
                  {200: Reply("OK", media="text/calendar")}),
    ]

