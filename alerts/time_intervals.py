"""Named time intervals (``[[alerts.time_intervals]]``) in Alertmanager's format.

Routes refer to them by name as active or mute intervals (alerts/routing.py), e.g.
"tickets only in office hours". The router asks ``contains(now)``; the instant is
converted to the interval's IANA ``location`` first, so 09:00-17:00 stays 09:00-17:00
local time across daylight-saving changes. Semantics as Alertmanager's timeinterval
package: every field given must match (AND), any entry of a field may match (OR), an
omitted field matches everything; ``end_time`` is exclusive; negative days of month
count from the end (-1 is the last day).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, field_validator, model_validator

from monitor.kernel.spec import StrictModel
from monitor.kernel.zones import Timezone

WEEKDAYS = {name: index for index, name in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
MONTHS = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")

Range = tuple[int, int]


def _number(text: str, names: dict[str, int], what: str) -> int:
    text = text.strip().lower()
    if text in names:
        return names[text]
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a {what}") from None


def _ranges(
    values: Any, what: str, names: dict[str, int], low: int, high: int, *, negative: bool = False
) -> list[Range]:
    """``["monday:friday", "sunday"]`` -> [(0, 4), (6, 6)], checked against [low, high]."""
    if not isinstance(values, list):
        raise ValueError(f"must be a list of {what}s or ranges such as \"a:b\"")
    ranges = []
    for value in values:
        text = str(value)
        start_text, _, end_text = text.partition(":")
        start = _number(start_text, names, what)
        end = _number(end_text, names, what) if end_text else start
        for number in (start, end):
            ok = low <= number <= high or (negative and -high <= number <= -1)
            if not ok:
                raise ValueError(f"{text!r}: {number} is not a valid {what}")
        # "1:-1" (first to last day) is fine; "5:1" or "-1:-3" is not.
        if (not negative or (start > 0) == (end > 0)) and start > end:
            raise ValueError(f"{text!r}: the range must not end before it starts")
        ranges.append((start, end))
    return ranges


def _weekdays(values: Any) -> list[Range]:
    return _ranges(values, "weekday", WEEKDAYS, 0, 6)


def _days(values: Any) -> list[Range]:
    return _ranges(values, "day of month", {}, 1, 31, negative=True)


def _months(values: Any) -> list[Range]:
    return _ranges(values, "month", MONTHS, 1, 12)


def _years(values: Any) -> list[Range]:
    return _ranges(values, "year", {}, 1, 9999)


class TimeRange(StrictModel):
    """``start_time``/``end_time`` as "HH:MM" local time; end exclusive, "24:00" allowed."""

    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        found = _CLOCK.match(value)
        if not found or int(found.group(2)) > 59 or _minutes(value) > 24 * 60:
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 24:00)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _minutes(self.end_time) <= _minutes(self.start_time):
            raise ValueError(f"end_time {self.end_time} must be after start_time {self.start_time}"
                             " (split a range that crosses midnight in two)")
        return self


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class TimeInterval(StrictModel):
    times: list[TimeRange] = Field(default_factory=list)
    weekdays: Annotated[list[Range], BeforeValidator(_weekdays)] = Field(default_factory=list)
    days_of_month: Annotated[list[Range], BeforeValidator(_days)] = Field(default_factory=list)
    months: Annotated[list[Range], BeforeValidator(_months)] = Field(default_factory=list)
    years: Annotated[list[Range], BeforeValidator(_years)] = Field(default_factory=list)
    location: Timezone = "UTC"


    def contains(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(self.location))
        minute = local.hour * 60 + local.minute
        if self.times and not any(
            _minutes(r.start_time) <= minute < _minutes(r.end_time) for r in self.times
        ):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays):
            return False
        if self.days_of_month and not _day_within(local, self.days_of_month):
            return False
        if self.months and not _within(local.month, self.months):
            return False
        return not self.years or _within(local.year, self.years)


def _within(value: int, ranges: list[Range]) -> bool:
    return any(start <= value <= end for start, end in ranges)


def _day_within(local: datetime, ranges: list[Range]) -> bool:
    length = calendar.monthrange(local.year, local.month)[1]
    for start, end in ranges:
        begin = start if start > 0 else length + start + 1
        stop = end if end > 0 else length + end + 1
        if begin > length:
            continue  # "31" in a 30-day month: no day matches (Alertmanager does the same)
        if begin <= local.day <= min(stop, length):
            return True
    return False


class NamedTimeInterval(StrictModel):
    """One ``[[alerts.time_intervals]]`` entry: a name and the intervals it covers.

    Alertmanager nests the intervals under ``time_intervals``; a single interval may
    also be written flat (``weekdays = [...]`` directly under the name).
    """

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    time_intervals: list[TimeInterval] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "time_intervals" not in data:
            flat = {k: v for k, v in data.items() if k != "name"}
            named = {"name": data["name"]} if "name" in data else {}
            return {**named, "time_intervals": [flat]}
        return data

    def contains(self, now: float) -> bool:
        return any(interval.contains(now) for interval in self.time_intervals)
