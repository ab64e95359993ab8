"""The period of a report from ``--since`` / ``--until``: a duration back ("7d", "24h")
or a date or time ("2026-11-30", "2026-11-30T08:00", in the report's timezone unless
it names its own offset). Errors name the option and show what is accepted."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.kernel.spec import parse_duration

ACCEPTED = "a duration back such as 7d or 24h, or a date such as 2026-11-30 or 2026-11-30T08:00"


class PeriodError(ValueError):
    pass


def moment(option: str, text: str, now: float, zone: str = "UTC") -> float:
    """One end of the period: ``now`` minus a duration, or a date/time."""
    text = text.strip()
    if text == "now":
        return now
    try:
        seconds = parse_duration(text)
    except ValueError:
        pass
    else:
        if seconds <= 0:
            raise PeriodError(f"{option}: {text!r} must be longer than zero")
        return now - float(seconds)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{option}: {text!r} is not {ACCEPTED}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.timestamp()


def period(since: str, until: str | None, now: float, zone: str = "UTC") -> tuple[float, float]:
    start = moment("--since", since, now, zone)
    # A duration in --until counts back from now, like --since.
    end = now if until is None else moment("--until", until, now, zone)
    if end > now:
        raise PeriodError("--until: is in the future; a report covers what has happened")
    if start >= end:
        raise PeriodError("--since: must be before --until (the period would be empty)")
    return start, end
