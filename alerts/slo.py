"""Availability SLO per LMS: error budget and multi-window, multi-burn-rate alerts.

alerts/history.py counts, per LMS and minute, the probes of the LMS's availability
check (good = status OK); alerts/evaluator.py sums them over the windows below and
calls ``evaluate_slo`` with ``now``-free sums. The Result becomes the synthetic check
``slo_availability`` (CRITICAL = page, WARNING = ticket), like any check.

Burn rate = error rate / (1 - objective): 1 spends the budget exactly over the
period. The alert pairs are the SRE workbook's (chapter 5, "Alerting on SLOs"): a
long window proves the burn is significant, a short one that it is still going on.
Thresholds come from the share of the period's budget each long window may spend,
which gives the workbook's 14.4 / 6 / 3 / 1 for a 30-day period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import PositiveDuration, StrictModel
from monitor.kernel.units import fmt_duration

CHECK_NAME = "slo_availability"
# The samples of the synthetic check slo_availability; window is one of the alert
# windows below (5m 30m 1h 2h 6h 1d 3d) or the SLO period (e.g. 30d).
METRICS = declare(
    MetricSpec("lms_slo_objective_ratio", "gauge",
               "The availability objective of the LMS, 0..1 (e.g. 0.999)."),
    MetricSpec("lms_slo_availability_ratio", "gauge",
               "Share of the availability check's probes that were OK over the window.",
               ("window",)),
    MetricSpec("lms_slo_burn_rate", "gauge",
               "Error budget burn rate over the window: error rate / (1 - objective); 1 "
               "spends the budget exactly over the SLO period.", ("window",)),
    MetricSpec("lms_slo_error_budget_remaining_ratio", "gauge",
               "Share of the SLO period's error budget left (negative once overspent)."),
)
NO_DATA = "no availability data"
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class BurnAlert:
    status: Status
    kind: str  # "page" | "ticket"
    long: str
    short: str
    budget_share: float  # of the period's budget the long window may burn before alerting

    def factor(self, period: float) -> float:
        return self.budget_share * period / WINDOWS[self.long]


WINDOWS: dict[str, float] = {
    "5m": 300.0, "30m": 1800.0, "1h": 3600.0, "2h": 7200.0, "6h": 21600.0,
    "1d": DAY, "3d": 3 * DAY,
}
BURN_ALERTS = (
    BurnAlert(Status.CRITICAL, "page", "1h", "5m", 0.02),
    BurnAlert(Status.CRITICAL, "page", "6h", "30m", 0.05),
    BurnAlert(Status.WARNING, "ticket", "1d", "2h", 0.10),
    BurnAlert(Status.WARNING, "ticket", "3d", "6h", 0.10),
)
_LONGEST = "3d"


def _objective(value: Any) -> Any:
    """0.999 or "99.9%"; a bare 99.9 is refused rather than guessed."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage such as \"99.9%\"") from None
    if isinstance(value, int | float) and not isinstance(value, bool) and not 0 < value < 1:
        raise ValueError("must be a ratio between 0 and 1 (e.g. 0.999) or a string such as "
                         "\"99.9%\"")
    return value


Objective = Annotated[float, BeforeValidator(_objective), Field(gt=0, lt=1)]
CheckName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]


class SloOverride(StrictModel):
    """``[alerts.slo.lms.<name>]``: one LMS's own objective or availability check."""

    enabled: bool | None = None
    objective: Objective | None = None
    check: CheckName | None = None


