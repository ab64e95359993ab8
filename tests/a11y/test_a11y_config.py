"""The a11y check's settings: defaults, and bad input named by its path."""

from __future__ import annotations

import pytest

from checks.a11y.spec import A11ySpec
from monitor.app.config import ConfigError, parse_config

SITE = '[[lms]]\nname = "campus"\nurl = "https://learn.example.edu"\n'


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(SITE + text, source="t.toml")
    return caught.value.problems


def test_defaults_are_hourly_wcag21_aa_and_warn_on_serious() -> None:
    config = parse_config(SITE + "[lms.checks.a11y]\n", source="t.toml")
    spec = config.lms[0].checks["a11y"]
    assert isinstance(spec, A11ySpec)
    assert (spec.interval, spec.timeout) == (3600.0, 120.0)
    assert spec.tags == ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
    assert (spec.warning_impact, spec.critical_impact) == ("serious", None)
    assert (spec.chromium, spec.memory_limit_mib) == ("chromium", 1024)


def test_a_page_that_is_not_an_http_url_is_named() -> None:
    [problem] = problems_of('[lms.checks.a11y]\npages = { course = "ftp://x/course" }\n')
    assert problem.startswith("lms[0].checks.a11y.pages: ")
    assert "page 'course': 'ftp://x/course' is not an http:// or https:// URL" in problem


def test_critical_impact_milder_than_warning_is_refused() -> None:
    [problem] = problems_of('[lms.checks.a11y]\nwarning_impact = "critical"\n'
                            'critical_impact = "moderate"\n')
    assert "critical_impact (moderate) must be as bad as or worse than warning_impact " \
           "(critical)" in problem


def test_an_unknown_impact_and_a_tiny_memory_limit_are_named() -> None:
    problems = problems_of('[lms.checks.a11y]\nwarning_impact = "severe"\n'
                           'memory_limit_mib = 10\n')
    assert problems == [
        "lms[0].checks.a11y.memory_limit_mib: must be >= 128",
        "lms[0].checks.a11y.warning_impact: Input should be 'minor', 'moderate', 'serious' "
        "or 'critical'"]


def test_a_login_without_password_is_named() -> None:
    problems = problems_of('[lms.checks.a11y.login]\nurl = "https://learn.example.edu/login"\n'
                           'username = "probe"\n')
    assert problems == ["lms[0].checks.a11y.login.password: required key is missing"]


def test_an_accepted_rule_is_counted_but_does_not_fail_the_check() -> None:
    from checks.a11y.audit import AuditOutcome, PageAudit, Violation
    from checks.a11y.check import A11yCheck
    from monitor.kernel.result import Status

    def outcome(*rules: tuple[str, str]) -> AuditOutcome:
        return AuditOutcome((PageAudit("course", "https://learn.example.edu/course", None, tuple(
            Violation(rule, impact, "h", "u", ("#x",), 1) for rule, impact in rules)),))

    core = ("label-content-name-mismatch", "serious")  # Moodle 5.1's user menu
    spec = parse_config(SITE + '[lms.checks.a11y]\naccepted_rules = '
                        '["label-content-name-mismatch"]\n', source="t.toml").lms[0].checks["a11y"]
    assert isinstance(spec, A11ySpec)
    check = A11yCheck(spec)
    result = check._judge(outcome(core))
    assert result.status is Status.OK, result.summary
    assert result.summary == ("1 accessibility violation on 1 page: 1 serious "
                              "(label-content-name-mismatch) (label-content-name-mismatch "
                              "accepted)")
    counts = {s.labels["impact"]: s.value for s in result.samples
              if s.name == "lms_a11y_violations"}
    assert counts["serious"] == 1.0  # still counted
    # A rule that is not accepted still fails the check, and is new.
    result = check._judge(outcome(core, ("image-alt", "critical")))
    assert result.status is Status.WARNING
    assert result.details["new_violations"] == ["image-alt on course"]
    # Without the setting the same page is WARNING.
    plain = A11yCheck(parse_config(SITE + "[lms.checks.a11y]\n", source="t.toml")
                      .lms[0].checks["a11y"])  # type: ignore[arg-type]
    assert plain._judge(outcome(core)).status is Status.WARNING


def test_an_accepted_rule_that_is_not_an_axe_rule_id_is_named() -> None:
    [problem] = problems_of('[lms.checks.a11y]\naccepted_rules = ["Label Mismatch"]\n')
    assert problem == ("lms[0].checks.a11y.accepted_rules[0]: 'Label Mismatch' does not "
                       "match ^[a-z0-9-]{1,60}$")
