"""A window's RRULE as a dateutil rule over naive local times (RFC 5545 semantics).

Used by the calendar (calendar.py) and, to validate a window, by its model (model.py,
which imports this module only when a recurring window is validated: dateutil is paid
for only by configs that have one). Imports nothing of the maintenance package.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z")
# Expanding a rule is bounded by what a rule may ask for (issue #11: a rule starting every
# 10 s made each API call walk millions of instants). The model refuses more than
# MAX_PER_DAY starts a day (every 30 minutes) and a COUNT above MAX_COUNT; the calendar
# iterates from an anchor near the asked range (``anchor``), never from a DTSTART years
# back, and never more than MAX_COUNT instants per call.
MAX_PER_DAY = 48
MAX_COUNT = 20_000
ANCHOR_LEAD = timedelta(days=35)  # how far before the asked range an anchor may lie
_FIXED_PERIOD = {"HOURLY": timedelta(hours=1), "DAILY": timedelta(days=1),
                 "WEEKLY": timedelta(weeks=1)}


def from_utc(timestamp: float, zone: str) -> datetime:
    """Local wall-clock (naive) time of a Unix time in ``zone``."""
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).replace(tzinfo=None)


def build_rule(text: str, start: datetime, zone: str) -> rrule:
    """The dateutil rule for a normalized RRULE, iterating naive local times from ``start``.

    An ``UNTIL=...Z`` (UTC, as RFC 5545 requires beside a DTSTART with TZID) is turned
    into local time first, because the iteration runs on naive local times.
    """
    def local_until(match: re.Match[str]) -> str:
        utc = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + from_utc(utc.timestamp(), zone).strftime("%Y%m%dT%H%M%S")

    try:
        rule = rrulestr(_UNTIL_UTC.sub(local_until, text), dtstart=start, cache=True)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{text!r} is not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise ValueError(f"{text!r} must be a single RRULE")
    return rule


def rule_parts(text: str) -> dict[str, str]:
    """``FREQ=HOURLY;BYMINUTE=0,30`` -> {"FREQ": "HOURLY", "BYMINUTE": "0,30"}."""
    return {key: value for key, _, value in (p.partition("=") for p in text.split(";") if p)}


def max_per_day(text: str) -> int:
    """An upper bound of the occurrences a normalized RRULE can start in one day.

    Read from the rule's parts, not by expanding it: hours a day (BYHOUR, or every
    INTERVAL hours for FREQ=HOURLY, else one) x minutes (BYMINUTE, else one) x seconds
    (BYSECOND, else one). BYSETPOS can only remove instants, so it is ignored (a rule
    it would thin out below the limit is still refused: write it without BYSETPOS).
    """
    parts = rule_parts(text)

    def count(name: str) -> int | None:
        values = {v for v in parts.get(name, "").split(",") if v}
        return len(values) if values else None

    try:
        interval = max(1, int(parts.get("INTERVAL", "1")))
    except ValueError:
        interval = 1  # the rule parser reports it
    hours = count("BYHOUR")
    if parts.get("FREQ") == "HOURLY":
        every = math.ceil(24 / interval)
        hours = every if hours is None else min(hours, every)
    return (hours or 1) * (count("BYMINUTE") or 1) * (count("BYSECOND") or 1)


def anchor(text: str, start: datetime, before: datetime) -> datetime:
    """A DTSTART a whole number of the rule's periods after ``start``, at most about
    two ANCHOR_LEAD before ``before``; ``start`` itself when it is already near.

    Whole periods keep every default dateutil takes from DTSTART (minute, hour, weekday,
    month day) and the INTERVAL's phase, so the rule yields the same instants from the
    anchor on. The anchor moves in steps of at least ANCHOR_LEAD, so the calendar's
    rule cache keeps one rule per window for weeks. A COUNT rule counts from its own
    start and is never moved (COUNT is at most MAX_COUNT).
    """
    parts = rule_parts(text)
    if "COUNT" in parts or before - start <= 2 * ANCHOR_LEAD:
        return start
    interval = max(1, int(parts.get("INTERVAL", "1") or 1))
    freq = parts.get("FREQ", "")
    target = before - ANCHOR_LEAD
    if freq in _FIXED_PERIOD:
        period = _FIXED_PERIOD[freq] * interval
        step = period * max(1, math.ceil(ANCHOR_LEAD / period))
        return start + step * ((target - start) // step)
    months = interval * (12 if freq == "YEARLY" else 1)
    step_months = months * max(1, math.ceil(2 / months))
    gap = (target.year - start.year) * 12 + target.month - start.month - 1
    k = gap // step_months
    for steps in range(k, max(k - 8, 0), -1):  # a 31st or a 29 February: go back a step
        moved = _add_months(start, steps * step_months)
        if moved is not None:
            return moved
    return start


def _add_months(start: datetime, months: int) -> datetime | None:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999 or start.day > calendar.monthrange(year, month + 1)[1]:
        return None
    return start.replace(year=year, month=month + 1)
