"""The console's check page (GET /checks/{lms}/{check}): the story of one check (issue #15).

Recent results, the details and metrics of the last run, its status changes, and its
alert: every event (firing, resolved, acknowledged ...), the acknowledgement with forms
to acknowledge or withdraw it, and the notifications sent about it (receiver, time,
outcome, from the outbox). Links to the LMS's Grafana dashboard when alerts.grafana_url
is configured (the same link alert messages carry, alerts/messages.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from alerts.engine import fingerprint
from monitor.app.web import schemas as s
from monitor.app.web.console import HTML, Console
from monitor.app.web.operations import Inputs, Operation, Reply
from monitor.app.web.page_alerts import alert_row, delivery_row

HISTORY = 50  # results the page lists


def transitions(history: list[tuple[float, Any, str]]) -> list[dict[str, Any]]:
    """The status changes within ``history`` (oldest first): from, to, when, why."""
    found: list[dict[str, Any]] = []
    previous = None
    for at, status, summary in history:
        if previous is not None and status != previous:
            found.append({"at": at, "from": previous.name, "to": status.name,
                          "summary": summary})
        previous = status
    return found[::-1]


def grafana_link(view: Any, lms: str) -> str | None:
    config = getattr(view, "config", None)
    base = config.alerts.grafana_url if config is not None else None
    if not base:
        return None
    return f"{base.rstrip('/')}/d/vigil-lms-detail?var-lms={quote(lms)}"


def check_operations(view: Any, console: Console) -> list[Operation]:
    async def check_page(request: Request, given: Inputs) -> Response:
        lms, name = given.path.lms, given.path.check
        store = view.store
        state = store.get_state(lms, name)
        if state is None:
            return console.message(request, 404, "No such check",
                                   f"No check {name!r} on LMS {lms!r} has run.")
        history = store.history(lms, name, limit=HISTORY)  # newest first
        fp = fingerprint(lms, name)
        alert = store.get_alert(fp)
        events = [{"kind": e.kind, "at": e.at, "summary": e.summary,
                   "transition": e.transition} for e in store.alert_events(fp)][::-1]
        sent = [delivery_row(i) for i in store.outbox_items()]
        sent = [d for d in sent if fp in d["fingerprints"]][::-1]
        return console.render(
            request, "check.html.j2", nav="/", state=state, lms=lms, name=name,
            current=state.result.status.name,
            results=[{"at": at, "status": st.name, "summary": text}
                     for at, st, text in history],
            changes=transitions(list(reversed(history))),
            alert=alert_row(alert) if alert is not None else None, events=events,
            sent=sent, grafana=grafana_link(view, lms), back=request.url.path,
            acked=request.query_params.get("acked", ""), errors={}, form={})

    return [Operation("GET", "/checks/{lms}/{check}", check_page,
                      "Console check page: results, metrics, transitions, alert story",
                      {200: Reply("OK", media=HTML), 404: Reply("No such check", media=HTML)},
                      path_params=s.CheckPath, not_found="no such check")]
