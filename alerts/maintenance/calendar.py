"""Expanding windows into occurrences, and the iCalendar feed (``/maintenance.ics``).

Pure functions over stored windows (alerts/maintenance/store.py): the book asks "which
occurrences overlap [start, end)?", the feed renders one VEVENT per window. Recurrence is
computed on local wall-clock times in the window's IANA timezone (python-dateutil's rrule
with a naive DTSTART), and only then converted to UTC, so "Sunday 02:30 Europe/Berlin"
stays 02:30 local across DST changes; a local time that does not exist on a spring-forward
day follows RFC 5545 3.3.5 (see model.to_utc).
"""

from __future__ import annotations

import functools
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dateutil.rrule import rrule

from alerts.maintenance.model import Matcher, WindowActions, WindowSpec, from_utc, to_utc
from alerts.maintenance.rules import MAX_COUNT, anchor, build_rule
from checks.lazy import lazy_import

if TYPE_CHECKING:
    from icalendar import Event, vRecur

    from alerts.maintenance.store import Window

# Loaded when the feed is first asked for: ~2.5 MB of RSS a daemon otherwise never needs.
icalendar = lazy_import("icalendar")

# Never walk more instants of a rule per call (see rules.py for why that suffices: the
# walk starts at most ~70 days before the asked range and a rule starts at most 48 a day,
# so ~3,400 instants plus the range itself; 400 days ahead at 48 a day is 19,200).
MAX_OCCURRENCES = MAX_COUNT
PRODID = "-//Vigil//maintenance windows//EN"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One stretch of time in which a window is active (contract for the router, A2, E)."""

    window_id: int
    uid: str
    name: str
    start: float  # Unix seconds
    end: float | None  # None: a manual window still open
    matchers: tuple[Matcher, ...]
    actions: WindowActions
    kind: str
    timezone: str

    def contains(self, now: float) -> bool:
        return self.start <= now and (self.end is None or now < self.end)

    def matches(self, labels: object) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @property
    def key(self) -> str:
        """Stable id of this occurrence (window uid + start), e.g. for outbox dedup keys."""
        return f"{self.uid}:{int(self.start)}"


@functools.lru_cache(maxsize=128)
def _cached_rule(text: str, start: datetime, zone: str) -> rrule:
    """The router asks per alert: reuse each rule and the instants it has expanded
    (dateutil caches them with cache=True) instead of iterating again. ``start`` is the
    anchor (rules.anchor), which stays the same for weeks; each cached rule holds at most
    MAX_OCCURRENCES instants, as no call walks further."""
    return build_rule(text, start, zone)


def window_occurrences(window: Window, start: float, end: float,
                       limit: int | None = None) -> list[Occurrence]:
    """Occurrences of ``window`` that overlap [start, end), by start time; the first
    ``limit`` only when given (the walk then stops there).

    An ended window (``ended_at``) stops there: the running occurrence is cut short and
    later ones are gone.
    """
    spec, stop = window.spec, window.ended_at
    if stop is not None:
        end = min(end, stop)
    if end <= start:
        return []
    found = [(s, e) for s, e in _spans(window, start, end, limit)
             if s < end and (e is None or e > start)]
    return [Occurrence(window.id, window.uid, spec.name, s,
                       e if stop is None else (stop if e is None else min(e, stop)),
                       spec.parsed_matchers, spec.actions, spec.kind or "once", spec.timezone)
            for s, e in found if stop is None or s < stop]


def next_occurrences(window: Window, now: float, count: int,
                     horizon: float = 400 * 86400.0) -> list[Occurrence]:
    """The running and next ``count`` occurrences within ``horizon``: what the API, the
    web page and the CLI show per window (a walk of at most ~3,400 + count instants)."""
    return window_occurrences(window, now, now + horizon, limit=count)


def _spans(window: Window, start: float, end: float,
           limit: int | None = None) -> list[tuple[float, float | None]]:
    spec = window.spec
    zone = spec.timezone
    if spec.kind == "manual":
        begin = to_utc(spec.start, zone) if spec.start else window.created_at
        return [(begin, None)]
    length = spec.length() or 0.0
    assert spec.start is not None
    first = to_utc(spec.start, zone)
    if spec.kind == "once":
        return [(first, first + length)]
    assert spec.rrule is not None
    # Local search bounds with a day of slack each side: offsets differ by < 1 day.
    lo = from_utc(start - length, zone) - timedelta(days=1)
    hi = from_utc(end, zone) + timedelta(days=1)
    rule = _cached_rule(spec.rrule, anchor(spec.rrule, spec.start, lo), zone)
    spans: list[tuple[float, float | None]] = []
    for local in itertools.islice(rule, MAX_OCCURRENCES):  # from the anchor, bounded
        if local > hi:
            break
        if local < lo:
            continue
        at = to_utc(local, zone)
        if at + length <= start or at >= end:
            continue
        spans.append((at, at + length))
        if limit is not None and len(spans) >= limit:
            break
    return spans


# -- iCalendar ---------------------------------------------------------------------------
def feed(windows: list[Window], now: float) -> bytes:
    """The VCALENDAR with one VEVENT per window and the VTIMEZONEs they use."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Vigil maintenance windows")
    for window in windows:
        cal.add_component(window_event(window, now))
    # VTIMEZONE transitions from the earliest window on, through the next ten years.
    today = datetime.fromtimestamp(now, UTC).date()
    first = min([w.spec.start.date() for w in windows if w.spec.start] + [today])
    cal.add_missing_timezones(first_date=first - timedelta(days=366),
                              last_date=today + timedelta(days=3653))
    return cal.to_ical()


