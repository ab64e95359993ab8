"""Alert policy: severity rules, flapping detection and check dependencies.

Sits beside the soft/hard state machine (alerts/engine.py): the service asks these pure
functions, with ``now`` and data read from the store, how bad a failing check is, whether
it flaps, and which checks it depends on; the engine turns the answers into events.
The config models here are the ``[alerts]`` sub-tables ``severity_rules``, ``exam_signal``,
``flapping`` and ``dependencies`` (fields of AlertingConfig in alerts/config.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from monitor.kernel.result import Status
from monitor.kernel.spec import PositiveDuration, StrictModel

Severity = Literal["info", "warning", "critical", "page"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical", "page")
StatusName = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
# A failing check's severity before any rule (Nagios status -> on-call urgency). UNKNOWN
# means Vigil could not judge: told as a warning, not paged (a real site saw a firewalled
# update check page as critical); a severity rule raises it where blindness must page.
STATUS_SEVERITY: dict[Status, Severity] = {
    Status.OK: "info", Status.WARNING: "warning",
    Status.CRITICAL: "critical", Status.UNKNOWN: "warning",
}
EXAM_ATTEMPTS_SAMPLE = "lms_moodle_exam_attempts_in_progress"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1  # type: ignore[arg-type]


# -- severity ------------------------------------------------------------------
class SeverityRule(StrictModel):
    """``[[alerts.severity_rules]]``: the first rule whose every given matcher matches
    sets the severity. Empty lists match anything; ``labels`` must all be equal."""

    lms: list[str] = Field(default_factory=list)
    check: list[str] = Field(default_factory=list)
    check_type: list[str] = Field(default_factory=list)
    status: list[StatusName] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    # Context: match only while the LMS's exams check saw at least this many attempts.
    min_exam_attempts: int | None = Field(default=None, ge=1)
    severity: Severity

    def matches(self, facts: SeverityFacts) -> bool:
        return (
            _in(facts.lms, self.lms) and _in(facts.check, self.check)
            and _in(facts.check_type, self.check_type)
            and _in(facts.status.name, self.status)
            and all(facts.labels.get(k) == v for k, v in self.labels.items())
            and (self.min_exam_attempts is None
                 or (facts.exam_attempts or 0) >= self.min_exam_attempts)
        )


def _in(value: str, allowed: Sequence[str]) -> bool:
    return not allowed or value in allowed


class ExamSignal(StrictModel):
    """``[alerts.exam_signal]``: an availability problem during an exam is a page.

    The context is the latest result of the LMS's ``moodle_exams`` check (its
    ``lms_moodle_exam_attempts_in_progress`` sample), if it is fresher than ``max_age``.
    """

    enabled: bool = True
    check_types: list[str] = Field(default_factory=lambda: ["http", "moodle_availability"])
    min_attempts: int = Field(default=20, ge=1)
    severity: Severity = "page"
    exams_check_type: str = "moodle_exams"
    max_age: PositiveDuration = 1800.0


@dataclass(frozen=True, slots=True)
class SeverityFacts:
    lms: str
    check: str
    check_type: str
    status: Status
    labels: Mapping[str, str]
    exam_attempts: float | None = None  # None: no fresh exams result for this LMS


def judge_severity(
    facts: SeverityFacts, rules: Sequence[SeverityRule], exam: ExamSignal
) -> Severity:
    """Status mapping, then the first matching rule, then the exam raise (never lowers)."""
    severity = STATUS_SEVERITY[facts.status]
    for rule in rules:
        if rule.matches(facts):
            severity = rule.severity
            break
    if (exam.enabled and facts.status != Status.OK and facts.check_type in exam.check_types
            and facts.exam_attempts is not None and facts.exam_attempts >= exam.min_attempts
            and severity_rank(exam.severity) > severity_rank(severity)):
        severity = exam.severity
    return severity


# -- flapping ------------------------------------------------------------------
class FlappingSettings(StrictModel):
    """``[alerts.flapping]``: Nagios' weighted percent state change with hysteresis."""

    enabled: bool = True
    window: int = Field(default=21, ge=3, le=200)  # results looked at (20 possible changes)
    high: float = Field(default=50.0, gt=0, le=100)  # start flapping above this percent
    low: float = Field(default=25.0, ge=0, lt=100)  # stop flapping below this percent

    @model_validator(mode="after")
    def _low_below_high(self) -> FlappingSettings:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be < high ({self.high:g})")
        return self


