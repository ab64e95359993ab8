"""The post-maintenance report: snapshot comparison (table-driven) and its sandboxed wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerts.maintenance.report import (
    ReportRenderer,
    ReportTemplateError,
    build_report,
    format_time,
    sample_changes,
    take_snapshot,
    versions_of,
)
from checks.moodle.codebase import read_code_versions
from checks.moodle.upgrade import UpgradeCheck, UpgradeSpec, compare
from monitor.kernel.result import Result, Sample, Status
from monitor.state.store import CheckState
from tests.moodle_double.sitedir import make_site

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
WINDOW = {"uid": "w-1", "name": "Moodle upgrade", "timezone": "Europe/Berlin",
          "start": NOW, "end": NOW + 3600, "comment": ""}


def entry(status: str, summary: str = "", *, lms: str = "prod", check: str = "home",
          check_type: str = "http", samples: list[list[Any]] | None = None,
          versions: dict[str, str] | None = None) -> dict[str, Any]:
    return {"lms": lms, "check": check, "check_type": check_type, "status": status,
            "summary": summary or status.lower(), "ran_at": NOW, "samples": samples or [],
            "versions": versions or {}}


def snap(*entries: dict[str, Any], at: float = NOW) -> dict[str, Any]:
    return {"taken_at": at, "checks": {f"{e['lms']}/{e['check']}": e for e in entries}}


def report(before: list[dict[str, Any]], after: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return build_report(WINDOW, snap(*before), snap(*after, at=NOW + 3700),
                        generated_at=NOW + 3700, **kw)


@pytest.mark.parametrize(("before", "after", "bucket"), [
    ("OK", "WARNING", "worse"),
    ("OK", "CRITICAL", "worse"),
    ("WARNING", "UNKNOWN", "worse"),
    ("UNKNOWN", "CRITICAL", "worse"),  # Icinga's order: CRITICAL outranks UNKNOWN
    ("CRITICAL", "UNKNOWN", "better"),
    ("CRITICAL", "OK", "better"),
    ("WARNING", "OK", "better"),
    ("WARNING", "WARNING", "still_failing"),
    ("CRITICAL", "CRITICAL", "still_failing"),
    ("OK", "OK", None),
])
def test_each_check_lands_in_the_bucket_its_status_change_says(
        before: str, after: str, bucket: str | None) -> None:
    got = report([entry(before)], [entry(after)])
    buckets = {name: got[name] for name in ("worse", "better", "still_failing")}
    for name, items in buckets.items():
        assert len(items) == (1 if name == bucket else 0), (name, items)
    assert got["outcome"] == {"worse": "worse", "better": "better"}.get(bucket or "", "unchanged")
    if bucket:
        item = buckets[bucket][0]
        assert (item["before"], item["after"]) == (before, after)


def test_checks_without_a_state_before_or_after_are_listed_apart() -> None:
    got = report([entry("OK", check="gone")], [entry("CRITICAL", check="new")])
    assert [c["check"] for c in got["new_checks"]] == ["new"]
    assert [c["check"] for c in got["not_rerun"]] == ["gone"]
    assert got["worse"] == [] and got["outcome"] == "worse"  # a new failing check is news


@pytest.mark.parametrize(("before", "after", "expected"), [
    ([["lms_disk_free_bytes", 5e9, {"mount": "/"}]], [["lms_disk_free_bytes", 1e9, {"mount": "/"}]],
     [{"sample": 'lms_disk_free_bytes{mount="/"}', "before": 5e9, "after": 1e9}]),
    ([["a", 1.0, {}]], [["a", 1.0, {}]], []),
    ([["a", 1.0, {}]], [["b", 2.0, {}]], []),  # no common series: nothing to compare
    ([[f"s{i}", 0.0, {}] for i in range(9)], [[f"s{i}", 1.0, {}] for i in range(9)],
     [{"sample": f"s{i}", "before": 0.0, "after": 1.0} for i in range(5)]),  # at most 5
])
def test_sample_changes_list_only_moved_values(before: list[list[Any]], after: list[list[Any]],
                                               expected: list[dict[str, Any]]) -> None:
    assert sample_changes(before, after) == expected


def _upgrade_details(site_root: Path, db_version: float, release: str) -> dict[str, Any]:
    """Details exactly as the moodle_upgrade check writes them (its own judge), with the
    database side given here instead of read from a Moodle database."""
    code = read_code_versions(site_root)
    plugins = {name: str(p.version) for name, p in code.plugins.items()}
    comparison = compare(code, plugins, db_version, set())
    config = {"version": str(db_version), "release": release}
    check = UpgradeCheck(UpgradeSpec(type="moodle_upgrade", use_cli=False))
    return dict(check._judge(NOW, code, config, comparison, None).details)


def test_versions_come_from_the_upgrade_checks_own_details(tmp_path: Path) -> None:
    site = make_site(tmp_path, "4.5")
    before = versions_of("moodle_upgrade", _upgrade_details(
        site.root, 2024100700.0, "4.5 (Build: 20241007)"))
    site.set_core_version(2024100702.0, "4.5.2 (Build: 20250210)")
    after = versions_of("moodle_upgrade", _upgrade_details(
        site.root, 2024100702.0, "4.5.2 (Build: 20250210)"))
    assert before["core version (code)"] == "2024100700.0"
    assert before["release (database)"] == "4.5 (Build: 20241007)"
    assert after["release (code)"] == "4.5.2 (Build: 20250210)"
    assert after["plugins waiting for upgrade"] == "0"
    assert after["plugins up to date"] == "7"
    got = report([entry("OK", check="upgrade", check_type="moodle_upgrade", versions=before)],
                 [entry("OK", check="upgrade", check_type="moodle_upgrade", versions=after)])
    changed = {v["name"]: (v["before"], v["after"]) for v in got["versions"] if v["changed"]}
    assert changed["release (code)"] == ("4.5 (Build: 20241007)", "4.5.2 (Build: 20250210)")
    assert changed["core version (database)"] == ("2024100700.0", "2024100702.0")
    assert got["versions_changed"] and got["versions"][0]["changed"]  # changed rows first


@pytest.mark.parametrize(("check_type", "details", "expected"), [
    ("moodle_updates", {"installed": {"version": 2024100700.0, "release": "4.5", "branch": "405",
                                      "from": "version.php"},
                        "releases_behind": 2, "newest_in_branch": {"version": 2024100702.0,
                                                                   "release": "4.5.2"},
                        "plugin_updates": [{"component": "mod_x"}]},
     {"release": "4.5", "version": "2024100700.0", "branch": "405", "releases behind": "2",
      "newest release of the branch": "4.5.2", "plugin updates available": "1"}),
    ("moodle_branches", {"branch": "405", "php": "8.3.14"}, {"branch": "405", "PHP": "8.3.14"}),
    ("moodle_upgrade", {"core": "garbage"}, {}),  # malformed details never break a report
    ("http", {"status_code": 200}, {}),
])
def test_versions_of_other_checks(check_type: str, details: dict[str, Any],
                                  expected: dict[str, str]) -> None:
    assert versions_of(check_type, details) == expected


def test_a_snapshot_keeps_status_summary_key_samples_and_is_json_safe(tmp_path: Path) -> None:
    result = Result(Status.WARNING, "slow", tuple(Sample(f"m{i}", float(i)) for i in range(30)),
                    {"path": tmp_path, "core": {"disk": 1.0}})
    state = CheckState("prod", "upgrade", "moodle_upgrade", result, NOW, 0.1, 0, 1, NOW)
    got = take_snapshot([state], NOW)
    item = got["checks"]["prod/upgrade"]
    assert (item["status"], item["summary"], len(item["samples"])) == ("WARNING", "slow", 20)
    assert item["versions"] == {"core version (code)": "1.0"}
    assert str(tmp_path) not in repr(item)  # details themselves are not kept


def _full_report() -> dict[str, Any]:
    return report(
        [entry("OK", "<b>fine</b>", samples=[["lms_http_duration_seconds", 0.2, {}]]),
         entry("WARNING", "upgrade pending", check="upgrade", check_type="moodle_upgrade",
               versions={"release (code)": "4.5"})],
        [entry("CRITICAL", "<script>alert(1)</script> HTTP 503",
               samples=[["lms_http_duration_seconds", 1.5, {}]]),
         entry("OK", "code and database agree", check="upgrade", check_type="moodle_upgrade",
               versions={"release (code)": "4.5.2"})],
        integrity=[{"lms": "prod", "check": "code", "root": "/srv/moodle",
                    "paths": ["lib/weblib.php", "local/new/version.php"], "kept": 1},
                   {"lms": "prod", "check": "code2", "root": None, "error": "no baseline"}],
        actions=[{"at": NOW, "action": "maintenance_mode_on", "lms": "prod", "ok": True,
                  "detail": "CLI maintenance mode has been enabled."},
                 {"at": NOW + 3600, "action": "maintenance_mode_off", "lms": "prod",
                  "ok": False, "detail": "admin/cli/maintenance.php failed with exit code 1"}])


def test_the_report_text_lists_worse_better_versions_integrity_and_actions() -> None:
    got = _full_report()
    assert (got["integrity_accepted"], got["actions_failed"]) == (2, 1)
    out = ReportRenderer().render("report", got)
    assert out["title"] == ("[MAINTENANCE REPORT] Moodle upgrade: 1 check(s) worse than "
                            "before, 1 action(s) failed")
    text = out["text"]
    assert "WORSE than before the window (1):\n  - prod: home (http) OK -> CRITICAL" in text
    assert "lms_http_duration_seconds: 0.2 -> 1.5" in text
    assert "Better than before (1):\n  - prod: upgrade (moodle_upgrade) WARNING -> OK" in text
    assert "* prod: release (code): 4.5 -> 4.5.2" in text
    assert "prod (/srv/moodle): 2 file(s); 1 change(s) from before the window left" in text
    assert "      local/new/version.php" in text
    assert "not accepted: no baseline" in text
    assert "LMS maintenance mode off on prod: FAILED - admin/cli/maintenance.php" in text
    assert "2027-01-15 09:00 CET to 2027-01-15 10:00 CET" in text  # the window's zone


def test_the_html_report_escapes_what_the_lms_said() -> None:
    html = ReportRenderer().render("report", _full_report())["html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;fine&lt;/b&gt;" in html
    assert "<h3 style=\"color: #b00020\">Worse than before (1)</h3>" in html


@pytest.mark.parametrize(("kind", "end", "expected"), [
    ("before", NOW + 3600, "starts 2027-01-15 09:00 CET and ends 2027-01-15 10:00 CET."),
    ("before", None, "and stays open until it is ended."),
    ("end", NOW + 3600, 'Maintenance window "Moodle upgrade" ended 2027-01-15 10:00 CET'),
])
def test_notices_say_when_and_what_vigil_will_do(kind: str, end: float | None,
                                                  expected: str) -> None:
    context = {"window": {**WINDOW, "end": end}, "lms": ["prod"], "scope": 'lms="prod"',
               "planned": {"lms_maintenance_mode": True, "accept_integrity_changes": False,
                           "report": True}, "actions": []}
    out = ReportRenderer().render(kind, context)
    assert expected in out["text"]
    assert out["title"].startswith("[MAINTENANCE] Moodle upgrade")
    if kind == "before":
        assert "maintenance mode on" in out["text"]
        assert "integrity" not in out["text"]


@pytest.mark.parametrize(("moment", "zone", "expected"), [
    (NOW, "Europe/Berlin", "2027-01-15 09:00 CET"),
    (NOW + 182 * 86400, "Europe/Berlin", "2027-07-16 10:00 CEST"),  # summer time
    (NOW, "America/New_York", "2027-01-15 03:00 EST"),
    (NOW, "No/Such_Zone", "2027-01-15 08:00 UTC"),
    (None, "UTC", "-"),
])
def test_times_are_shown_in_the_windows_own_timezone(moment: float | None, zone: str,
                                                     expected: str) -> None:
    assert format_time(moment, zone) == expected


def test_an_admin_template_overrides_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "maintenance_title.txt.j2").write_text("{{ kind }}: {{ window.name|upper }}")
    out = ReportRenderer(tmp_path).render("report", _full_report())
    assert out["title"] == "report: MOODLE UPGRADE"
    assert out["text"].startswith("Post-maintenance report")  # the rest stays built-in


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ window.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
])
def test_a_malicious_admin_template_cannot_leave_the_sandbox(tmp_path: Path, body: str) -> None:
    (tmp_path / "maintenance_report.txt.j2").write_text(body)
    with pytest.raises(ReportTemplateError, match="maintenance_report.txt.j2"):
        ReportRenderer(tmp_path).render("report", _full_report())


def test_a_template_naming_a_missing_field_fails_with_the_template_name(tmp_path: Path) -> None:
    (tmp_path / "maintenance_notice.txt.j2").write_text("{{ window.no_such_field }}")
    with pytest.raises(ReportTemplateError, match="maintenance_notice.txt.j2.*no_such_field"):
        ReportRenderer(tmp_path).render("before", {"window": WINDOW, "lms": [], "scope": "",
                                                   "planned": {}, "actions": []})
