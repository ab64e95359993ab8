"""The alert policy's pure parts: severity rules, flapping hysteresis, dependencies, config."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from alerts.config import AlertingConfig
from alerts.policy import (
    DependencySettings,
    ExamSignal,
    FlappingSettings,
    SeverityFacts,
    SeverityRule,
    is_flapping,
    judge_severity,
    parents_of,
    percent_state_change,
)
from monitor.app.config import ConfigError, parse_config
from monitor.kernel.result import Status

S = {"O": Status.OK, "W": Status.WARNING, "C": Status.CRITICAL, "U": Status.UNKNOWN}


# -- severity -------------------------------------------------------------------
@dataclass(frozen=True)
class SevCase:
    name: str
    status: Status
    expected: str
    check_type: str = "http"
    check: str = "homepage"
    labels: dict[str, str] = field(default_factory=dict)
    rules: tuple[dict[str, object], ...] = ()
    exam_attempts: float | None = None
    exam: dict[str, object] = field(default_factory=dict)


SEV_CASES = [
    SevCase("warning_maps_to_warning", Status.WARNING, "warning"),
    SevCase("critical_maps_to_critical", Status.CRITICAL, "critical"),
    SevCase("unknown_maps_to_warning", Status.UNKNOWN, "warning"),
    SevCase("a_rule_on_check_type_and_status_sets_it", Status.WARNING, "info",
            check_type="tls", rules=({"check_type": ["tls"], "status": ["WARNING"],
                                      "severity": "info"},)),
    SevCase("a_rule_that_does_not_match_the_status_is_skipped", Status.CRITICAL, "critical",
            check_type="tls", rules=({"check_type": ["tls"], "status": ["WARNING"],
                                      "severity": "info"},)),
    SevCase("the_first_matching_rule_wins", Status.CRITICAL, "page",
            labels={"team": "exams"},
            rules=({"labels": {"team": "exams"}, "severity": "page"},
                   {"check": ["homepage"], "severity": "info"})),
    SevCase("all_labels_of_a_rule_must_match", Status.CRITICAL, "critical",
            labels={"team": "exams"},
            rules=({"labels": {"team": "exams", "env": "prod"}, "severity": "page"},)),
    SevCase("builtin_labels_can_be_matched", Status.CRITICAL, "warning",
            rules=({"labels": {"lms": "moodle-test"}, "severity": "warning"},)),
    SevCase("an_outage_during_an_exam_pages", Status.CRITICAL, "page", exam_attempts=250),
    SevCase("moodle_availability_during_an_exam_pages", Status.WARNING, "page",
            check_type="moodle_availability", exam_attempts=20),
    SevCase("few_attempts_are_no_exam", Status.CRITICAL, "critical", exam_attempts=19),
    SevCase("no_fresh_exam_result_no_raise", Status.CRITICAL, "critical", exam_attempts=None),
    SevCase("other_check_types_are_not_raised_by_exams", Status.CRITICAL, "critical",
            check_type="moodle_cron", exam_attempts=500),
    SevCase("the_exam_threshold_is_configurable", Status.CRITICAL, "critical",
            exam_attempts=150, exam={"min_attempts": 200}),
    SevCase("the_exam_raise_can_be_turned_off", Status.CRITICAL, "critical",
            exam_attempts=500, exam={"enabled": False}),
    SevCase("the_exam_raise_never_lowers_a_rule", Status.CRITICAL, "page", exam_attempts=500,
            exam={"severity": "critical"}, rules=({"severity": "page"},)),
    SevCase("a_rule_can_use_the_exam_context_itself", Status.WARNING, "critical",
            check_type="moodle_cron", exam_attempts=40,
            rules=({"check_type": ["moodle_cron"], "min_exam_attempts": 30,
                    "severity": "critical"},)),
    SevCase("an_ok_result_is_never_raised", Status.OK, "info", exam_attempts=500),
]


@pytest.mark.parametrize("case", SEV_CASES, ids=lambda c: c.name)
def test_severity(case: SevCase) -> None:
    facts = SeverityFacts("moodle-test", case.check, case.check_type, case.status,
                          {**case.labels, "lms": "moodle-test"}, case.exam_attempts)
    rules = [SeverityRule.model_validate(rule) for rule in case.rules]
    assert judge_severity(facts, rules, ExamSignal.model_validate(case.exam)) == case.expected


# -- flapping -------------------------------------------------------------------
def statuses(history: str) -> list[Status]:
    """Oldest first in the string, newest first in the list (as StateStore.history)."""
    return [S[c] for c in reversed(history)]


@pytest.mark.parametrize(("history", "percent"), [
    ("O" * 21, 0.0),
    ("OC" * 10 + "O", 100.0),                       # every result a change
    ("O" * 20 + "C", 120.0 / 20),                   # one change, the newest weighs 1.2
    ("OC" + "C" * 19, 80.0 / 20),                   # one change, the oldest weighs 0.8
    ("OC", 120.0 / 20),                             # short history: still out of 20
])
def test_percent_state_change_weighs_newer_changes_more(history: str, percent: float) -> None:
    assert percent_state_change(statuses(history), 21) == pytest.approx(percent)


@dataclass(frozen=True)
class FlapCase:
    name: str
    was: bool
    history: str
    expected: bool


FLAP_CASES = [
    FlapCase("starts_above_high", False, "OOOOOOOOOOO" + "CCOCOCOCOCO"[:10], True),
    FlapCase("does_not_start_at_forty_percent", False, "O" * 13 + "COCOCOCO", False),
    FlapCase("keeps_flapping_between_low_and_high", True, "O" * 13 + "COCOCOCO", True),
    FlapCase("stops_below_low", True, "OCOCO" + "O" * 16, False),
    FlapCase("six_old_changes_are_still_above_low", True, "OCOCOC" + "O" * 15, True),
    FlapCase("a_steady_outage_is_not_flapping", False, "O" * 10 + "C" * 11, False),
    FlapCase("warning_critical_alternation_flaps_too", False, "W" + "CW" * 10, True),
]


@pytest.mark.parametrize("case", FLAP_CASES, ids=lambda c: c.name)
def test_flapping_hysteresis(case: FlapCase) -> None:
    assert is_flapping(case.was, statuses(case.history), FlappingSettings()) == case.expected


def test_flapping_detection_can_be_turned_off() -> None:
    assert not is_flapping(False, statuses("OC" * 10 + "O"), FlappingSettings(enabled=False))


# -- dependencies ---------------------------------------------------------------
SIBLINGS = {"http": "http", "cron": "moodle_cron", "exams": "moodle_exams", "tls": "tls",
            "dataroot": "moodle_dataroot", "maintenance": "moodle_maintenance"}


@pytest.mark.parametrize(("check", "check_type", "depends_on", "expected"), [
    ("exams", "moodle_exams", [], {"m/http": {"CRITICAL", "UNKNOWN"}, "m/cron": {"UNKNOWN"}}),
    ("cron", "moodle_cron", [], {"m/http": {"CRITICAL", "UNKNOWN"}}),  # not on itself
    # Causes of an HTTP 500/503, not its symptoms: told with the outage, not held.
    ("dataroot", "moodle_dataroot", [], {"m/cron": {"UNKNOWN"}}),
    ("maintenance", "moodle_maintenance", [], {"m/cron": {"UNKNOWN"}}),
    ("maintenance", "moodle_maintenance", ["http"], {"m/http": {"CRITICAL", "UNKNOWN"},
                                                     "m/cron": {"UNKNOWN"}}),
    ("tls", "tls", [], {}),                                  # only Moodle checks by default
    ("http", "http", [], {}),
    ("tls", "tls", ["http", "db-host/postgres"],
     {"m/http": {"CRITICAL", "UNKNOWN"}, "db-host/postgres": {"CRITICAL", "UNKNOWN"}}),
])
def test_parents(check: str, check_type: str, depends_on: list[str],
                 expected: dict[str, set[str]]) -> None:
    parents = parents_of("m", check, check_type, depends_on, SIBLINGS, DependencySettings())
    assert {p.key: set(p.states) for p in parents} == expected


def test_moodle_default_dependencies_can_be_turned_off() -> None:
    settings = DependencySettings(moodle_defaults=False)
    assert parents_of("m", "exams", "moodle_exams", [], SIBLINGS, settings) == ()


# -- config ---------------------------------------------------------------------
@pytest.mark.parametrize(("toml", "problem"), [
    ('[[alerts.severity_rules]]\nseverity = "urgent"',
     "alerts.severity_rules[0].severity: Input should be 'info', 'warning', 'critical' or "
     "'page'"),
    ('[[alerts.severity_rules]]\nstatus = ["BAD"]\nseverity = "page"',
     "alerts.severity_rules[0].status[0]: Input should be"),
    ('[[alerts.severity_rules]]\ncheck_type = ["http"]', "alerts.severity_rules[0].severity: "
     "required key is missing"),
    ("[alerts.flapping]\nlow = 60\nhigh = 50", "alerts.flapping: low (60) must be < high (50)"),
    ("[alerts.exam_signal]\nmin_attempts = 0", "alerts.exam_signal.min_attempts: must be >= 1"),
    ("[alerts.dependencies]\nparent_states = []", "alerts.dependencies.parent_states: "),
    ('[alerts]\ngrafana_url = "ftp://x"', "alerts.grafana_url: must be an absolute http"),
    ('[[lms]]\nname = "m"\nurl = "https://m.example.org"\n[lms.checks.http]\n'
     'interval = 60\nretry_interval = 90', "lms[0].checks.http: retry_interval (90s) must be"
     " < interval (60s)"),
    ('[[lms]]\nname = "m"\nurl = "https://m.example.org"\n[lms.checks.http]\n'
     'depends_on = ["a/b/c"]', "lms[0].checks.http.depends_on[0]: 'a/b/c' does not match"),
])
def test_policy_config_errors_name_their_path(toml: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(toml)
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_policy_config_defaults_and_a_full_example() -> None:
    assert AlertingConfig().flapping.high == 50 and AlertingConfig().flapping.low == 25
    config = parse_config('''
[alerts]
grafana_url = "https://grafana.example.org/"
[[alerts.severity_rules]]
lms = ["moodle-test"]
severity = "info"
[alerts.exam_signal]
check_types = ["http"]
min_attempts = 100
[alerts.flapping]
window = 11
[alerts.dependencies]
database_check_types = ["moodle_cron", "tcp"]
[[lms]]
name = "m"
url = "https://m.example.org"
[lms.checks.http]
retry_interval = "10s"
depends_on = ["proxy", "edge/haproxy"]
[lms.checks.proxy]
type = "tcp"
host = "127.0.0.1"
port = 3128
[[lms]]
name = "edge"
[lms.checks.haproxy]
type = "tcp"
host = "127.0.0.1"
port = 8404
''')
    alerts = config.alerts
    assert alerts.grafana_url == "https://grafana.example.org"
    assert alerts.severity_rules[0].severity == "info"
    assert alerts.exam_signal.min_attempts == 100 and alerts.flapping.window == 11
    spec = config.lms[0].checks["http"]
    assert spec.retry_interval == 10.0 and spec.depends_on == ["proxy", "edge/haproxy"]