def percent_state_change(statuses_newest_first: Sequence[Status], window: int) -> float:
    """Nagios' curved percent state change: newer changes weigh more (0.8 .. 1.2).

    The denominator is the full window, so a short history cannot look like flapping.
    """
    oldest_first = list(reversed(statuses_newest_first[:window]))
    slots = window - 1
    offset = slots - (len(oldest_first) - 1)  # a short history fills the newest slots
    weighted = 0.0
    for i in range(1, len(oldest_first)):
        if oldest_first[i] != oldest_first[i - 1]:
            slot = offset + i - 1
            weighted += 0.8 + 0.4 * slot / max(1, slots - 1)
    return 100.0 * weighted / slots


def is_flapping(
    was_flapping: bool, statuses_newest_first: Sequence[Status], settings: FlappingSettings
) -> bool:
    """Hysteresis: start above ``high``, stop below ``low``, else keep the previous state."""
    if not settings.enabled:
        return False
    percent = percent_state_change(statuses_newest_first, settings.window)
    if was_flapping:
        return percent >= settings.low
    return percent > settings.high


# -- dependencies --------------------------------------------------------------
def _unknown_only() -> list[StatusName]:
    return ["UNKNOWN"]


def _down_states() -> list[StatusName]:
    return ["CRITICAL", "UNKNOWN"]


class DependencySettings(StrictModel):
    """``[alerts.dependencies]``: the parents every Moodle check gets without saying so.

    A check of a type starting with ``moodle_`` depends on the checks of its own LMS whose
    type is in ``http_check_types`` (down while CRITICAL or UNKNOWN) and in
    ``database_check_types`` (down only while UNKNOWN: a Moodle check that cannot read
    the database reports UNKNOWN; a CRITICAL cron is a cron problem, not an outage).
    A check's own ``depends_on`` adds parents, down while ``parent_states``.
    Types in ``cause_check_types`` get no HTTP parent: they read the server itself (the
    data directory, maintenance mode) and say why the site answers 500 or 503, so their
    alert goes out with the outage instead of after the repair (a real site's unwritable
    dataroot was notified 54 s after it was fixed).
    """

    moodle_defaults: bool = True
    http_check_types: list[str] = Field(default_factory=lambda: ["http"])
    cause_check_types: list[str] = Field(
        default_factory=lambda: ["moodle_dataroot", "moodle_maintenance"])
    database_check_types: list[str] = Field(default_factory=lambda: ["moodle_cron"])
    database_states: list[StatusName] = Field(default_factory=_unknown_only)
    parent_states: list[StatusName] = Field(default_factory=_down_states, min_length=1)


@dataclass(frozen=True, slots=True)
class Parent:
    lms: str
    check: str
    states: frozenset[str]  # parent status names that count as "down"

    @property
    def key(self) -> str:
        return f"{self.lms}/{self.check}"


def parents_of(
    lms: str, check: str, check_type: str, depends_on: Sequence[str],
    siblings: Mapping[str, str], settings: DependencySettings,
) -> tuple[Parent, ...]:
    """The checks ``lms/check`` depends on. ``siblings`` maps the LMS's check names to
    their types; ``depends_on`` entries are ``check`` (same LMS) or ``lms/check``."""
    found: dict[str, Parent] = {}
    explicit = frozenset(settings.parent_states)
    for ref in depends_on:
        other_lms, _, name = ref.rpartition("/")
        parent = Parent(other_lms or lms, name, explicit)
        found.setdefault(parent.key, parent)
    if settings.moodle_defaults and check_type.startswith("moodle_"):
        for name, kind in sorted(siblings.items()):
            if kind in settings.http_check_types:
                if check_type in settings.cause_check_types:
                    continue
                parent = Parent(lms, name, explicit)
            elif kind in settings.database_check_types:
                parent = Parent(lms, name, frozenset(settings.database_states))
            else:
                continue
            found.setdefault(parent.key, parent)
    found.pop(f"{lms}/{check}", None)  # the database check does not depend on itself
    return tuple(found.values())
