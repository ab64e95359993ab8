"""A maintenance window as an admin writes it: the validated spec and its label matchers.

Config (``[[maintenance]]``), the JSON API and ``vigil maintenance add`` all build a
``WindowSpec``; the store keeps it, the calendar expands it into occurrences and the book
answers "is this alert covered now?". Times are local wall-clock times in the window's
IANA timezone, so a recurring window keeps its local time across DST changes.

Kinds: ``once`` (start + end or duration), ``recurring`` (start = first DTSTART, an RFC 5545
RRULE and a duration) and ``manual`` (open from start, or from creation, until ended).
Every problem is reported with the field it concerns (``end: must be after start``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from monitor.kernel.spec import PositiveDuration, StrictModel
from monitor.kernel.zones import known_zone

WindowKind = Literal["once", "recurring", "manual"]
WINDOW_KINDS = ("once", "recurring", "manual")
# Receiver names as alerts/config.py spells them (kept here to avoid importing httpx).
ReceiverName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')
_RRULE_FREQS = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# Bounds a window must keep (issue #11: a duration of 1e308 turned every maintenance
# page into a 500): one occurrence lasts at most 31 days (a manual window is the way
# to stay open longer), times lie in 2000..2100, a notice comes at most 31 days ahead.
MAX_WINDOW_LENGTH = 31 * 86400.0
MIN_YEAR, MAX_YEAR = 2000, 2100


_TOO_LONG = (f"must be at most {MAX_WINDOW_LENGTH / 86400:.0f} days (use kind manual for a "
             "window that stays open until ended)")


def _at_most_31_days(message: str) -> AfterValidator:
    def check(seconds: float) -> float:
        if seconds > MAX_WINDOW_LENGTH:
            raise ValueError(message)
        return seconds
    return AfterValidator(check)


NoticeLead = Annotated[PositiveDuration, _at_most_31_days("must be at most 31 days")]
WindowLength = Annotated[PositiveDuration, _at_most_31_days(_TOO_LONG)]


@dataclass(frozen=True, slots=True)
class Matcher:
    """One Alertmanager-style label matcher: ``lms="prod"``, ``check=~"cron|tasks"``.

    A label the alert does not carry counts as the empty string (as in Alertmanager), so
    ``host!="db1"`` matches alerts without a host label. Regexes are fully anchored.
    """

    label: str
    op: str  # "=" | "!=" | "=~" | "!~"
    value: str

    def matches(self, labels: Any) -> bool:
        actual = str(labels.get(self.label, ""))
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """``label=value`` / ``label!="v"`` / ``label=~regex`` / ``label!~regex``; quotes optional."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a label matcher (write label=value, label!=value, "
                         "label=~regex or label!~regex)")
    label, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text!r}: bad regular expression: {exc}") from None
    return Matcher(label, op, value)


def matches_all(matchers: tuple[Matcher, ...], labels: Any) -> bool:
    return all(m.matches(labels) for m in matchers)


class WindowActions(StrictModel):
    """What Vigil does around each occurrence (carried out by lifecycle.py)."""

    # Send a notice this long before each occurrence starts (None: no notice).
    notify_before: NoticeLead | None = None
    notify_at_end: bool = False
    notify_receivers: list[ReceiverName] = Field(default_factory=list)  # empty: all
    # Moodle: admin/cli/maintenance.php --enable at start, --disable at end.
    lms_maintenance_mode: bool = False
    # File integrity changes made inside the window become the new accepted baseline.
    accept_integrity_changes: bool = False
    report: bool = True  # post-maintenance report at the end of each occurrence
    report_receivers: list[ReceiverName] = Field(default_factory=list)  # empty: all