class SloSettings(StrictModel):
    """The ``[alerts.slo]`` table."""

    enabled: bool = True
    objective: Objective = 0.999
    period: PositiveDuration = 30 * DAY
    # The availability check of every LMS; None: the LMS's check named "http", else its
    # first check of type http. An LMS without one has no SLO.
    check: CheckName | None = None
    # Minutes inside a maintenance window covering the LMS count neither way.
    exclude_maintenance: bool = True
    lms: dict[str, SloOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _period_holds_the_windows(self) -> SloSettings:
        if self.period < WINDOWS[_LONGEST]:
            raise ValueError(f"period: must be at least {_LONGEST}, the longest burn-rate window")
        return self


@dataclass(frozen=True, slots=True)
class SloTarget:
    """The effective SLO of one LMS."""

    lms: str
    check: str
    objective: float
    period: float


def period_label(period: float) -> str:
    """``30d``: the window label of the whole period."""
    seconds = round(period)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def windows_for(period: float) -> dict[str, float]:
    return {**WINDOWS, period_label(period): period}


def burn_rate(good: int, total: int, objective: float) -> float | None:
    if total <= 0:
        return None
    # 1 - 0.999 is 0.0010000000000000009 in binary floating point; 12 digits hold any
    # sensible objective and keep a total outage at exactly 1000x.
    return (1 - good / total) / round(1 - objective, 12)


def young_burn_rate(
    good: int, total: int, objective: float, window: float, minutes_watched: int | None
) -> float | None:
    """The burn rate of a window longer than the history Vigil has: the minutes before
    the first probe count as good at the observed probe rate. Without this, a young
    installation judges its 6 h, 3 d and 30 d windows on its first minutes alone: one
    2.5-minute outage in the first 40 minutes read as a 395x burn and "30d error budget
    exhausted (-39,000%)", and kept paging long after the site recovered
    (docs/real-moodle.md, problem 4); over a real month it is 5.8 % of the budget."""
    window_minutes = window / 60
    if minutes_watched is None or total <= 0 or minutes_watched >= window_minutes:
        return burn_rate(good, total, objective)
    assumed = total * window_minutes / max(minutes_watched, 1)
    return ((total - good) / assumed) / round(1 - objective, 12)


def evaluate_slo(
    target: SloTarget, sums: Mapping[str, tuple[int, int]], minutes_watched: int | None = None
) -> Result:
    """Judge one LMS's SLO from (good, total) probe counts per window label;
    ``minutes_watched``: how long the LMS has history (None: judge the counts as they are)."""
    label = period_label(target.period)
    windows = windows_for(target.period)
    burns = {name: young_burn_rate(*sums.get(name, (0, 0)), target.objective, windows[name],
                                   minutes_watched)
             for name in windows}
    samples = [Sample("lms_slo_objective_ratio", target.objective)]
    detail_windows: dict[str, Any] = {}
    for name in windows:
        good, total = sums.get(name, (0, 0))
        detail_windows[name] = {"good": good, "total": total, "burn_rate": burns[name]}
        if total:
            samples += [Sample("lms_slo_availability_ratio", good / total, {"window": name}),
                        Sample("lms_slo_burn_rate", burns[name] or 0.0, {"window": name})]
    details: dict[str, Any] = {"check": target.check, "objective": target.objective,
                               "period": target.period, "windows": detail_windows,
                               "minutes_watched": minutes_watched}
    if not sums.get(_LONGEST, (0, 0))[1]:
        details["gathering_history"] = True
        return Result(Status.UNKNOWN, f"availability SLO: {NO_DATA} (no probes of check "
                      f"{target.check!r} in the last {_LONGEST})", tuple(samples), details)
    budget_left = 1 - (burns[label] or 0.0)
    samples.append(Sample("lms_slo_error_budget_remaining_ratio", budget_left))
    details["error_budget_remaining"] = budget_left
    firing = _firing(burns, target.period)
    budget = (f"{budget_left:.0%} of the {label} error budget left" if budget_left > 0
              else f"{label} error budget exhausted ({budget_left:.0%})")
    objective = f"{target.objective * 100:g}%"
    if firing is None:
        good, total = sums[label]
        summary = (f"availability {good / total:.3%} over {label} (SLO {objective}), {budget}; "
                   f"burn rate {burns['1h'] or 0:.1f}x over 1h")
        return Result(Status.OK, summary, tuple(samples), details)
    details["alert"] = {"kind": firing.kind, "long": firing.long, "short": firing.short,
                        "factor": firing.factor(target.period)}
    summary = (f"availability SLO {objective}: error budget burning "
               f"{burns[firing.long]:.1f}x over {firing.long} and {burns[firing.short]:.1f}x "
               f"over {firing.short} ({firing.kind} above {firing.factor(target.period):.3g}x); "
               f"{budget}")
    left = exhaustion_seconds(budget_left, burns[firing.short] or 0.0, target.period)
    if left is not None and budget_left > 0:
        summary += f", gone in {fmt_duration(left)} at this rate"
    return Result(firing.status, summary, tuple(samples), details)


def _firing(burns: Mapping[str, float | None], period: float) -> BurnAlert | None:
    """The first (most severe) alert pair whose long and short windows both burn too fast."""
    for alert in BURN_ALERTS:
        factor = alert.factor(period)
        long, short = burns[alert.long], burns[alert.short]
        if long is not None and short is not None and long > factor and short > factor:
            return alert
    return None


def exhaustion_seconds(budget_left: float, burn: float, period: float) -> float | None:
    """At this burn rate, seconds until the remaining budget is spent; None if not burning."""
    if burn <= 0:
        return None
    return max(0.0, budget_left) * period / burn


def resolve_target(
    settings: SloSettings, lms: str, checks: Mapping[str, str]
) -> SloTarget | None:
    """The SLO of one LMS (``checks``: its check names -> types), or None without one."""
    override = settings.lms.get(lms, SloOverride())
    enabled = settings.enabled if override.enabled is None else override.enabled
    check = override.check or settings.check or _http_check(checks)
    if not enabled or check is None or check not in checks:
        return None
    objective = settings.objective if override.objective is None else override.objective
    return SloTarget(lms, check, objective, settings.period)


def _http_check(checks: Mapping[str, str]) -> str | None:
    if checks.get("http") == "http":
        return "http"
    return next((name for name, kind in checks.items() if kind == "http"), None)


def reference_problems(settings: SloSettings, sites: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Config errors for ``[alerts.slo]`` names that point nowhere (``sites``: LMS name ->
    its check names -> types); monitor/app/config.py reports them with the other errors."""
    problems = []
    for name, override in settings.lms.items():
        if name not in sites:
            problems.append(f"alerts.slo.lms.{name}: no LMS named {name!r}")
        elif override.check is not None and override.check not in sites[name]:
            problems.append(f"alerts.slo.lms.{name}.check: LMS {name!r} has no check "
                            f"{override.check!r}")
    if settings.check is not None:
        for name, checks in sites.items():
            own = settings.lms.get(name, SloOverride())
            enabled = settings.enabled if own.enabled is None else own.enabled
            if enabled and own.check is None and settings.check not in checks:
                problems.append(f"alerts.slo.check: LMS {name!r} has no check "
                                f"{settings.check!r} (set alerts.slo.lms.{name}.check or "
                                f".enabled = false)")
    return problems
