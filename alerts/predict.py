"""Predictive rules: a least-squares line through a gauge's recent history, and when it
reaches a threshold.

Pure: alerts/evaluator.py reads the history (alerts/history.py) and the current
samples, calls ``evaluate_rule`` with ``now``, and records the returned Result as the
synthetic check ``predict_<rule>`` so it reaches the status page, /metrics and the
alert pipeline like any check. The fit is ``statistics.linear_regression`` (ordinary
least squares, as Prometheus' ``predict_linear``); no numpy for a two-parameter fit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.predict_rules import PredictLevel, PredictRule
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_bytes, fmt_duration

SECONDS_TO_THRESHOLD = "lms_prediction_seconds_to_threshold"
# The sample of the synthetic check predict_<rule>; series names the watched sample,
# e.g. system{mountpoint=/var}.
METRICS = declare(
    MetricSpec(SECONDS_TO_THRESHOLD, "gauge",
               "Seconds until the least-squares trend of a watched gauge reaches the rule's "
               "threshold (0 once past); absent while the trend does not head there.",
               ("rule", "series")),
)
NOT_ENOUGH_HISTORY = "not enough history"
_SEVERITY_STATUS = {"warning": Status.WARNING, "critical": Status.CRITICAL}
_MAX_DETAIL_SERIES = 10  # details stay small however many mountpoints a host has
# A series still gathering history (UNKNOWN) must not hide a judgement on the others.
_RANK = {Status.CRITICAL: 3, Status.WARNING: 2, Status.OK: 1, Status.UNKNOWN: 0}


@dataclass(frozen=True, slots=True)
class Fit:
    slope: float  # metric units per second
    value_now: float  # the fitted line at ``now``
    points: int
    span: float  # seconds between the first and the last point


def fit_line(points: Sequence[tuple[float, float]], now: float) -> Fit | None:
    """Least squares over (time, value) points; None with fewer than two distinct times."""
    if len(points) < 2:
        return None
    # Times relative to now keep the sums small (Unix seconds squared lose precision)
    # and make the intercept the fitted value at now.
    xs = [at - now for at, _ in points]
    ys = [value for _, value in points]
    try:
        slope, intercept = statistics.linear_regression(xs, ys)
    except statistics.StatisticsError:  # all points at one instant
        return None
    return Fit(slope, intercept, len(points), max(xs) - min(xs))


def seconds_to_threshold(
    fit: Fit, current: float, threshold: float, direction: str
) -> float | None:
    """Seconds from now until the line reaches the threshold; 0 once past; None if the
    trend is flat or heads away from it."""
    sign = -1.0 if direction == "falling" else 1.0
    if (current - threshold) * sign >= 0:  # already at or past the threshold
        return 0.0
    if fit.slope * sign <= 0:
        return None
    return max(0.0, (threshold - fit.value_now) / fit.slope)


@dataclass(frozen=True, slots=True)
class SeriesInput:
    """One labelled series of the rule's metric on one LMS."""

    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]]  # (at, value), oldest first, within the window
    current: float | None = None  # freshest value (the check's last sample), else last point
    reference: float | None = None  # the reference gauge's current value, same labels
    name: str = ""  # the exported ``series`` label; "" -> series_key(labels)


@dataclass(frozen=True, slots=True)
class SeriesVerdict:
    name: str
    labels: Mapping[str, str]
    status: Status
    text: str
    seconds: float | None = None
    level: PredictLevel | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def judge_series(rule: PredictRule, series: SeriesInput, now: float) -> SeriesVerdict:
    """Fit one series and judge the rule's levels against it."""
    subject = rule.describe(series.labels)
    name = series.name or series_key(series.labels)
    points = list(series.points)
    fit = fit_line(points, now)
    if fit is None or fit.points < rule.min_points or fit.span < rule.required_span:
        have = f"{len(points)} points over {fmt_duration(fit.span if fit else 0)}"
        need = f"{rule.min_points} over {fmt_duration(rule.required_span)}"
        return SeriesVerdict(name, series.labels, Status.UNKNOWN,
                             f"{subject}: {NOT_ENOUGH_HISTORY} ({have}; need {need})",
                             detail={"points": len(points), "gathering": True})
    current = series.current if series.current is not None else points[-1][1]
    threshold = rule.threshold.resolve(series.reference)
    if threshold is None:
        return SeriesVerdict(name, series.labels, Status.UNKNOWN,
                             f"{subject}: no {rule.reference} to place the threshold")
    seconds = seconds_to_threshold(fit, current, threshold, rule.direction)
    fired = _fired_level(rule, current, series.reference, seconds)
    status = _SEVERITY_STATUS[fired.severity] if fired else Status.OK
    text = _describe(rule, subject, current, series.reference, threshold, seconds, fired)
    detail = {"current": current, "reference": series.reference, "threshold": threshold,
              "slope_per_hour": fit.slope * 3600, "points": fit.points, "span": fit.span,
              "seconds_to_threshold": seconds, "level": fired.severity if fired else None}
    return SeriesVerdict(name, series.labels, status, text, seconds, fired, detail)


