"""Issue #11: one validation reports every problem of a config at once, each naming its
path, in a stable order: field errors from the models and the cross-field rules alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent

# Ten independent problems of eight kinds, in four sections.
SERVER = """
[server]
prot = 1
"""
ALERTS = """
[alerts]
failure_threshold = 0

[[alerts.receivers]]
name = "log"
type = "log"

[alerts.route]
receiver = "pager"

[[alerts.escalations]]
name = "night"
levels = [{after = "5m", receivers = ["boss"]}]

[alerts.slo.lms.ghost]
enabled = true
"""
SITES = """
[[lms]]
name = "prod"
url = "https://prod.example"
[lms.checks.http]
timeout = 0
depends_on = ["dns"]

[[lms]]
name = "prod"

[lms.checks.login]
type = "http"
"""
WINDOWS = """
[[maintenance]]
name = "upgrade"
lms = "stage"
start = "2027-01-20T22:00"
duration = "2h"
timezone = "Europe/Berlin"
"""
BROKEN = SERVER + ALERTS + SITES + WINDOWS

EXPECTED = [
    "alerts.escalations[0].levels[0].receivers[0]: unknown receiver 'boss' (configured: log)",
    "alerts.failure_threshold: must be >= 1",
    "alerts.route.receiver: unknown receiver 'pager' (configured: log)",
    "alerts.slo.lms.ghost: no LMS named 'ghost'",
    "lms[0].checks.http.depends_on[0]: no check 'dns' on LMS 'prod'",
    "lms[0].checks.http.timeout: must be > 0",
    "lms[1].checks.login.url: required because lms[1].url is not set",
    "lms[1].name: LMS name 'prod' is used twice; names must be unique",
    "maintenance[0].matchers: lms=\"stage\" matches no LMS in [[lms]] (known: prod)",
    "server.prot: unknown key",
]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    return caught.value.problems


def test_every_problem_of_every_kind_is_reported_together() -> None:
    assert problems_of(BROKEN) == EXPECTED


def test_every_problem_line_names_its_path() -> None:
    for problem in problems_of(BROKEN):
        path, _, rule = problem.partition(": ")
        assert rule and path.split(".")[0].split("[")[0] in {
            "server", "alerts", "lms", "maintenance"}, problem


def test_problems_come_in_the_same_order_whatever_the_order_of_the_file() -> None:
    # The same problems, sections in another order: the report does not change.
    assert problems_of(WINDOWS + SITES + ALERTS + SERVER) == EXPECTED


def test_lms_indices_sort_as_numbers() -> None:
    sites = "".join(f'[[lms]]\nname = "s{i}"\nurl = "http://x"\n[lms.checks.http]\n'
                    f'timeout = 0\n' for i in range(12))
    paths = [p.split(":")[0] for p in problems_of(sites)]
    assert paths == [f"lms[{i}].checks.http.timeout" for i in range(12)]


def test_several_cross_field_problems_of_one_rule_are_all_reported() -> None:
    text = ('[[lms]]\nname = "a"\nurl = "http://x"\n'
            '[lms.checks.http]\ndepends_on = ["one", "two", "http"]\n'
            '[[lms]]\nname = "a"\nurl = "http://x"\n[[lms]]\nname = "a"\nurl = "http://x"\n')
    assert problems_of(text) == [
        "lms[0].checks.http.depends_on[0]: no check 'one' on LMS 'a'",
        "lms[0].checks.http.depends_on[1]: no check 'two' on LMS 'a'",
        "lms[0].checks.http.depends_on[2]: a check cannot depend on itself",
        "lms[1].name: LMS name 'a' is used twice; names must be unique",
        "lms[2].name: LMS name 'a' is used twice; names must be unique",
    ]


def test_a_routing_problem_found_by_both_the_model_and_the_rules_is_reported_once() -> None:
    # Here [alerts] itself is valid: AlertingConfig and config_rules both see the route.
    text = '[alerts.route]\nreceiver = "pager"\n[[lms]]\nname = "a"\nurl = "http://x"\n' \
           '[lms.checks.http]\ntimeout = 0\n'
    assert problems_of(text) == [
        "alerts.route.receiver: unknown receiver 'pager' (configured: log)",
        "lms[0].checks.http.timeout: must be > 0",
    ]


def test_duplicate_maintenance_windows_and_receivers_are_each_reported() -> None:
    window = ('[[maintenance]]\nname = "w"\nlms = "a"\nstart = "2027-01-20T22:00"\n'
              'duration = "1h"\ntimezone = "UTC"\n')
    text = ('[[lms]]\nname = "a"\nurl = "http://x"\n' + window * 3)
    assert problems_of(text) == [
        "maintenance[1].name: 'w' is used twice; window names must be unique",
        "maintenance[2].name: 'w' is used twice; window names must be unique",
    ]


def test_a_valid_config_still_loads() -> None:
    config = parse_config('[[lms]]\nname = "a"\nurl = "https://x"\n'
                          '[lms.checks.tls]\ndepends_on = ["http"]\n[lms.checks.http]\n', env={})
    assert config.lms[0].checks["tls"].depends_on == ("http",) or list(
        config.lms[0].checks["tls"].depends_on) == ["http"]


def test_vigil_config_validate_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    done = subprocess.run([sys.executable, "-m", "monitor", "config", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env={})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"{path}: {len(EXPECTED)} problem(s):"
    assert [line.strip() for line in lines[1:]] == EXPECTED


def test_every_duplicate_receiver_is_reported() -> None:
    receiver = '[[alerts.receivers]]\nname = "r"\ntype = "log"\n'
    assert problems_of(receiver * 3) == [
        "alerts.receivers[1].name: duplicate receiver name 'r'",
        "alerts.receivers[2].name: duplicate receiver name 'r'",
    ]
