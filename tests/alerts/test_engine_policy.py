"""The engine's policy step, table-driven: severity events, flapping, acks, holds."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from alerts.engine import Judgement, Thresholds, soft_failing, step
from alerts.store import AlertRecord
from monitor.kernel.result import Result, Status
from monitor.state.store import CheckState

CODES = {"O": Status.OK, "W": Status.WARNING, "C": Status.CRITICAL, "U": Status.UNKNOWN}
SEV = {"w": "warning", "c": "critical", "p": "page", "i": "info"}
DEFAULTS = Thresholds()


@dataclass(frozen=True)
class Run:
    events: list[str]  # one entry per result: "+"-joined event kinds, "" for none
    alerts: list[AlertRecord | None]


def replay(
    results: str, *, severities: str = "", flapping: str = "", held: str = "",
    ack: dict[str, object] | None = None, ack_at: int = 0,
    thresholds: Thresholds = DEFAULTS,
) -> Run:
    """Feed results through ``step`` as the service would.

    ``severities``: one letter per result (w/c/p/i, default from status); ``flapping``:
    "F" where the policy says flapping; ``held``: "H" where a parent is down;
    ``ack``: acknowledgement fields applied to the alert after result number ``ack_at``.
    """
    alert: AlertRecord | None = None
    ok = fail = 0
    announced: str | None = None
    events, alerts = [], []
    for i, code in enumerate(results):
        status = CODES[code]
        ok, fail = (ok + 1, 0) if status == Status.OK else (0, fail + 1)
        now = float(i + 1)
        state = CheckState("moodle", "homepage", "http", Result(status, f"{code}{i + 1}"),
                           now, 0.1, ok, fail, now)
        severity = SEV[severities[i]] if i < len(severities) and severities[i] != "." else (
            "critical" if status in (Status.CRITICAL, Status.UNKNOWN) else "warning")
        judgement = Judgement(
            severity=severity, flapping=flapping[i:i + 1] == "F",
            held="dependency:moodle/http" if held[i:i + 1] == "H" else None,
            announced=announced)
        result = step(alert, state, thresholds, judgement, now)
        if result.changed:
            alert = result.alert
        for kind in result.events:
            if kind in ("firing", "resolved"):
                announced = kind
        if ack is not None and i + 1 == ack_at and alert is not None:
            alert = replace(alert, **ack)  # type: ignore[arg-type]
        events.append("+".join(result.events))
        alerts.append(alert)
    return Run(events, alerts)


def marks(run: Run) -> list[str]:
    return run.events


@dataclass(frozen=True)
class Case:
    name: str
    results: str
    expected: list[str]
    severities: str = ""
    flapping: str = ""
    held: str = ""


CASES = [
    Case("fires_and_resolves_with_one_event_each", "CCCOO",
         ["", "", "firing", "", "resolved"]),
    Case("a_severity_raise_while_firing_is_an_event", "CCCC", ["", "", "firing", "severity"],
         severities="cccp"),
    Case("a_warning_turning_critical_raises_severity", "WWWC",
         ["", "", "firing", "severity"]),
    Case("a_lower_severity_keeps_the_worst_while_firing", "CCCWC", ["", "", "firing", "", ""]),
    Case("a_raise_before_firing_is_part_of_the_firing", "CCC", ["", "", "firing"],
         severities="ccp"),
    Case("flapping_starts_with_one_event_and_silences_transitions",
         "CCCOOCCCOO", ["", "", "firing", "", "flapping", "", "", "", "", ""],
         flapping="....FFFFFF"),
    Case("flapping_end_announces_a_resolve_that_happened_silently",
         "CCCOOCCCOOO",
         ["", "", "firing", "", "flapping", "", "", "", "", "", "flapping_end+resolved"],
         flapping="....FFFFFF."),
    Case("flapping_end_while_still_firing_says_nothing_more",
         "CCCOOCCCCC", ["", "", "firing", "", "flapping", "", "", "", "", "flapping_end"],
         flapping="....FFFFF."),
    Case("flapping_end_announces_a_firing_that_happened_silently",
         "OOOOCCCCC", ["", "", "flapping", "", "", "", "", "", "flapping_end+firing"],
         flapping="..FFFFFF."),
    Case("a_check_that_never_fired_can_still_flap", "OCOCOC", ["", "", "flapping", "", "", ""],
         flapping="..FFFF"),
    Case("no_severity_storm_while_flapping", "CCCCC", ["", "", "firing", "flapping", ""],
         severities="cccpp", flapping="...FF"),
    Case("a_firing_while_a_parent_is_down_still_is_an_event", "CCC", ["", "", "firing"],
         held="HHH"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_policy_step(case: Case) -> None:
    run = replay(case.results, severities=case.severities, flapping=case.flapping,
                 held=case.held)
    assert marks(run) == case.expected


def test_the_alert_carries_its_severity_and_flapping_flag() -> None:
    run = replay("CCCC", severities="cccp", flapping="...F")
    alert = run.alerts[-1]
    assert alert is not None and alert.severity == "page" and alert.flapping


def test_a_held_alert_says_so_until_it_resolves() -> None:
    run = replay("CCCCOOC", held="HHHHH.H")
    assert [a.held if a else None for a in run.alerts] == [
        None, None, "dependency:moodle/http", "dependency:moodle/http", "dependency:moodle/http",
        None, None]  # resolved: nothing to hold; a soft failure holds nothing either


STICKY = {"ack_by": "ann", "ack_comment": "on it", "ack_at": 3.0, "ack_sticky": True}
NON_STICKY = {**STICKY, "ack_sticky": False}


@dataclass(frozen=True)
class AckCase:
    name: str
    results: str
    ack: dict[str, object]
    expected_events: list[str]
    acked_after: list[bool]


ACK_CASES = [
    AckCase("a_sticky_ack_survives_status_changes", "CCCWC", STICKY,
            ["", "", "firing", "", ""], [False, False, True, True, True]),
    AckCase("a_sticky_ack_ends_when_the_alert_resolves", "CCCOO", STICKY,
            ["", "", "firing", "", "resolved"], [False, False, True, True, False]),
    AckCase("a_non_sticky_ack_ends_at_the_next_status_change", "CCCCW", NON_STICKY,
            ["", "", "firing", "", "unacknowledged"], [False, False, True, True, False]),
    AckCase("a_non_sticky_ack_survives_the_same_status", "CCCCC", NON_STICKY,
            ["", "", "firing", "", ""], [False, False, True, True, True]),
    AckCase("a_non_sticky_ack_ends_silently_with_a_resolve", "CCCOO", NON_STICKY,
            ["", "", "firing", "", "resolved"], [False, False, True, True, False]),
]


@pytest.mark.parametrize("case", ACK_CASES, ids=lambda c: c.name)
def test_acknowledgement_lifetime(case: AckCase) -> None:
    run = replay(case.results, ack=case.ack, ack_at=3)
    assert run.events == case.expected_events
    assert [bool(a and a.acknowledged) for a in run.alerts] == case.acked_after


@pytest.mark.parametrize(("results", "unknown_is_failure", "expected"), [
    ("UUU", True, ["", "", "firing"]),
    ("UUU", False, ["", "", ""]),
    ("CCCUUU", False, ["", "", "firing", "", "", ""]),  # UNKNOWN holds the alert as it is
    ("CCCUOO", False, ["", "", "firing", "", "", "resolved"]),
])
def test_unknown_counts_as_the_option_says(
    results: str, unknown_is_failure: bool, expected: list[str]
) -> None:
    run = replay(results, thresholds=Thresholds(unknown_is_failure=unknown_is_failure))
    assert run.events == expected


def _state(status: Status) -> CheckState:
    return CheckState("m", "c", "http", Result(status, "x"), 1.0, 0.1, 0, 1, 1.0)


FIRING = AlertRecord("fp", "m", "c", "firing", Status.CRITICAL, "x", {}, 1.0, None, 1)


@pytest.mark.parametrize(("alert", "status", "unknown_is_failure", "expected"), [
    (None, Status.CRITICAL, True, True),
    (None, Status.OK, True, False),
    (FIRING, Status.CRITICAL, True, False),     # already firing: the normal interval
    (None, Status.UNKNOWN, True, True),
    (None, Status.UNKNOWN, False, False),       # UNKNOWN is not a failure: no hurry
    (replace(FIRING, state="ok"), Status.WARNING, True, True),
])
def test_soft_failing_decides_the_faster_retry(
    alert: AlertRecord | None, status: Status, unknown_is_failure: bool, expected: bool
) -> None:
    thresholds = Thresholds(unknown_is_failure=unknown_is_failure)
    assert soft_failing(alert, _state(status), thresholds) is expected
