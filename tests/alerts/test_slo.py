"""Availability SLO: burn-rate windows, multi-window alerts, error budget, config
(alerts/slo.py, alerts/history.py probe counts, alerts/evaluator.py).

Minute buckets are synthetic rows in a real SQLite file; ``now`` is injected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from alerts.evaluator import PolicyEvaluator
from alerts.history import History, SampleRecorder, WatchPlan
from alerts.service import AlertService
from alerts.slo import (
    BURN_ALERTS,
    NO_DATA,
    SloSettings,
    SloTarget,
    evaluate_slo,
    period_label,
    resolve_target,
    windows_for,
)
from monitor.app.config import ConfigError, VigilConfig, parse_config
from monitor.app.metrics import build_registry
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Status
from monitor.state.store import CheckState
from tests.alerts.history_kit import add_minutes
from tests.conftest import FakeClock

NOW = 1_800_000_000.0  # a whole minute: minute buckets line up with the windows
MINUTE = 60
DAY_MINUTES = 1440
TARGET = SloTarget("prod", "http", 0.999, 30 * 86400.0)

PROBES = 10_000  # per minute bucket, so small error rates are exact
# bad_fraction(minutes_ago) -> share of the minute's probes that failed; None: no probes
Shape = Callable[[int], float | None]


def steady(rate: float, *, for_minutes: int = 30 * DAY_MINUTES) -> Shape:
    return lambda ago: rate if ago < for_minutes else 0.0


def outage(start_ago: int, end_ago: int) -> Shape:
    """Every probe failed from ``start_ago`` to ``end_ago`` minutes ago."""
    return lambda ago: 1.0 if end_ago <= ago < start_ago else 0.0


def buckets(shape: Shape, days: int = 30) -> list[tuple[int, int, int]]:
    now_minute = int(NOW // MINUTE)
    rows = []
    for ago in range(days * DAY_MINUTES):
        share = shape(ago)
        if share is not None:
            bad = round(share * PROBES)
            rows.append((now_minute - ago, PROBES - bad, PROBES))
    return rows


def judge(store: StateStore, shape: Shape, days: int = 30) -> Result:
    history = History(store)
    add_minutes(history, "prod", buckets(shape, days))
    sums = history.probe_sums("prod", windows_for(TARGET.period), NOW)
    return evaluate_slo(TARGET, sums)


def sample(result: Result, name: str, **labels: str) -> float | None:
    found = [s.value for s in result.samples if s.name == name and dict(s.labels) == labels]
    return found[0] if found else None


# -- the burn-rate alert table ------------------------------------------------------------
@pytest.mark.parametrize(("case", "shape", "status", "alert", "in_summary"), [
    ("fast burn: everything fails for the last hour", outage(60, 0),
     Status.CRITICAL, ("page", "1h", "5m"), "burning 1000.0x over 1h and 1000.0x over 5m"),
    ("steady 0.8 % errors for 6 h: 8x", steady(0.008, for_minutes=360),
     Status.CRITICAL, ("page", "6h", "30m"), "(page above 6x)"),
    ("slow burn: 0.4 % errors for 3 days: 4x", steady(0.004, for_minutes=3 * DAY_MINUTES),
     Status.WARNING, ("ticket", "1d", "2h"), "(ticket above 3x)"),
    ("slower burn: 0.15 % errors for 3 days: 1.5x", steady(0.0015, for_minutes=3 * DAY_MINUTES),
     Status.WARNING, ("ticket", "3d", "6h"), "(ticket above 1x)"),
    ("an outage 7 h ago is over: short windows are clean", outage(7 * 60 + 60, 7 * 60),
     Status.OK, None, "error budget exhausted"),
    ("a healthy month", steady(0.0), Status.OK, None, "100% of the 30d error budget left"),
])
def test_multi_window_multi_burn_rate_alerts(
    store: StateStore, case: str, shape: Shape, status: Status,
    alert: tuple[str, str, str] | None, in_summary: str,
) -> None:
    result = judge(store, shape)
    assert result.status is status, result.summary
    assert in_summary in result.summary
    if alert is None:
        assert "alert" not in result.details
    else:
        found = result.details["alert"]
        assert (found["kind"], found["long"], found["short"]) == alert


def test_the_long_window_keeps_a_short_blip_from_paging(store: StateStore) -> None:
    # 10 % of one minute's probes failed: the 5 m window burns at 20x, but the 1 h
    # window only at 1.7x, so the 1h/5m pair holds back.
    result = judge(store, lambda ago: 0.1 if ago == 0 else 0.0)
    assert result.status is Status.OK
    assert sample(result, "lms_slo_burn_rate", window="5m") == pytest.approx(20.0)
    assert sample(result, "lms_slo_burn_rate", window="1h") == pytest.approx(1000 / 600)
    # A whole minute down is 1/60 of the hour: 16.7x > 14.4, and that pages.
    store.db.execute("DELETE FROM slo_minutes")
    assert judge(store, outage(1, 0)).status is Status.CRITICAL


def test_no_probes_in_the_longest_window_is_unknown_and_gathering(store: StateStore) -> None:
    result = evaluate_slo(TARGET, History(store).probe_sums("prod", windows_for(TARGET.period),
                                                            NOW))
    assert result.status is Status.UNKNOWN
    assert NO_DATA in result.summary and "'http'" in result.summary
    assert result.details["gathering_history"] is True
    assert sample(result, "lms_slo_error_budget_remaining_ratio") is None


def test_windows_without_probes_never_fire_a_pair(store: StateStore) -> None:
    # Probes stopped 10 minutes ago after an hour of failures: the 5 m window is empty,
    # so the 1h/5m pair cannot hold; 6h/30m still sees the failures.
    result = judge(store, lambda ago: None if ago < 10 else (1.0 if ago < 70 else 0.0))
    assert result.status is Status.CRITICAL
    assert result.details["alert"]["long"] == "6h"
    assert sample(result, "lms_slo_burn_rate", window="5m") is None


def test_a_young_installation_counts_the_time_before_its_history_as_good(
    store: StateStore,
) -> None:
    # 40 minutes of history; every probe failed for 3 minutes, which ended 35 minutes
    # ago (docs/real-moodle.md, problem 4). Judged on its 40 minutes alone, the 1 d
    # window burns at 75x and the 2 h one too: a ticket, for hours after the recovery,
    # and "30d error budget exhausted (-7400%)". Over a real month 3 minutes are 6.9 %
    # of a 99.9 % budget.
    history = History(store)
    add_minutes(history, "prod", buckets(
        lambda ago: None if ago >= 40 else (1.0 if 35 <= ago < 38 else 0.0)))
    sums = history.probe_sums("prod", windows_for(TARGET.period), NOW)
    watched = history.minutes_watched("prod", NOW - TARGET.period, NOW)
    assert watched == 40

    as_counted = evaluate_slo(TARGET, sums)
    assert as_counted.status is Status.WARNING and "exhausted" in as_counted.summary

    result = evaluate_slo(TARGET, sums, minutes_watched=watched)
    assert result.status is Status.OK, result.summary
    assert sample(result, "lms_slo_error_budget_remaining_ratio") == pytest.approx(
        1 - 3 / (30 * DAY_MINUTES) / 0.001)
    assert sample(result, "lms_slo_burn_rate", window="1d") == pytest.approx(
        3 / DAY_MINUTES / 0.001)
    # Windows the history covers are judged as counted: the 30 m window is clean, the
    # 5 m one too, and the observed availability is not made up.
    assert sample(result, "lms_slo_availability_ratio", window="1h") == pytest.approx(37 / 40)
    assert result.details["minutes_watched"] == 40


def test_a_young_installation_still_pages_for_an_outage_going_on(store: StateStore) -> None:
    # Ten minutes of history, the last four all failed: down now, so it pages.
    history = History(store)
    add_minutes(history, "prod", buckets(lambda ago: None if ago >= 10 else float(ago < 4)))
    sums = history.probe_sums("prod", windows_for(TARGET.period), NOW)
    result = evaluate_slo(TARGET, sums,
                          minutes_watched=history.minutes_watched("prod", NOW - TARGET.period, NOW))
    assert result.status is Status.CRITICAL, result.summary
    assert result.details["alert"]["long"] == "1h"


def test_budget_and_ratios_are_exported_per_window(store: StateStore) -> None:
    result = judge(store, steady(0.0005))  # half the allowed error rate for the month
    assert result.status is Status.OK
    assert sample(result, "lms_slo_objective_ratio") == 0.999
    assert sample(result, "lms_slo_error_budget_remaining_ratio") == pytest.approx(0.5)
    assert sample(result, "lms_slo_availability_ratio", window="30d") == pytest.approx(0.9995)
    assert sample(result, "lms_slo_burn_rate", window="1h") == pytest.approx(0.5)
    windows = {dict(s.labels)["window"] for s in result.samples if s.name == "lms_slo_burn_rate"}
    assert windows == {"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}


def test_burn_factors_are_the_workbook_ones_for_30_days() -> None:
    factors = [round(a.factor(30 * 86400.0), 6) for a in BURN_ALERTS]
    assert factors == [14.4, 6.0, 3.0, 1.0]
    # A 28-day period spends the same share of its budget: slightly lower factors.
    assert round(BURN_ALERTS[0].factor(28 * 86400.0), 2) == 13.44


@pytest.mark.parametrize(("minutes_ago", "window", "inside"), [
    (0, "5m", True), (4, "5m", True), (5, "5m", False),
    (59, "1h", True), (60, "1h", False), (3 * DAY_MINUTES - 1, "3d", True),
])
def test_window_edges(store: StateStore, minutes_ago: int, window: str, inside: bool) -> None:
    add_minutes(History(store), "prod", [(int(NOW // MINUTE) - minutes_ago, 0, 1)])
    sums = History(store).probe_sums("prod", windows_for(TARGET.period), NOW)
    assert sums[window] == ((0, 1) if inside else (0, 0))


# -- counting probes ------------------------------------------------------------------------
CONFIG = """
[[lms]]
name = "prod"
url = "https://prod.example"
[lms.checks.http]
[lms.checks.login]
type = "http"
url = "https://prod.example/login/index.php"
[lms.checks.tcp]
type = "tcp"
port = 443
"""


def config(extra: str = "") -> VigilConfig:
    return parse_config(extra + CONFIG)


def probe(store: StateStore, recorder: SampleRecorder, check: str, status: Status,
          at: float, check_type: str = "http") -> CheckState:
    state = store.record_result("prod", check, check_type, Result(status, status.name), at, 0.1)
    recorder.on_state(state, None, at, labels={"team": "x"})
    return state


def minutes(store: StateStore) -> list[tuple[int, int, int]]:
    rows = store.db.execute("SELECT minute, good, total FROM slo_minutes ORDER BY minute")
    return [tuple(r) for r in rows]


def test_probes_of_the_availability_check_are_counted_per_minute(
    store: StateStore, clock: FakeClock
) -> None:
    recorder = SampleRecorder(store, WatchPlan.from_config(config()))
    start = int(clock.time() // 60)
    for status in (Status.OK, Status.CRITICAL, Status.UNKNOWN):
        probe(store, recorder, "http", status, clock.time())
        probe(store, recorder, "login", Status.CRITICAL, clock.time())  # not the SLO check
        clock.advance(20)
    clock.advance(60)
    probe(store, recorder, "http", Status.OK, clock.time())
    assert minutes(store) == [(start, 1, 3), (start + 2, 1, 1)]


def test_minutes_inside_a_maintenance_window_count_neither_way(
    store: StateStore, clock: FakeClock
) -> None:
    asked: list[Mapping[str, str]] = []

    def covered(labels: Mapping[str, str], now: float) -> bool:
        asked.append(dict(labels))
        return clock.time() < 1_800_000_120.0

    recorder = SampleRecorder(store, WatchPlan.from_config(config()), in_maintenance=covered)
    probe(store, recorder, "http", Status.CRITICAL, clock.time())
    clock.advance(120)
    probe(store, recorder, "http", Status.OK, clock.time())
    assert minutes(store) == [(int(clock.time() // 60), 1, 1)]
    assert asked[0] == {"team": "x", "lms": "prod", "check": "http", "check_type": "http"}
    # Turned off: maintenance minutes count like any other.
    off = SampleRecorder(store, WatchPlan.from_config(config(
        "[alerts.slo]\nexclude_maintenance = false\n")), in_maintenance=covered)
    probe(store, off, "http", Status.OK, clock.time())
    assert minutes(store)[-1][2] == 2


@pytest.mark.parametrize(("extra", "check", "objective"), [
    ("", "http", 0.999),
    ('[alerts.slo]\nobjective = "99.5%"\ncheck = "login"\n', "login", 0.995),
    ('[alerts.slo.lms.prod]\ncheck = "login"\nobjective = 0.9999\n', "login", 0.9999),
    ("[alerts.slo]\nenabled = false\n", None, None),
    ("[alerts.slo]\nenabled = false\n[alerts.slo.lms.prod]\nenabled = true\n", "http", 0.999),
])
def test_each_lms_gets_its_availability_check_and_objective(
    extra: str, check: str | None, objective: float | None
) -> None:
    target = WatchPlan.from_config(config(extra)).slo.get("prod")
    if check is None:
        assert target is None
    else:
        assert target is not None and (target.check, target.objective) == (check, objective)


@pytest.mark.parametrize(("checks", "expected"), [
    ({"http": "http", "front": "http"}, "http"),
    ({"front": "http", "tls": "tls"}, "front"),
    ({"tls": "tls"}, None),  # no http check: no SLO
])
def test_the_default_availability_check(checks: dict[str, str], expected: str | None) -> None:
    target = resolve_target(SloSettings(), "prod", checks)
    assert (target.check if target else None) == expected


@pytest.mark.parametrize(("extra", "problem"), [
    ("[alerts.slo]\nobjective = 99.9\n", "alerts.slo.objective: must be a ratio between 0 and 1"),
    ('[alerts.slo]\nobjective = "ninety%"\n', "alerts.slo.objective: 'ninety%' is not a"),
    ('[alerts.slo]\nperiod = "1d"\n', "alerts.slo: period: must be at least 3d"),
    ('[alerts.slo.lms.nope]\ncheck = "http"\n', "alerts.slo.lms.nope: no LMS named 'nope'"),
    ('[alerts.slo.lms.prod]\ncheck = "homepage"\n',
     "alerts.slo.lms.prod.check: LMS 'prod' has no check 'homepage'"),
    ('[alerts.slo]\ncheck = "homepage"\n', "alerts.slo.check: LMS 'prod' has no check"),
    ('[alerts.slo]\nwindows = ["1h"]\n', "alerts.slo.windows: unknown key"),
    ('[alerts.history]\nresolution = "0s"\n', "alerts.history.resolution: must be > 0"),
    ('[alerts]\nevaluation_interval = "often"\n', "alerts.evaluation_interval: 'often'"),
])
def test_slo_config_errors_name_the_path(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(extra)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_period_labels() -> None:
    assert [period_label(p) for p in (30 * 86400, 28 * 86400, 36 * 3600, 90.0)] == [
        "30d", "28d", "36h", "90s"]


# -- evaluation end to end -------------------------------------------------------------------
class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[CheckState, Any]] = []

    def on_state(self, state: CheckState, spec: Any, now: float, *,
                 labels: Mapping[str, str]) -> None:
        self.calls.append((state, spec))


def test_a_fast_burn_pages_through_the_alert_service_and_shows_in_metrics(
    store: StateStore,
) -> None:
    cfg = config("""