def _fired_level(
    rule: PredictRule, current: float, reference: float | None, seconds: float | None
) -> PredictLevel | None:
    """The most severe level whose horizon and gate both hold."""
    fired = [
        level for level in rule.levels
        if seconds is not None and seconds < level.horizon
        and (level.gate is None or level.gate.passes(current, reference) is True)
    ]
    return max(fired, key=lambda level: _SEVERITY_STATUS[level.severity], default=None)


def _describe(
    rule: PredictRule, subject: str, current: float, reference: float | None,
    threshold: float, seconds: float | None, fired: PredictLevel | None,
) -> str:
    falling = rule.direction == "falling"
    if rule.reference and reference:
        level = f"{current / reference:.0%} left" if falling else f"at {current / reference:.0%}"
    else:
        level = (f"{_amount(rule.metric, current)} left" if falling and threshold == 0
                 else f"at {_amount(rule.metric, current)}")
    target = "runs out" if falling and threshold == 0 else (
        f"reaches {_amount(rule.metric, threshold)}")
    if seconds is None:
        trend = f"no trend toward {_amount(rule.metric, threshold)}"
    elif seconds == 0:
        trend = f"already past {_amount(rule.metric, threshold)}"
    else:
        trend = f"{target} in {fmt_duration(seconds)}"
    text = f"{subject} {level}, {trend}"
    if fired is not None:
        gate = f", gate {fired.gate}" if fired.gate else ""
        text += f" (horizon {fmt_duration(fired.horizon)}{gate})"
    return text


def _amount(metric: str, value: float) -> str:
    if metric.endswith("_seconds"):
        return fmt_duration(value) if value >= 0 else f"-{fmt_duration(-value)}"
    if metric.endswith("_bytes"):
        return fmt_bytes(value)
    return f"{value:g}"


def evaluate_rule(
    rule: PredictRule, series: Sequence[SeriesInput], now: float
) -> Result | None:
    """The rule's Result for one LMS, or None when the LMS has no series of the metric."""
    if not series:
        return None
    verdicts = [judge_series(rule, one, now) for one in series]
    # Most severe first; among equals, the soonest to reach the threshold.
    verdicts.sort(key=lambda v: (-_RANK[v.status],
                                 math.inf if v.seconds is None else v.seconds))
    worst = verdicts[0]
    summary = worst.text
    alike = sum(1 for v in verdicts[1:] if v.status is worst.status)
    if worst.status in (Status.WARNING, Status.CRITICAL) and alike:
        summary += f" (+{alike} more)"
    pending = sum(1 for v in verdicts if v.detail.get("gathering"))
    if worst.status is not Status.UNKNOWN and pending:
        summary += f"; {pending} series without enough history yet"
    samples = tuple(
        Sample(SECONDS_TO_THRESHOLD, v.seconds, {"rule": rule.name, "series": v.name})
        for v in verdicts if v.seconds is not None
    )
    details = {
        "rule": rule.name, "metric": rule.metric, "window": rule.window,
        # Only series still gathering history: shown, but never an alert (alerts/evaluator.py).
        "gathering_history": all(v.detail.get("gathering") for v in verdicts),
        "series": [{"labels": dict(v.labels), "status": v.status.name, "summary": v.text,
                    **v.detail} for v in verdicts[:_MAX_DETAIL_SERIES]],
    }
    return Result(worst.status, summary, samples, details)


def nothing_to_forecast(rule: PredictRule) -> Result:
    """For an LMS whose series all left the window (the source check stopped or was
    removed): like Prometheus' predict_linear over an empty range, the alert resolves."""
    return Result(Status.OK, f"no samples of {rule.metric} in the last "
                  f"{fmt_duration(rule.window)}: nothing to forecast",
                  details={"rule": rule.name, "metric": rule.metric, "window": rule.window})


def series_key(labels: Mapping[str, str]) -> str:
    """The ``series`` label value: the sample's own labels, e.g. ``mountpoint=/var``."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
