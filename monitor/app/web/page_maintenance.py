"""The console's maintenance page (issue #15): a week or month calendar of the windows'
occurrences in the site's timezone (server.timezone), the list of windows with their
end-early buttons and post-maintenance reports, and the scheduling form with a preview.

The preview (POST /maintenance/preview, a plain submit: no JavaScript needed) shows the
next occurrences, the checks the matchers select and the open exams the window would
overlap, without storing anything. Scheduling goes through alerts/maintenance/scheduling.py
like the API: refused over exams unless "force" is ticked. Writes need the signed-in
session and its CSRF token (monitor/app/web/access.py) and leave an audit row.
"""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.maintenance.book import ReadOnlyWindow, WindowError, WindowNotFound, parse_spec
from alerts.maintenance.exams import exam_conflicts
from alerts.maintenance.model import WindowSpec
from alerts.maintenance.scheduling import Outcome, add_window
from alerts.maintenance.store import Window, occurrences_of
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.app.audit import window_summary
from monitor.app.web import schemas_maintenance as sm
from monitor.app.web.access import Denial, note
from monitor.app.web.api_maintenance import MaintenanceView, window_json
from monitor.app.web.console import HTML, Console
from monitor.app.web.maintenance_calendar import calendar_model
from monitor.app.web.operations import Inputs, Operation, Reply

PREVIEW = 5  # next occurrences the preview lists


def form_window(form: sm.WindowForm) -> dict[str, Any]:
    """The window fields of the web form; empty inputs are left out."""
    fields = form.model_dump()
    data: dict[str, Any] = {key: fields[key] for key in (
        "name", "kind", "timezone", "start", "end", "duration", "rrule", "comment",
        "created_by", "lms", "check") if fields[key].strip()}
    matchers = [m.strip() for m in form.matchers.split(",") if m.strip()]
    if matchers:
        data["matchers"] = matchers
    data.setdefault("created_by", "web")
    return data


def field_of(problem: str) -> str:
    """The form field a problem names ("start: must be ..." -> "start")."""
    head = problem.split(":", 1)[0].strip()
    return head if head.isidentifier() else "name"


def selected_checks(view: MaintenanceView, spec: WindowSpec) -> list[str]:
    """lms/check of every configured check whose known labels the matchers all match."""
    book = view.maintenance
    found = []
    for lms in book.lms_scope(spec):
        for labels in book.targets.get(lms, []):
            known = [m for m in spec.parsed_matchers if m.label in labels]
            if "check" in labels and all(m.matches(labels) for m in known):
                found.append(f"{lms}/{labels['check']}")
    return found


