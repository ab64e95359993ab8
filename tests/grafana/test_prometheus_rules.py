"""The Prometheus rules in grafana/rules/: valid, unit-tested, and built on catalogued metrics.

`promtool check rules` and `promtool test rules` (grafana/rules/tests/) must pass, every
metric an expression reads must be in monitor.app.catalogue (or be Prometheus' own
`up`/`scrape_*`, or a recording rule of the file), and every rule must be covered by the
unit tests: each recording rule queried, each alert rule seen both firing and not firing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.app.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "grafana" / "rules" / "vigil-rules.yml"
RULE_TESTS = ROOT / "grafana" / "rules" / "tests" / "vigil-rules.test.yml"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.needs("promtool")

SEVERITIES = {"critical", "warning"}
ANNOTATIONS = {"summary", "description", "runbook"}

# PromQL words that look like identifiers but are not metric names.
_PROMQL_WORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in _PROMQL_WORDS}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict]:
    return [rule for group in _load(RULES)["groups"] for rule in group["rules"]]


def _recording_names() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _catalogued(name: str, recorded: set[str]) -> bool:
    if name in CATALOGUE or name in recorded or name == "up" or name.startswith("scrape_"):
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in CATALOGUE and CATALOGUE[base].type == "histogram":
            return True
    return False


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


# ------------------------------------------------------------------ promtool


@needs_promtool
def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# ------------------------------------------------------------------ catalogue


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.99, sum by (type, le) '
            '(rate(vigil_check_run_duration_seconds_bucket{type=~"http|tcp"}[5m])))'
            ' > bool 1e3 and on (lms) count_values by (lms) ("status", lms_check_status)'
            ' or absent_over_time(up{job=~".*vigil.*"}[5m] offset 1m) * 14 * 86400')
    assert metric_names(expr) == {
        "vigil_check_run_duration_seconds_bucket", "lms_check_status", "up",
    }
    assert metric_names("sum(lms_alert_firing) by (lms) - time()") == {"lms_alert_firing"}


def test_every_rule_uses_only_catalogued_metrics() -> None:
    recorded = _recording_names()
    unknown = {
        (rule.get("alert") or rule.get("record"), name)
        for rule in _rules()
        for name in metric_names(rule["expr"])
        if not _catalogued(name, recorded)
    }
    assert not unknown, f"metrics not in monitor/app/catalogue.py: {sorted(unknown)}"


def test_every_rule_reads_some_metric() -> None:
    for rule in _rules():
        assert metric_names(rule["expr"]), rule


def test_unit_test_input_series_are_catalogued() -> None:
    recorded = _recording_names()
    names = {
        series["series"].split("{", 1)[0].strip()
        for test in _load(RULE_TESTS)["tests"]
        for series in test.get("input_series", [])
    }
    assert names
    unknown = sorted(name for name in names if not _catalogued(name, recorded))
    assert not unknown, f"test series not in monitor/app/catalogue.py: {unknown}"


# ------------------------------------------------------------------ rule hygiene


def test_recording_rule_names_follow_level_metric_operation() -> None:
    for name in _recording_names():
        assert re.fullmatch(r"(lms|vigil):[a-z0-9_]+:[a-z0-9_]+", name), name


def test_alerts_have_severity_and_annotations() -> None:
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert alerts
    for rule in alerts:
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
        annotations = rule.get("annotations", {})
        assert ANNOTATIONS <= set(annotations), (rule["alert"], sorted(annotations))
        assert all(str(annotations[key]).strip() for key in ANNOTATIONS), rule["alert"]


def test_the_issue_alerts_exist() -> None:
    names = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert {
        "VigilDown", "VigilNotScraped", "LmsDown", "MoodleCronStale", "CertificateExpiring",
        "SecurityUpdatePending", "IntegrityViolation",
    } <= names


def test_every_rule_is_unit_tested() -> None:
    tests = _load(RULE_TESTS)["tests"]
    assert _load(RULE_TESTS)["rule_files"] == ["../vigil-rules.yml"]

    queried = " ".join(
        case["expr"] for test in tests for case in test.get("promql_expr_test", [])
    )
    untested = sorted(name for name in _recording_names() if name not in metric_names(queried))
    assert not untested, f"recording rules without a promql_expr_test: {untested}"

    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for rule in (rule for rule in _rules() if "alert" in rule):
        name, static = rule["alert"], rule.get("labels", {})
        mine = [case for case in cases if case["alertname"] == name]
        assert any(not case.get("exp_alerts") for case in mine), f"{name}: no not-firing case"
        fired = [
            alert["exp_labels"] for case in mine for alert in case.get("exp_alerts") or []
        ]
        assert any(
            all(str(labels.get(key)) == str(value) for key, value in static.items())
            for labels in fired
        ), f"{name} {static}: no firing case"
