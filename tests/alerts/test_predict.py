"""Predictive rules: the least-squares fit, time to threshold, gate + horizon levels,
and the ``[[alerts.predict]]`` config (alerts/predict.py, alerts/predict_rules.py).

Pure logic with ``now`` injected; series are synthetic (a disk filling linearly, with
noise, flat, a queue rising).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from alerts.predict import (
    NOT_ENOUGH_HISTORY,
    SECONDS_TO_THRESHOLD,
    SeriesInput,
    evaluate_rule,
    fit_line,
    judge_series,
    seconds_to_threshold,
)
from alerts.predict_rules import (
    GAUGES_CONTEXT,
    PredictRule,
    Quantity,
    default_predict_rules,
    parse_gate,
    parse_quantity,
)
from monitor.app.catalogue import CATALOGUE
from monitor.app.config import ConfigError, parse_config
from monitor.kernel.result import Status

NOW = 1_800_000_000.0
HOUR = 3600.0
GIB = 2.0**30
SIZE = 100 * GIB


def series(
    value_at: Callable[[float], float], *, hours: float = 6, step: float = 300,
    end: float = NOW,
) -> list[tuple[float, float]]:
    """Points every ``step`` s over the last ``hours``; value_at(t) with t <= 0 (s before end)."""
    count = int(hours * HOUR / step)
    return [(end - i * step, value_at(-i * step)) for i in range(count, -1, -1)]


def filling(free_now: float, bytes_per_hour: float) -> Callable[[float], float]:
    """Free bytes changing by ``bytes_per_hour`` with ``free_now`` left at t=0."""
    return lambda t: free_now + bytes_per_hour * (t / HOUR)


def disk_rule(**overrides: object) -> PredictRule:
    data: dict[str, object] = {
        "name": "disk", "metric": "lms_system_filesystem_avail_bytes",
        "reference": "lms_system_filesystem_size_bytes", "subject": "disk {mountpoint}",
        "levels": [{"gate": "< 40%", "horizon": "24h", "severity": "warning"},
                   {"gate": "< 20%", "horizon": "4h", "severity": "critical"}],
    }
    data.update(overrides)
    return PredictRule.model_validate(data)


# -- the fit ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "values", "slope", "value_now", "tolerance"), [
    ("linear fill", filling(30 * GIB, -2 * GIB), -2 * GIB / HOUR, 30 * GIB, 1e-6),
    ("rising queue", lambda t: 500 + 100 * (t / HOUR + 6), 100 / HOUR, 1100, 1e-6),
    ("flat", lambda t: 42.0, 0.0, 42.0, 1e-9),
])
def test_the_fit_recovers_slope_and_current_value(
    name: str, values: Callable[[float], float], slope: float, value_now: float,
    tolerance: float,
) -> None:
    fit = fit_line(series(values), NOW)
    assert fit is not None
    assert fit.slope == pytest.approx(slope, rel=tolerance, abs=1e-12)
    assert fit.value_now == pytest.approx(value_now, rel=tolerance, abs=1e-9)
    assert fit.points == 73 and fit.span == 6 * HOUR


def test_a_noisy_series_is_fitted_to_its_trend() -> None:
    noise = random.Random(4)
    points = [(at, v + noise.gauss(0, 0.5 * GIB))
              for at, v in series(filling(30 * GIB, -2 * GIB), step=60)]
    fit = fit_line(points, NOW)
    assert fit is not None
    assert fit.slope == pytest.approx(-2 * GIB / HOUR, rel=0.05)
    assert fit.value_now == pytest.approx(30 * GIB, rel=0.03)


@pytest.mark.parametrize("points", [[], [(NOW, 1.0)], [(NOW, 1.0), (NOW, 2.0)]])
def test_no_line_through_fewer_than_two_instants(points: list[tuple[float, float]]) -> None:
    assert fit_line(points, NOW) is None


@pytest.mark.parametrize(("values", "current", "threshold", "direction", "expected"), [
    ("falling to zero", 30 * GIB, 0.0, "falling", 15 * HOUR),
    ("falling but the threshold is above: already past", 30 * GIB, 40 * GIB, "falling", 0.0),
    ("falling, watched for a rise", 30 * GIB, 100 * GIB, "rising", None),
    ("flat never gets there", 42.0, 0.0, "falling", None),
    ("rising queue to 10000", 1100.0, 10_000.0, "rising", 89 * HOUR),
])
def test_seconds_to_threshold(
    values: str, current: float, threshold: float, direction: str, expected: float | None
) -> None:
    shapes = {
        "falling to zero": filling(30 * GIB, -2 * GIB),
        "falling but the threshold is above: already past": filling(30 * GIB, -2 * GIB),
        "falling, watched for a rise": filling(30 * GIB, -2 * GIB),
        "flat never gets there": lambda t: 42.0,
        "rising queue to 10000": lambda t: 500 + 100 * (t / HOUR + 6),
    }
    fit = fit_line(series(shapes[values]), NOW)
    assert fit is not None
    result = seconds_to_threshold(fit, current, threshold, direction)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, rel=1e-6)


# -- gate + horizon -----------------------------------------------------------------
@pytest.mark.parametrize(("free_now", "per_hour", "status", "summary"), [
    # 30 % free, full in 15 h: past the 40 % gate and within 24 h -> warning
    (30 * GIB, -2 * GIB, Status.WARNING, "disk /var 30% left, runs out in 15h (horizon 1d,"),
    # 15 % free, full in 3 h: past 20 % and within 4 h -> critical
    (15 * GIB, -5 * GIB, Status.CRITICAL, "disk /var 15% left, runs out in 3h (horizon 4h,"),
    # 15 % free but full only in 10 h: the critical horizon fails, the warning one holds
    (15 * GIB, -1.5 * GIB, Status.WARNING, "runs out in 10h (horizon 1d, gate < 40%)"),
    # 50 % free, full in 2 h: a fast fill, but the gate says there is room -> OK
    (50 * GIB, -25 * GIB, Status.OK, "disk /var 50% left, runs out in 2h"),
    # 30 % free, full in 30 h: past the gate but beyond every horizon -> OK
    (30 * GIB, -1 * GIB, Status.OK, "runs out in 1d 6h"),
    # 10 % free and freeing up -> OK, no trend toward the threshold
    (10 * GIB, 1 * GIB, Status.OK, "disk /var 10% left, no trend toward 0 B"),
])
def test_a_level_fires_only_when_gate_and_horizon_both_hold(
    free_now: float, per_hour: float, status: Status, summary: str
) -> None:
    one = SeriesInput({"mountpoint": "/var"}, series(filling(free_now, per_hour)),
                      current=free_now, reference=SIZE)
    verdict = judge_series(disk_rule(), one, NOW)
    assert verdict.status is status
    assert summary in verdict.text


def test_an_absolute_gate_and_a_rising_metric() -> None:
    rule = PredictRule.model_validate({
        "name": "adhoc", "metric": "lms_moodle_adhoc_tasks_due", "direction": "rising",
        "threshold": 10_000, "window": "2h",
        "levels": [{"gate": "> 1000", "horizon": "6h", "severity": "warning"}]})
    backlog = series(lambda t: 5000 + 1000 * (t / HOUR), hours=2)  # +1000 per hour
    assert judge_series(rule, SeriesInput({}, backlog), NOW).status is Status.WARNING
    small = series(lambda t: 800 + 1000 * (t / HOUR), hours=2)  # same pace, below the gate
    assert judge_series(rule, SeriesInput({}, small), NOW).status is Status.OK


def test_a_percentage_gate_without_the_reference_value_never_fires() -> None:
    one = SeriesInput({"mountpoint": "/"}, series(filling(1 * GIB, -5 * GIB)), reference=None)
    assert judge_series(disk_rule(), one, NOW).status is Status.OK


def test_a_certificate_forecast_equals_its_remaining_lifetime() -> None:
    rule = next(r for r in default_predict_rules() if r.name == "tls_cert_expiry")
    left = 2 * 86400.0
    one = SeriesInput({}, series(lambda t: left - t))
    verdict = judge_series(rule, one, NOW)
    assert verdict.status is Status.CRITICAL
    assert verdict.seconds == pytest.approx(left)
    assert verdict.text.startswith("TLS certificate 2d left, runs out in 2d")


# -- history requirements -----------------------------------------------------------
@pytest.mark.parametrize(("points", "min_points", "why"), [
    # 15 minutes of data: too short a span (a quarter of the 6 h window is needed)
    (series(filling(1 * GIB, -5 * GIB), hours=0.25), 5, "4 points over 15m; need 5 over 1h 30m"),
    # long enough, but too few points for the rule's min_points
    (series(filling(1 * GIB, -5 * GIB), hours=2, step=1800), 6,
     "5 points over 2h; need 6 over 1h 30m"),
    ([], 5, "0 points over 0s; need 5 over 1h 30m"),
])
def test_too_little_history_is_unknown_not_enough_history(
    points: list[tuple[float, float]], min_points: int, why: str
) -> None:
    one = SeriesInput({"mountpoint": "/"}, points, reference=SIZE)
    verdict = judge_series(disk_rule(min_points=min_points), one, NOW)
    assert verdict.status is Status.UNKNOWN
    assert verdict.text == f"disk /: {NOT_ENOUGH_HISTORY} ({why})"


# -- one rule over several series -----------------------------------------------------
def test_the_worst_series_names_the_result_and_every_forecast_is_exported() -> None:
    rule = disk_rule()
    result = evaluate_rule(rule, [
        SeriesInput({"mountpoint": "/"}, series(filling(60 * GIB, -1 * GIB)), reference=SIZE,
                    name="system{mountpoint=/}"),
        SeriesInput({"mountpoint": "/var"}, series(filling(15 * GIB, -5 * GIB)), reference=SIZE,
                    name="system{mountpoint=/var}"),
        SeriesInput({"mountpoint": "/srv"}, series(filling(35 * GIB, -3 * GIB)), reference=SIZE,
                    name="system{mountpoint=/srv}"),
        SeriesInput({"mountpoint": "/new"}, [], reference=SIZE, name="system{mountpoint=/new}"),
    ], NOW)
    assert result is not None
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("disk /var 15% left, runs out in 3h")
    assert result.summary.endswith("; 1 series without enough history yet")
    exported = {s.labels["series"]: s.value for s in result.samples}
    assert exported == pytest.approx({"system{mountpoint=/}": 60 * HOUR,
                                      "system{mountpoint=/var}": 3 * HOUR,
                                      "system{mountpoint=/srv}": 35 / 3 * HOUR})
    assert {s.name for s in result.samples} == {SECONDS_TO_THRESHOLD}
    assert set(result.samples[0].labels) == set(CATALOGUE[SECONDS_TO_THRESHOLD].labels)
    assert result.details["gathering_history"] is False


def test_several_series_at_the_same_level_are_counted() -> None:
    fast = series(filling(30 * GIB, -2 * GIB))
    result = evaluate_rule(disk_rule(), [
        SeriesInput({"mountpoint": m}, fast, reference=SIZE) for m in ("/a", "/b", "/c")], NOW)
    assert result is not None and result.status is Status.WARNING
    assert result.summary.endswith("(+2 more)")


def test_only_gathering_series_make_an_unknown_that_is_marked_as_gathering() -> None:
    result = evaluate_rule(disk_rule(), [SeriesInput({"mountpoint": "/"}, [(NOW, 1.0)])], NOW)
    assert result is not None and result.status is Status.UNKNOWN
    assert result.details["gathering_history"] is True
    assert result.samples == ()


def test_an_lms_without_the_metric_gets_no_result() -> None:
    assert evaluate_rule(disk_rule(), [], NOW) is None


# -- quantities, gates, config ----------------------------------------------------------
@pytest.mark.parametrize(("text", "quantity"), [
    (0, Quantity(0.0)), ("40%", Quantity(0.4, percent=True)), ("10GiB", Quantity(10 * GIB)),
    ("1.5 GB", Quantity(1.5e9)), ("14d", Quantity(14 * 86400.0)), ("-3", Quantity(-3.0)),
])
def test_quantities_parse_with_units(text: object, quantity: Quantity) -> None:
    assert parse_quantity(text) == quantity
    assert parse_quantity(str(quantity)) == quantity  # dumped text validates again


@pytest.mark.parametrize(("text", "current", "reference", "passes"), [
    ("< 40%", 30.0, 100.0, True), ("< 40%", 40.0, 100.0, False), ("<= 40%", 40.0, 100.0, True),
    (">= 1000", 1000.0, None, True), ("> 1000", 1000.0, None, False),
    ("< 40%", 30.0, None, None), ("< 40%", 30.0, 0.0, None),
])
def test_gates(text: str, current: float, reference: float | None, passes: bool | None) -> None:
    assert parse_gate(text).passes(current, reference) is passes


RULE = """
[[alerts.predict]]
name = "disk"
metric = "lms_system_filesystem_avail_bytes"
reference = "lms_system_filesystem_size_bytes"
"""


@pytest.mark.parametrize(("toml", "problem"), [
    (RULE + 'levels = [{gate = "< 40%", horizon = "24h", severity = "warning"},'
            ' {gate = "< 20%", horizon = "soon", severity = "critical"}]',
     "alerts.predict[0].levels[1].horizon: 'soon' is not a duration"),
    (RULE + 'levels = [{gate = "40%", horizon = "24h", severity = "warning"}]',
     "alerts.predict[0].levels[0].gate: '40%' is not a gate"),
    (RULE + 'levels = [{horizon = "24h", severity = "page"}]',
     "alerts.predict[0].levels[0].severity: Input should be 'warning' or 'critical'"),
    (RULE + "levels = []", "alerts.predict[0].levels: List should have at least 1 item"),
    (RULE + 'threshold = "5 parsecs"\nlevels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[0].threshold: unknown unit 'parsecs'"),
    (RULE.replace('reference = "lms_system_filesystem_size_bytes"\n', "")
     + 'levels = [{horizon = "1d", severity = "warning"}, '
       '{gate = "< 20%", horizon = "4h", severity = "critical"}]',
     "alerts.predict[0].levels[1].gate: a percentage gate needs the rule's `reference`"),
    (RULE.replace("lms_system_filesystem_avail_bytes", "lms_disk_free")
     + 'levels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[0].metric: 'lms_disk_free' is not a gauge that checks return"),
    (RULE.replace("lms_system_filesystem_avail_bytes", "lms_system_disk_read_bytes_total")
     + 'levels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[0].metric: 'lms_system_disk_read_bytes_total' is not a gauge"),
    (RULE + 'window = "1h"\nmin_span = "2h"\nlevels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[0].min_span: must be <= window (3600s)"),
    (RULE + 'levels = [{horizon = "1h", severity = "warning"}]\n' + RULE
     + 'levels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[1].name: duplicate rule name 'disk'"),
    (RULE.replace('"disk"', '"Disk Space"') + 'levels = [{horizon = "1h", severity = "warning"}]',
     "alerts.predict[0].name: 'Disk Space' does not match"),
])
def test_config_errors_name_the_path(toml: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(toml)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_metric_is_checked_against_the_gauges_the_caller_passes_in() -> None:
    data = {"name": "queue", "metric": "lms_queue_depth",
            "levels": [{"horizon": "1h", "severity": "warning"}]}
    context = {GAUGES_CONTEXT: frozenset({"lms_queue_length"})}
    with pytest.raises(ValueError, match="'lms_queue_depth' is not a gauge that checks return"):
        PredictRule.model_validate(data, context=context)
    assert PredictRule.model_validate({**data, "metric": "lms_queue_length"},
                                      context=context).metric == "lms_queue_length"
    # Alerting knows no check family: without the shell's list any name is taken as given.
    assert PredictRule.model_validate(data).metric == "lms_queue_depth"


def test_default_rules_ship_and_an_empty_list_turns_them_off() -> None:
    defaults = parse_config("").alerts.predict
    assert [rule.name for rule in defaults] == ["disk_space", "disk_inodes", "tls_cert_expiry"]
    disk = defaults[0]
    assert [(str(level.gate), level.horizon, level.severity) for level in disk.levels] == [
        ("< 40%", 86400.0, "warning"), ("< 20%", 14400.0, "critical")]
    assert parse_config("[alerts]\npredict = []").alerts.predict == []


def test_a_configured_rule_replaces_the_defaults_and_round_trips() -> None:
    config = parse_config(RULE + 'window = "3h"\nlabels = {mountpoint = "/var"}\n'
                          'levels = [{gate = "< 15%", horizon = "2h", severity = "critical"}]')
    (rule,) = config.alerts.predict
    assert (rule.window, rule.labels, rule.required_span) == (3 * HOUR, {"mountpoint": "/var"},
                                                              0.75 * HOUR)
    assert rule.matches("prod", "system", {"mountpoint": "/var"})
    assert not rule.matches("prod", "system", {"mountpoint": "/"})
    assert type(rule).model_validate(rule.model_dump()) == rule