def window_event(window: Window, now: float) -> Event:
    spec, zone = window.spec, window.spec.zone
    event = icalendar.Event()
    event.add("uid", window.uid)
    event.add("dtstamp", datetime.fromtimestamp(window.updated_at, UTC))
    event.add("created", datetime.fromtimestamp(window.created_at, UTC))
    event.add("last-modified", datetime.fromtimestamp(window.updated_at, UTC))
    event.add("summary", f"Maintenance: {spec.name}")
    scope = ", ".join(spec.matchers)
    event.add("description", "\n".join(filter(None, [spec.comment, f"Scope: {scope}",
                                                      f"Created by {spec.created_by}"])))
    event.add("categories", ["MAINTENANCE"])
    if spec.kind == "manual":
        begin = spec.start or from_utc(window.created_at, spec.timezone)
        event.add("dtstart", begin.replace(tzinfo=zone))
        # Open-ended: show it until the next full hour; the feed is refreshed by clients.
        until = window.ended_at or (now // 3600 + 1) * 3600
        event.add("dtend", datetime.fromtimestamp(max(until, to_utc(begin, spec.timezone)),
                                                  zone))
        if window.ended_at is None:
            event.add("x-vigil-open", "TRUE")
    else:
        assert spec.start is not None
        event.add("dtstart", spec.start.replace(tzinfo=zone))
        event.add("duration", timedelta(seconds=spec.length() or 0))
        if spec.kind == "recurring":
            assert spec.rrule is not None
            event.add("rrule", _rrule_for_feed(spec, window.ended_at))
        if window.ended_at is not None and window.ended_at <= to_utc(spec.start, spec.timezone):
            event.add("status", "CANCELLED")
    event.add("x-vigil-kind", spec.kind or "once")
    return event


def _rrule_for_feed(spec: WindowSpec, ended_at: float | None) -> vRecur:
    """The stored RRULE; an ended window gets UNTIL (UTC, as RFC 5545 wants with TZID)."""
    recur = icalendar.vRecur.from_ical(spec.rrule or "")
    until = recur.get("UNTIL", [None])[0]
    if isinstance(until, datetime) and until.tzinfo is None:  # stored as local time
        until = until.replace(tzinfo=spec.zone).astimezone(UTC)
    if ended_at is not None:
        end = datetime.fromtimestamp(ended_at, UTC).replace(microsecond=0)
        if not isinstance(until, datetime) or until > end:
            until = end
        recur.pop("COUNT", None)
    if until is not None:
        recur["UNTIL"] = [until]
    return recur


def config_uid(name: str) -> str:
    """Stable UID for a window from the config file: the same name keeps its UID (and its
    place in subscribers' calendars) across reloads and restarts."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, 'vigil-config-window:' + name)}@vigil"


def new_uid() -> str:
    return f"{uuid.uuid4()}@vigil"
