"""The console's overview (GET /): every LMS as a card, then its checks grouped by family,
most severe first, filtered by LMS, status and family from the query string (issue #15).

Read from the check state store, the firing alerts and the maintenance book at each
request. ``?fragment=1`` answers only the live part of the page: the page's small script
fetches it every few seconds and swaps in what changed, without touching an element that
holds keyboard focus, so the page never reloads under the user (no JS: a Refresh link).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from alerts.policy import EXAM_ATTEMPTS_SAMPLE
from checks.registry import CHECK_TYPES
from monitor.app.web.console import HTML, Console
from monitor.app.web.operations import Inputs, Operation, Reply
from monitor.kernel.clock import SystemClock
from monitor.kernel.result import Status

# Most severe first: a failing check outranks one whose state is unknown.
SEVERITY = {"CRITICAL": 3, "UNKNOWN": 2, "WARNING": 1, "OK": 0}
STATUSES = ("CRITICAL", "UNKNOWN", "WARNING", "OK")
STRIP = 12  # results in each check's history strip


def family_of(check_type: str) -> str:
    """The check family a type belongs to (its package under checks/)."""
    found = CHECK_TYPES.get(check_type)
    if found is None:
        return check_type
    parts = found[1].__module__.split(".")
    return parts[1] if len(parts) > 1 else check_type


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, 2)) if statuses else "OK"


def upcoming_windows(book: Any, windows: list[Any], now: float
                     ) -> list[tuple[list[str], dict[str, Any]]]:
    """Each open window's LMS and its running or next occurrence: computed from windows
    already read, so the expansion can run in a worker thread (see overview)."""
    found = []
    for window in windows:
        for occurrence in book.next_of(window, now, 1):
            found.append((book.lms_scope(window.spec), {
                "name": window.spec.name, "id": window.id, "start": occurrence.start,
                "end": occurrence.end, "active": occurrence.contains(now)}))
    return found


def _maintenance(upcoming: list[tuple[list[str], dict[str, Any]]], lms: str
                 ) -> dict[str, Any] | None:
    """The LMS's active window, else the one whose next occurrence comes first."""
    mine = [item for scope, item in upcoming if lms in scope]
    active = [item for item in mine if item["active"]]
    return active[0] if active else min(mine, key=lambda i: i["start"], default=None)


def overview_model(view: Any, lms: str, status: str, family: str, now: float,
                   upcoming: list[tuple[list[str], dict[str, Any]]]) -> dict[str, Any]:
    store = view.store
    firing = defaultdict(list)
    for alert in store.firing_alerts():
        firing[alert.lms].append(alert)
    names = [site.name for site in view.config.lms] if getattr(view, "config", None) else []
    states = store.states()
    for state in states:
        if state.lms not in names:
            names.append(state.lms)
    cards = []
    for name in names:
        mine = [x for x in states if x.lms == name]
        exams = [smp.value for x in mine for smp in x.result.samples
                 if smp.name == EXAM_ATTEMPTS_SAMPLE]
        checks = []
        for x in mine:
            code = Status(x.result.status).name
            fam = family_of(x.check_type)
            if (status and code != status) or (family and fam != family):
                continue
            history = [{"at": at, "status": st.name}
                       for at, st, _ in reversed(store.history(name, x.check, limit=STRIP))]
            checks.append({"check": x.check, "type": x.check_type, "family": fam,
                           "status": code, "summary": x.result.summary,
                           "since": x.last_change, "ran_at": x.ran_at, "history": history})
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for check in sorted(checks, key=lambda c: (-SEVERITY[c["status"]], c["check"])):
            groups[check["family"]].append(check)
        ordered = sorted(groups.items(), key=lambda g: (-SEVERITY[worst(
            [c["status"] for c in g[1]])], g[0]))
        cards.append({"name": name, "status": worst([Status(x.result.status).name
                                                     for x in mine]),
                      "firing": len(firing[name]), "checks": len(mine),
                      "maintenance": _maintenance(upcoming, name),
                      "exams": max(exams) if exams else None, "groups": ordered,
                      "shown": len(checks)})
    families = sorted({family_of(x.check_type) for x in states})
    shown = [c for c in cards if not lms or c["name"] == lms]
    shown.sort(key=lambda c: (-SEVERITY[c["status"]], -c["firing"], c["name"]))
    return {"cards": shown, "all_lms": names, "families": families, "statuses": STATUSES,
            "chosen": {"lms": lms, "status": status, "family": family}, "now": now,
            "firing_total": sum(len(v) for v in firing.values())}


def overview_operations(view: Any, console: Console) -> list[Operation]:
    async def overview(request: Request, _: Inputs) -> Response:
        query = request.query_params
        lms = query.get("lms", "")
        status = query.get("status", "") if query.get("status", "") in STATUSES else ""
        family = query.get("family", "")
        now = (getattr(view, "clock", None) or SystemClock()).time()
        book = getattr(view, "maintenance", None)
        upcoming = [] if book is None else await asyncio.to_thread(
            upcoming_windows, book, book.list(include_ended=False), now)
        model = overview_model(view, lms, status, family, now, upcoming)
        fleet = getattr(view, "fleet", None)  # monitor/app/fleet_work.py: shard, HA member
        model["fleet"] = fleet.summary() if fleet is not None else None
        if query.get("fragment") == "1":
            return console.render(request, "overview_live.html.j2", **model)
        return console.render(request, "overview.html.j2", **model)

    return [Operation("GET", "/", overview, "Console overview: every LMS and its checks "
                      "(?lms=, ?status=, ?family=; ?fragment=1 for the live part)",
                      {200: Reply("OK", media=HTML)})]
