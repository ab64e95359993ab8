"""A window's RRULE as a dateutil rule over naive local times (RFC 5545 semantics).

Used by the calendar (calendar.py) and, to validate a window, by its model (model.py,
which imports this module only when a recurring window is validated: dateutil is paid
for only by configs that have one). Imports nothing of the maintenance package.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z")


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