class WindowSpec(StrictModel):
    """One window; field order matters: later validators read earlier fields."""

    name: str = Field(min_length=1, max_length=120)
    kind: WindowKind | None = None  # None: inferred (rrule -> recurring, start -> once)
    timezone: str = "UTC"
    start: datetime | None = None  # local wall-clock in ``timezone`` (first DTSTART)
    end: datetime | None = None
    duration: WindowLength | None = None
    rrule: str | None = None
    matchers: tuple[str, ...] = Field(default=(), validate_default=True)
    actions: WindowActions = WindowActions()
    comment: str = Field(default="", max_length=2000)
    created_by: str = Field(default="config", min_length=1, max_length=120)

    @model_validator(mode="before")
    @classmethod
    def _shortcuts(cls, data: Any) -> Any:
        """``lms = "prod"`` and ``check = "cron"`` are shorthands for equality matchers."""
        if not isinstance(data, dict) or not ({"lms", "check"} & data.keys()):
            return data
        data = dict(data)
        matchers = list(data.get("matchers") or [])
        for label in ("lms", "check"):
            value = data.pop(label, None)
            if value is not None:
                matchers.append(str(Matcher(label, "=", str(value))))
        data["matchers"] = matchers
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("start", "end")
    @classmethod
    def _local_time(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        """An offset-carrying time is converted to the window's local wall-clock time."""
        if value is None or value.tzinfo is None:
            return value.replace(microsecond=0) if value else value
        zone = info.data.get("timezone")
        if zone is None:
            raise ValueError("cannot convert: the timezone is invalid")
        return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)

    @field_validator("start", "end")
    @classmethod
    def _plausible_year(cls, value: datetime | None) -> datetime | None:
        """Years 2000..2100: enough for any real plan, and every conversion of such a time
        (timestamps, iCalendar, the local display) stays in range."""
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"must be between the years {MIN_YEAR} and {MAX_YEAR} "
                             f"(got {value.year})")
        return value

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start, zone = info.data.get("start"), info.data.get("timezone")
        if value is not None and start is not None and zone is not None:
            length = to_utc(value, zone) - to_utc(start, zone)
            if length <= 0:
                raise ValueError(f"must be after start ({start.isoformat(' ')} -> "
                                 f"{value.isoformat(' ')} in {zone})")
            if length > MAX_WINDOW_LENGTH:
                raise ValueError(f"{_TOO_LONG}: {length / 86400:.1f} days after start")
        return value

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        text = normalize_rrule(value)
        # dateutil only when used
        from alerts.maintenance.rules import MAX_COUNT, MAX_PER_DAY, build_rule, max_per_day

        per_day = max_per_day(text)
        if per_day > MAX_PER_DAY:
            raise ValueError(f"{text!r} can start up to {per_day} occurrences a day; at most "
                             f"{MAX_PER_DAY} are allowed (every 30 minutes), so that "
                             "expanding it stays cheap (fewer BYHOUR/BYMINUTE/BYSECOND values)")
        count = text.partition("COUNT=")[2].partition(";")[0]
        if count.isdigit() and int(count) > MAX_COUNT:
            raise ValueError(f"COUNT must be at most {MAX_COUNT} (got {count}); "
                             "use UNTIL for a long series")
        start, zone = info.data.get("start"), info.data.get("timezone")
        if start is not None and zone is not None:
            rule = build_rule(text, start, zone)
            if rule.after(start, inc=True) is None:
                raise ValueError(f"{text!r} yields no occurrence from start {start.isoformat(' ')}")
        return text

    @field_validator("matchers")
    @classmethod
    def _valid_matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one label matcher is required, e.g. lms=prod "
                             "(lms=~\".+\" covers every LMS)")
        return tuple(dict.fromkeys(str(parse_matcher(text)) for text in value))

    @model_validator(mode="after")
    def _kind_rules(self) -> WindowSpec:
        kind = self.kind or ("recurring" if self.rrule else "once" if self.start else "manual")
        if kind == "once":
            _need(self.start is not None, "start: required for a one-off window")
            _need(self.rrule is None, "rrule: only recurring windows have an rrule")
            _need((self.end is None) != (self.duration is None),
                  "end: give either end or duration for a one-off window (not both)")
        elif kind == "recurring":
            _need(self.rrule is not None, "rrule: required for a recurring window "
                  "(e.g. FREQ=WEEKLY;BYDAY=SU)")
            _need(self.start is not None, "start: required for a recurring window (the local "
                  "time of the first occurrence, DTSTART)")
            _need((self.end is None) != (self.duration is None),
                  "duration: give either duration or end (of the first occurrence)")
        else:
            _need(self.rrule is None, "rrule: a manual window does not recur")
            _need(self.end is None, "end: a manual window stays open until ended "
                  "(use kind once for a fixed end)")
            _need(self.duration is None, "duration: a manual window stays open until ended "
                  "(use kind once for a fixed length)")
        if self.kind != kind:
            object.__setattr__(self, "kind", kind)  # frozen: fill the inferred kind once
        return self

    # -- derived ---------------------------------------------------------------------
    @property
    def parsed_matchers(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(text) for text in self.matchers)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def length(self) -> float | None:
        """Seconds each occurrence lasts (None for manual windows)."""
        if self.duration is not None:
            return self.duration
        if self.start is not None and self.end is not None:
            return to_utc(self.end, self.timezone) - to_utc(self.start, self.timezone)
        return None


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def normalize_rrule(text: str) -> str:
    """Upper-case, without an ``RRULE:`` prefix; DTSTART belongs in ``start``, not here."""
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[6:]
    value = value.upper().replace(" ", "")
    if not value:
        raise ValueError("is empty (e.g. FREQ=WEEKLY;BYDAY=SU)")
    if "DTSTART" in value or "\n" in value:
        raise ValueError("give only the RRULE part (e.g. FREQ=WEEKLY;BYDAY=SU); the first "
                         "occurrence is the window's start")
    parts = dict(p.partition("=")[::2] for p in value.split(";") if p)
    freq = parts.get("FREQ")
    if freq not in _RRULE_FREQS:
        raise ValueError(f"FREQ must be one of {', '.join(_RRULE_FREQS)} (got {freq!r})")
    return value


def to_utc(local: datetime, zone: str) -> float:
    """Unix time of a local wall-clock time. RFC 5545 3.3.5: a time in a DST gap uses the
    offset before the gap (02:30 on a spring-forward night is 03:30 new time), an ambiguous
    one the first occurrence; zoneinfo's fold=0 does exactly that."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).timestamp()


def from_utc(timestamp: float, zone: str) -> datetime:
    """Local wall-clock (naive) time of a Unix time in ``zone`` (as rules.from_utc, which
    model.py does not import at start: it would bring dateutil)."""
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).replace(tzinfo=None)


def human_duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))

