"""The soft/hard alert state machine, driven by tables of check results."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from alerts.engine import (
    Decision,
    Thresholds,
    dedup_key,
    evaluate,
    fingerprint,
    resolve_thresholds,
)
from alerts.store import AlertRecord
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.state.store import CheckState

CODES = {"O": Status.OK, "W": Status.WARNING, "C": Status.CRITICAL, "U": Status.UNKNOWN}
MARKS = {None: ".", "firing": "F", "resolved": "R"}
DEFAULTS = Thresholds()


def replay(results: str, thresholds: Thresholds = DEFAULTS) -> tuple[str, list[Decision]]:
    """Feed results ("CCO...") through the engine, counting like StateStore.record_result.

    Returns one mark per result: "." nothing, "F" fired, "R" resolved.
    """
    alert: AlertRecord | None = None
    ok = fail = 0
    marks, decisions = [], []
    for now, code in enumerate(results, start=1):
        status = CODES[code]
        ok, fail = (ok + 1, 0) if status == Status.OK else (0, fail + 1)
        state = CheckState("moodle", "cron", "http", Result(status, f"{status.name} #{now}"),
                           float(now), 0.1, ok, fail, float(now))
        decision = evaluate(alert, state, thresholds, float(now))
        alert = decision.alert if decision.changed else alert
        marks.append(MARKS[decision.transition])
        decisions.append(decision)
    return "".join(marks), decisions


@dataclass(frozen=True)
class Case:
    name: str
    results: str
    expected: str
    thresholds: Thresholds = DEFAULTS


NO_UNKNOWN = Thresholds(unknown_is_failure=False)
CASES = [
    Case("fires_after_three_consecutive_failures", "CCC", "..F"),
    Case("does_not_fire_on_two_failures", "CC", ".."),
    Case("a_single_ok_while_soft_resets_the_count", "CCOCC", "....."),
    Case("warnings_count_as_failures", "WWW", "..F"),
    Case("warnings_and_criticals_count_together", "WCW", "..F"),
    Case("fires_only_once_while_failures_continue", "CCCCCC", "..F..."),
    Case("resolves_after_two_oks", "CCCOO", "..F.R"),
    Case("a_single_ok_while_firing_does_not_resolve", "CCCOC", "..F.."),
    Case("a_failure_between_oks_restarts_the_resolve_count", "CCCOCOO", "..F...R"),
    Case("fires_again_after_resolving", "CCCOOCCC", "..F.R..F"),
    Case("ok_results_never_fire", "OOOO", "...."),
    Case("unknown_counts_as_failure_by_default", "UUU", "..F"),
    Case("unknown_never_fires_when_it_is_not_a_failure", "UUUUU", ".....", NO_UNKNOWN),
    Case("unknown_neither_fires_nor_resolves_a_firing_alert_when_not_a_failure",
         "CCCUUUOO", "..F....R", NO_UNKNOWN),
    # The store's counter does not reset on UNKNOWN: "could not measure" between
    # failures does not break the streak (documented limitation of the counters).
    Case("unknown_between_failures_does_not_break_the_streak", "CCUC", "...F", NO_UNKNOWN),
    Case("a_failure_threshold_of_one_fires_at_once", "C", "F", Thresholds(failure=1)),
    Case("a_success_threshold_of_one_resolves_at_once", "CCCO", "..FR", Thresholds(success=1)),
    Case("a_higher_failure_threshold_waits_longer", "CCCCC", "....F", Thresholds(failure=5)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_transitions(case: Case) -> None:
    marks, _ = replay(case.results, case.thresholds)
    assert marks == case.expected


def test_each_transition_increments_the_counter_and_makes_a_new_dedup_key() -> None:
    _, decisions = replay("CCCOOCCC")
    flips = [d for d in decisions if d.transition]
    assert [d.alert.transition for d in flips] == [1, 2, 3]
    fp = fingerprint("moodle", "cron")
    assert [d.dedup_key for d in flips] == [f"{fp}:1", f"{fp}:2", f"{fp}:3"]
    assert all(d.dedup_key is None for d in decisions if not d.transition)


def test_firing_records_the_problem_and_when_it_became_hard() -> None:
    _, decisions = replay("CCC")
    alert = decisions[-1].alert
    assert (alert.state, alert.status, alert.summary) == ("firing", Status.CRITICAL, "CRITICAL #3")
    assert alert.started_at == 3.0 and alert.resolved_at is None


def test_resolving_keeps_the_start_so_the_outage_duration_is_known() -> None:
    _, decisions = replay("CCCOO")
    alert = decisions[-1].alert
    assert (alert.state, alert.status) == ("ok", Status.OK)
    assert (alert.started_at, alert.resolved_at) == (3.0, 5.0)


def test_a_status_change_while_firing_updates_the_record_without_a_transition() -> None:
    _, decisions = replay("WWWC")
    last = decisions[-1]
    assert last.transition is None and last.changed
    assert (last.alert.status, last.alert.summary) == (Status.CRITICAL, "CRITICAL #4")
    assert last.alert.transition == 1


def test_a_soft_ok_while_firing_keeps_the_problem_on_record() -> None:
    _, decisions = replay("CCCO")
    assert decisions[-1].alert.summary == "CRITICAL #3"
    assert not decisions[-1].changed


def test_a_quiet_check_needs_no_alert_record() -> None:
    _, decisions = replay("OOCCO")
    assert not any(d.changed for d in decisions)


def test_labels_follow_the_configuration() -> None:
    state = CheckState("moodle", "cron", "http", Result(Status.OK, "fine"), 1.0, 0.1, 1, 0, 1.0)
    _, decisions = replay("CCC")
    decision = evaluate(decisions[-1].alert, state, Thresholds(), 4.0, {"team": "lms"})
    assert decision.alert.labels == {"team": "lms"} and decision.changed


def test_the_fingerprint_is_stable_short_hex_and_unambiguous() -> None:
    fp = fingerprint("moodle", "cron")
    assert fp == fingerprint("moodle", "cron")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint("a:b", "c") != fingerprint("a", "b:c")
    assert fingerprint("moodle", "cron") != fingerprint("canvas", "cron")


def test_the_dedup_key_is_fingerprint_and_transition() -> None:
    _, decisions = replay("CCC")
    assert dedup_key(decisions[-1].alert) == f"{fingerprint('moodle', 'cron')}:1"


@pytest.mark.parametrize(
    ("failure", "success", "expected"),
    [(None, None, (3, 2)), (1, None, (1, 2)), (None, 4, (3, 4)), (5, 6, (5, 6))],
)
def test_check_thresholds_override_the_defaults(
    failure: int | None, success: int | None, expected: tuple[int, int]
) -> None:
    spec = CheckSpec(type="http", failure_threshold=failure, success_threshold=success)
    resolved = resolve_thresholds(Thresholds(), spec)
    assert (resolved.failure, resolved.success) == expected


def test_without_a_check_spec_the_defaults_apply() -> None:
    defaults = Thresholds(failure=4, success=3, unknown_is_failure=False)
    assert resolve_thresholds(defaults, None) == defaults
