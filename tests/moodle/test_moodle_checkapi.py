"""The moodle_check_api probe over the fake admin/cli/checks.php (real output format)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.base import CheckUnavailable
from checks.moodle import checkapi as MODULE
from checks.moodle.checkapi import CheckApiCheck, CheckApiSpec, parse_checks_output
from checks.moodle.cli import CliResult
from checks.moodle.registry import MOODLE_METRICS
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle_double.sitedir import FakeSite, make_site


@pytest.fixture(params=["4.5", "5.1"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> FakeSite:
    return make_site(tmp_path, request.param)


def spec(**fields: object) -> CheckApiSpec:
    return CheckApiSpec.model_validate({"type": "moodle_check_api", **fields})


async def run(check: CheckApiCheck, site: FakeSite) -> Result:
    result = await check.run(site.context())
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def status_of(result: Result, ref: str) -> float:
    return next(s.value for s in result.samples
                if s.name == "lms_moodle_check_api_status" and s.labels["check_id"] == ref)


async def test_every_check_of_every_type_is_reported_with_its_own_state(site: FakeSite) -> None:
    site.set_check("security", "core_riskxss", "ok", "No untrusted users")
    result = await run(CheckApiCheck(spec()), site)
    assert result.status == Status.OK
    # core_riskbackup: WARNING on a stock site, left out by default, still named.
    assert result.summary == "all 18 Moodle checks OK; ignored: core_riskbackup warning"
    assert result.details["states"]["core_riskadmin"] == "info"
    assert result.details["states"]["tool_task_cronrunning"] == "ok"
    types = {s.labels["type"] for s in result.samples if s.labels}
    assert types == {"status", "security", "performance"}
    argvs = [call["argv"][1:] for call in site.calls()]
    assert sorted(argvs) == [["-v", "--type=performance"], ["-v", "--type=security"],
                             ["-v", "--type=status"]]


async def test_the_overall_status_is_the_worst_and_the_summary_names_it(site: FakeSite) -> None:
    site.set_check("status", "tool_task_cronrunning", "critical",
                   "Cron has not been run for 2 days")
    result = await run(CheckApiCheck(spec(ignore=[])), site)
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("3 Moodle check(s) not OK: tool_task_cronrunning "
                                     "critical, core_riskxss warning")
    assert status_of(result, "tool_task_cronrunning") == 2.0
    assert status_of(result, "core_riskxss") == 1.0
    assert result.details["failing"][0] == {
        "ref": "tool_task_cronrunning", "type": "status", "state": "critical",
        "summary": "Cron has not been run for 2 days"}


async def test_an_unknown_check_is_unknown_and_error_is_critical(site: FakeSite) -> None:
    site.set_check("status", "core_antivirus", "unknown", "No log reader", name="Antivirus")
    site.set_check("performance", "core_dbschema", "error", "Schema differs")
    result = await run(CheckApiCheck(spec()), site)
    assert status_of(result, "core_antivirus") == 3.0
    assert status_of(result, "core_dbschema") == 2.0
    assert result.status == Status.CRITICAL


async def test_ignored_checks_are_reported_but_do_not_count(site: FakeSite) -> None:
    result = await run(CheckApiCheck(spec(ignore=["core_riskxss"])), site)
    assert result.status == Status.WARNING  # a list given replaces the default
    assert result.summary.startswith("1 Moodle check(s) not OK: core_riskbackup warning")
    assert result.details["states"]["core_riskxss"] == "warning"
    assert result.details["ignored"] == ["core_riskxss"]


async def test_a_stock_site_is_ok_its_review_lists_named_but_not_counted(
        site: FakeSite) -> None:
    # riskxss and riskbackup are WARNING on every site with teachers or a Manager role.
    result = await run(CheckApiCheck(spec()), site)
    assert result.status == Status.OK
    assert result.summary == ("all 18 Moodle checks OK; ignored: core_riskxss warning, "
                              "core_riskbackup warning")
    assert result.details["ignored"] == ["core_riskxss", "core_riskbackup"]
    assert status_of(result, "core_riskbackup") == 1.0  # the metric still tells


async def test_a_security_check_turning_bad_alerts_although_others_already_failed(
        site: FakeSite) -> None:
    check = CheckApiCheck(spec(types=["security"], ignore=[]))
    first = await run(check, site)
    assert first.status == Status.WARNING  # riskxss, riskbackup: as on most real sites
    site.set_check("security", "core_displayerrors", "warning", "display_errors is on")
    second = await run(check, site)
    assert second.status == Status.CRITICAL
    assert second.summary == ("new security problem: Displaying of PHP errors "
                              "(core_displayerrors) is warning: display_errors is on; "
                              "2 other check(s) not OK")
    assert second.details["new_security_problems"] == ["core_displayerrors"]
    new = [s for s in second.samples if s.name == "lms_moodle_check_api_new_security_problems"]
    assert new[0].value == 1.0
    third = await run(check, site)  # latched while the problem stays
    assert third.status == Status.CRITICAL
    site.set_check("security", "core_displayerrors", "ok", "off again")
    fourth = await run(check, site)
    assert fourth.status == Status.WARNING
    assert fourth.details["new_security_problems"] == []


async def test_the_first_run_only_sets_the_baseline(site: FakeSite) -> None:
    site.set_check("security", "core_displayerrors", "warning", "display_errors is on")
    result = await run(CheckApiCheck(spec(types=["security"])), site)
    assert result.status == Status.WARNING
    assert result.details["new_security_problems"] == []


async def test_the_escalation_level_is_configurable(site: FakeSite) -> None:
    check = CheckApiCheck(spec(types=["security"], new_security_problem="WARNING",
                               ignore=["core_riskxss"]))
    await run(check, site)
    site.set_check("security", "core_cookiesecure", "error", "cookies not secure")
    result = await run(check, site)
    assert result.status == Status.CRITICAL  # the check's own level still counts
    assert result.summary.startswith("new security problem: Secure cookies only")


async def test_a_hanging_checks_php_is_unavailable_with_the_cause(site: FakeSite) -> None:
    site.cli_mode("checks.php", "hang")
    with pytest.raises(CheckUnavailable, match="^admin/cli/checks.php did not finish within 2s$"):
        await CheckApiCheck(spec(types=["status"])).run(site.context(cli_timeout=2))


async def test_garbage_output_is_unavailable_naming_it(site: FakeSite) -> None:
    site.cli_mode("checks.php", "garbage")
    with pytest.raises(CheckUnavailable) as excinfo:
        await CheckApiCheck(spec(types=["status"])).run(site.context())
    assert str(excinfo.value).startswith("admin/cli/checks.php printed no NRPE status line "
                                         "(exit 0): ")
    assert "Parse error" in str(excinfo.value)


async def test_a_php_fatal_error_is_unavailable(site: FakeSite) -> None:
    site.cli_mode("checks.php", "fatal")
    with pytest.raises(CheckUnavailable, match="died with a PHP fatal error"):
        await CheckApiCheck(spec(types=["status"])).run(site.context())


def sample_of(result: Result, name: str, **labels: str) -> float | None:
    return next((s.value for s in result.samples
                 if s.name == name and dict(s.labels) == labels), None)


async def test_a_type_that_throws_does_not_hide_an_error_of_another_type(
        site: FakeSite) -> None:
    site.check_type_error("security", 'Class "curl" not found')
    site.set_check("performance", "core_dbschema", "error", "Database schema differs")
    result = await run(CheckApiCheck(spec()), site)
    assert result.status == Status.CRITICAL
    assert result.summary == ("1 Moodle check(s) not OK: core_dbschema error (Database "
                              'schema differs); security type failed: Class "curl" not found')
    assert status_of(result, "core_dbschema") == 2.0
    assert status_of(result, "tool_task_cronrunning") == 0.0
    assert not [s for s in result.samples if s.labels.get("type") == "security"
                and s.name == "lms_moodle_check_api_status"]
    assert sample_of(result, "lms_moodle_check_api_type_up", type="security") == 0.0
    assert sample_of(result, "lms_moodle_check_api_type_up", type="performance") == 1.0
    assert sample_of(result, "lms_moodle_check_api_new_security_problems") is None
    assert result.details["failed_types"]["security"].startswith(
        "admin/cli/checks.php printed no NRPE status line (exit 1): '!!! Exception - Class")


async def test_a_type_that_throws_alone_is_unknown_and_named(site: FakeSite) -> None:
    site.check_type_error("security", 'Class "curl" not found')
    result = await run(CheckApiCheck(spec()), site)
    assert result.status == Status.UNKNOWN
    assert result.summary == ('security type failed: Class "curl" not found; '
                              "the other 11 Moodle checks OK")


async def test_a_php_fatal_error_in_one_type_names_its_first_line(site: FakeSite) -> None:
    check = CheckApiCheck(spec(types=["status", "performance"]))
    site.cli_mode("checks.php", "fatal")
    with pytest.raises(CheckUnavailable, match="died with a PHP fatal error"):
        await check.run(site.context())  # every type failed: nothing was measured
    site.cli_mode("checks.php", "normal")
    site.check_type_error("performance", "Call to a member function x() on null")
    result = await run(check, site)
    assert result.status == Status.UNKNOWN
    assert "performance type failed: Call to a member function x() on null" in result.summary


async def test_a_security_type_failing_keeps_the_security_baseline(site: FakeSite) -> None:
    check = CheckApiCheck(spec(types=["security", "status"], ignore=[]))
    await run(check, site)  # baseline: core_riskxss warning, as on most real sites
    site.check_type_error("security", 'Class "curl" not found')
    failed = await run(check, site)
    assert failed.details["new_security_problems"] == []
    site.check_type_error("security", None)
    again = await run(check, site)
    assert again.status == Status.WARNING  # core_riskxss is not new: no escalation
    assert again.details["new_security_problems"] == []


def _run(stdout: str, code: int = 0) -> CliResult:
    return CliResult("admin/cli/checks.php", (), code, stdout, "", 0.1)


def test_parser_skips_php_notices_before_the_header_and_joins_wrapped_summaries() -> None:
    out = ("PHP Deprecated:  something in /x.php on line 3\n"
           "WARNING: Cron running (tool_task_cronrunning)\n"
           "   Status | Check\n"
           "----------+------\n"
           "  WARNING | Cron running (tool_task_cronrunning)                       \n"
           "          |     The cron.php maintenance script has not been run for    \n"
           "          |          11 mins.                                           \n"
           "          |                                                             \n"
           "       OK | Site (name) (core_x)\n")
    results = parse_checks_output(_run(out, 1), "status")
    assert [(r.ref, r.state) for r in results] == [("tool_task_cronrunning", "warning"),
                                                  ("core_x", "ok")]
    assert results[0].summary == ("The cron.php maintenance script has not been run for "
                                  "11 mins.")
    assert results[1].name == "Site (name)"


def test_parser_rejects_an_error_header_without_rows() -> None:
    with pytest.raises(CheckUnavailable, match="reported CRITICAL but listed no check"):
        parse_checks_output(_run("CRITICAL: x (y)\n", 2), "status")


def test_parser_rejects_unknown_options_output() -> None:
    with pytest.raises(CheckUnavailable, match="failed with exit code 4"):
        parse_checks_output(_run("", 4), "status")


def test_every_sample_name_in_the_module_is_declared_and_catalogued() -> None:
    source = Path(MODULE.__file__ or "").read_text(encoding="utf-8")
    used = set(re.findall(r'"(lms_[a-z0-9_]+)"', source))
    assert used == set(MODULE.METRICS)
    assert all(name in MOODLE_METRICS for name in MODULE.METRICS)