def page_maintenance_operations(view: MaintenanceView, console: Console) -> list[Operation]:
    book = view.maintenance

    def zone() -> str:
        server = getattr(view.config, "server", None)
        return getattr(server, "timezone", "UTC") or "UTC"

    async def render(request: Request, status: int = 200, form: dict[str, str] | None = None,
                     outcome: Outcome | None = None, errors: dict[str, str] | None = None,
                     preview: dict[str, Any] | None = None, ended: int | None = None
                     ) -> Response:
        now = view.clock.time()
        windows = book.list(include_ended=False)
        expanded = await asyncio.to_thread(
            lambda: [window_json(book, w, now) for w in windows])
        query = request.query_params
        calendar = await asyncio.to_thread(
            calendar_model, windows, now, ZoneInfo(zone()), query.get("view", "week"),
            query.get("at", ""))
        reported = {w.id for w in windows if occurrences_of(book.windows.database, w.id, 1)}
        return console.render(
            request, "maintenance.html.j2", status, windows=expanded, form=form or {},
            outcome=outcome, errors=errors or {}, preview=preview, ended=ended,
            calendar=calendar, reported=reported, zone=zone(),
            lms_names=[lms.name for lms in view.config.lms])

    async def posted(request: Request, title: str
                     ) -> tuple[dict[str, str], Response | None]:
        fields = await console.fields(request)
        if fields is None:
            return {}, console.message(request, 413, title, "The form is too large.")
        denial = console.access.form(request, fields, "maintenance")
        if denial is not None:
            if fields.get("name") is not None:  # the add form: keep what was typed
                note(request, reason=denial.message)
                return fields, await render(request, denial.status, fields,
                                            errors={"form": _said(denial)})
            return fields, console.refusal(request, denial, title, "/maintenance")
        return fields, None

    async def web_page(request: Request, _: Inputs) -> Response:
        ended = request.query_params.get("ended", "")
        return await render(request, ended=int(ended) if ended.isdigit()
                            and len(ended) < 19 else None)

    async def web_preview(request: Request, _: Inputs) -> Response:
        fields, refused = await posted(request, "No preview")
        if refused is not None:
            return refused
        form = sm.WindowForm.model_validate(fields)
        now = view.clock.time()
        try:
            spec = parse_spec(form_window(form))
            book.check_scope(spec)
        except WindowError as exc:
            return await render(request, 400, fields, errors=_errors(exc.problems))
        probe = Window(0, "", spec, "api", now, now, None, False)
        report = await exam_conflicts(book, spec, view.sites.lms_for(view.config), now,
                                      MAINTENANCE_ACTIONS)
        preview = {"next": window_json(book, probe, now, PREVIEW)["next"],
                   "checks": selected_checks(view, spec), "exams": report}
        return await render(request, 200, fields, preview=preview)

    async def web_add(request: Request, _: Inputs) -> Response:
        fields, refused = await posted(request, "Window not scheduled")
        if refused is not None:
            return refused
        form = sm.WindowForm.model_validate(fields)
        note(request, summary=window_summary("add", form_window(form)))
        try:
            spec = parse_spec(form_window(form))
            outcome = await add_window(book, spec, view.sites.lms_for(view.config),
                                       actions=MAINTENANCE_ACTIONS, source="api",
                                       force=form.force == "on", now=view.clock.time())
        except WindowError as exc:
            note(request, reason="; ".join(exc.problems))
            return await render(request, 400, fields, errors=_errors(exc.problems))
        if outcome.refused:
            note(request, reason="overlaps Moodle exams")
            return await render(request, 409, fields, outcome=outcome)
        if outcome.window is not None:
            note(request, target=str(outcome.window.id))
        return RedirectResponse("/maintenance", status_code=303)

    async def web_end(request: Request, given: Inputs) -> Response:
        _, refused = await posted(request, "Window not ended")
        if refused is not None:
            return refused
        window_id = given.path.id
        note(request, summary="end now")
        try:
            book.end(window_id, now=view.clock.time())
        except (WindowNotFound, ReadOnlyWindow) as exc:
            note(request, reason=str(exc))
            return console.message(request, 404 if isinstance(exc, WindowNotFound) else 409,
                                   "Window not ended", str(exc), "/maintenance", "Back")
        return RedirectResponse(f"/maintenance?ended={window_id}", status_code=303)

    async def web_report(request: Request, given: Inputs) -> Response:
        try:
            window = book.get(given.path.id)
        except WindowNotFound as exc:
            return console.message(request, 404, "No such window", str(exc), "/maintenance",
                                   "Back to maintenance")
        records = occurrences_of(book.windows.database, window.id)
        return console.render(request, "maintenance_report.html.j2", nav="/maintenance",
                              window=window, records=records, zone=window.spec.timezone)

    return _table(web_page, web_preview, web_add, web_end, web_report)


def _said(denial: Denial) -> str:
    if denial.status == 401 and "bearer" in denial.message:
        return "token: missing or wrong API token"
    return f"Refused: {denial.message}."


def _errors(problems: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for problem in problems:
        key = field_of(problem)
        found[key] = f"{found[key]}; {problem}" if key in found else problem
    return found


def _table(web_page: Any, web_preview: Any, web_add: Any, web_end: Any, web_report: Any
           ) -> list[Operation]:
    pages = {code: Reply(why, media=HTML) for code, why in (
        (400, "Invalid window; each problem is shown beside its field"),
        (401, "Not signed in, or a wrong token field"),
        (403, "Wrong CSRF token, the token lacks the maintenance scope, or no tokens are "
              "configured"),
        (404, "No such window"), (409, "Overlaps Moodle exams (tick force), or the window "
                                       "comes from the config file"),
        (413, "The form is too large"))}
    return [
        Operation("GET", "/maintenance", web_page, "Maintenance page: calendar "
                  "(?view=week|month&at=YYYY-MM-DD), windows, the scheduling form",
                  {200: Reply("OK", media=HTML)}),
        Operation("POST", "/maintenance/preview", web_preview, "Preview a window: next "
                  "occurrences, the checks it selects, the exams it overlaps (stores "
                  "nothing; needs a signed-in maintenance scope)",
                  {200: Reply("OK", media=HTML), **pages}, form=sm.WindowForm),
        Operation("POST", "/maintenance", web_add, "The maintenance page's add form",
                  {303: Reply("Added; back to the page", media=HTML), **pages},
                  form=sm.WindowForm, scope="maintenance", action="maintenance.create"),
        Operation("POST", "/maintenance/{id:int}/end", web_end, "The page's end button",
                  {303: Reply("Ended; back to the page", media=HTML), **pages},
                  path_params=sm.WindowPath, form=sm.TokenForm, scope="maintenance",
                  action="maintenance.end", not_found="no such window"),
        Operation("GET", "/maintenance/{id:int}/report", web_report,
                  "A window's post-maintenance reports",
                  {200: Reply("OK", media=HTML), 404: Reply("No such window", media=HTML)},
                  path_params=sm.WindowPath, not_found="no such window"),
    ]