[[alerts.severity_rules]]
check = ["slo_availability"]
status = ["CRITICAL"]
severity = "page"
""")
    alerts = AlertService(store, cfg.alerts)
    add_minutes(History(store), "prod", buckets(outage(90, 0), days=3))
    evaluator = PolicyEvaluator(store, WatchPlan.from_config(cfg), listener=alerts)
    evaluator.step(NOW)
    state = store.get_state("prod", "slo_availability")
    assert state is not None and state.check_type == "slo"
    assert state.result.status is Status.CRITICAL
    (alert,) = [a for a in alerts.firing() if a.check == "slo_availability"]
    assert alert.severity == "page"
    exposition = generate_latest(build_registry(store)[0]).decode()
    assert 'lms_slo_burn_rate{check="slo_availability",lms="prod",window="1h"} 1000.0' in (
        exposition)
    assert 'lms_slo_error_budget_remaining_ratio{check="slo_availability",lms="prod"}' in (
        exposition)


def test_recovery_resolves_and_no_data_never_alerts(store: StateStore) -> None:
    cfg = config()
    listener = Recording()
    evaluator = PolicyEvaluator(store, WatchPlan.from_config(cfg), listener=listener)
    evaluator.step(NOW)  # nothing measured yet
    state = store.get_state("prod", "slo_availability")
    assert state is not None and state.result.status is Status.UNKNOWN
    assert listener.calls == []
    add_minutes(History(store), "prod", buckets(outage(60, 0), days=3))
    evaluator.step(NOW)
    add_minutes(History(store), "prod", [(int(NOW // MINUTE) + m, 1000, 1000)
                                        for m in range(1, 8 * 60)])
    evaluator.step(NOW + 8 * 3600)
    assert [c[0].result.status for c in listener.calls] == [Status.CRITICAL, Status.OK]


def test_the_documented_examples_validate() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "predictions-and-slo.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert len(blocks) == 5
    site = """
[[lms]]
name = "moodle-prod"
url = "https://prod.example"
[lms.checks.http]
[lms.checks.login]
type = "http"
url = "https://prod.example/login/index.php"
"""
    for block in blocks:
        parse_config(block + site)
