"""The maintenance page's calendar: the days of one week or one month in the site's
timezone, each with the window occurrences that touch it (page_maintenance.py renders it).

Occurrences are expanded from the windows the page read (alerts/maintenance/calendar.py),
so this may run in a worker thread without touching the state file; a manual window
still open shows up to the end of the range.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.maintenance.calendar import window_occurrences
from alerts.maintenance.store import Window

VIEWS = ("week", "month")


def _anchor(at: str, today: date) -> date:
    try:
        return date.fromisoformat(at) if at else today
    except ValueError:
        return today


def _bounds(view: str, day: date) -> tuple[date, date, date, date]:
    """First and last day shown, and the anchors of the previous and next range."""
    if view == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return first, following - timedelta(days=1), previous, following
    monday = day - timedelta(days=day.weekday())
    week = timedelta(days=7)
    return monday, monday + timedelta(days=6), monday - week, monday + week


def calendar_model(windows: list[Window], now: float, zone: ZoneInfo, view: str, at: str
                   ) -> dict[str, Any]:
    view = view if view in VIEWS else "week"
    today = datetime.fromtimestamp(now, zone).date()
    first, last, previous, following = _bounds(view, _anchor(at, today))
    start = datetime.combine(first, time(), zone).timestamp()
    end = datetime.combine(last + timedelta(days=1), time(), zone).timestamp()
    days: dict[date, list[dict[str, Any]]] = {
        first + timedelta(days=i): [] for i in range((last - first).days + 1)}
    found = [o for w in windows for o in window_occurrences(w, start, end)]
    for occurrence in sorted(found, key=lambda o: (o.start, o.window_id)):
        begins = datetime.fromtimestamp(occurrence.start, zone)
        stops = datetime.fromtimestamp(min(occurrence.end or end, end), zone)
        entry = {"name": occurrence.name, "id": occurrence.window_id,
                 "start": begins.strftime("%Y-%m-%d %H:%M"),
                 "end": stops.strftime("%Y-%m-%d %H:%M") if occurrence.end else "until ended",
                 "active": occurrence.contains(now)}
        day = max(begins.date(), first)
        while day <= min(stops.date(), last):
            days[day].append(entry)
            day += timedelta(days=1)
    if view == "week":
        title = f"Week of {first.isoformat()}"
    else:
        title = first.strftime("%B %Y")
    return {"view": view, "title": title, "zone": str(zone),
            "previous": previous.isoformat(), "next": following.isoformat(),
            "days": [{"date": d.isoformat(), "label": d.strftime("%a %d %b"),
                      "today": d == today, "entries": e} for d, e in days.items()]}
