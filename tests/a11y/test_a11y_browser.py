"""The a11y probe in a real headless Chromium with real axe-core, against loopback pages
whose faults and their impacts are known (tests/a11y/site.py)."""

from __future__ import annotations

from pathlib import Path

from checks.a11y.check import A11yCheck
from checks.a11y.spec import A11ySpec
from monitor.kernel.result import Status
from tests.a11y.conftest import Run, counts
from tests.a11y.site import PASSWORD, USERNAME, A11ySite


async def test_counts_violations_by_impact_exactly(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(pages={"course": f"{site.url}/pages/violations.html"})
    assert counts(result) == {"critical": 3, "serious": 2, "moderate": 2, "minor": 0}
    # image-alt fails on two images: rules are counted once, elements each.
    assert counts(result, "lms_a11y_violation_nodes") == {
        "critical": 4, "serious": 2, "moderate": 2, "minor": 0}
    assert result.status is Status.WARNING  # serious or worse, by default
    rules = {v["rule"]: (v["impact"], v["targets"])
             for v in result.details["pages"]["course"]["violations"]}
    assert rules == {
        "image-alt": ("critical", ['img[src$="cell.png"]', 'img[src$="leaf.png"]']),
        "label": ("critical", ["input"]), "button-name": ("critical", ["button"]),
        "color-contrast": ("serious", ["p"]), "link-name": ("serious", ["a"]),
        "html-xml-lang-mismatch": ("moderate", ["html"]),
        "meta-viewport": ("moderate", ['meta[name="viewport"]']),
    }
    assert result.summary.startswith("7 accessibility violations on 1 page: 3 critical, "
                                     "2 serious, 2 moderate (")
    assert result.details["tags"] == ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    assert result.details["axe_version"].startswith("4.")
    assert 0 < result.details["browser_peak_mib"] <= 1024  # sampled, under memory_limit


async def test_without_sandbox_and_jit_the_counts_are_the_same(run_a11y: Run,
                                                               site: A11ySite) -> None:
    # What a hardened unit (no user namespaces, no W+X memory) needs: same audit.
    result = await run_a11y(sandbox=False, jitless=True,
                            pages={"course": f"{site.url}/pages/violations.html"})
    assert counts(result) == {"critical": 3, "serious": 2, "moderate": 2, "minor": 0}


async def test_a_page_without_violations_counts_zero_everywhere(run_a11y: Run,
                                                                site: A11ySite) -> None:
    result = await run_a11y(pages={"dashboard": f"{site.url}/pages/clean.html"})
    assert result.status is Status.OK, result.summary
    assert counts(result) == {"critical": 0, "serious": 0, "moderate": 0, "minor": 0}
    assert result.summary == "no accessibility violations on 1 page"
    assert [(s.labels, s.value) for s in result.samples if s.name == "lms_a11y_page_audited"] \
        == [({"page": "dashboard"}, 1.0)]


async def test_violations_inside_a_frame_are_counted(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(pages={"framed": f"{site.url}/pages/framed.html"})
    assert counts(result) == {"critical": 1, "serious": 0, "moderate": 0, "minor": 0}
    [violation] = result.details["pages"]["framed"]["violations"]
    assert (violation["rule"], violation["targets"]) == ("image-alt", ["iframe >> img"])


async def test_tags_choose_the_rules_and_several_pages_add_up(run_a11y: Run,
                                                              site: A11ySite) -> None:
    # empty-heading (minor) is a best-practice rule: outside WCAG 2.1 AA, inside this set.
    result = await run_a11y(tags=["best-practice"], pages={
        "course": f"{site.url}/pages/violations.html", "twice": f"{site.url}/pages/violations.html",
        "dashboard": f"{site.url}/pages/clean.html"})
    assert counts(result) == {"critical": 0, "serious": 0, "moderate": 0, "minor": 2}
    assert result.status is Status.OK
    assert result.summary == "2 accessibility violations on 3 pages: 2 minor (empty-heading)"


async def test_critical_impact_setting_makes_it_critical(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(critical_impact="critical",
                            pages={"course": f"{site.url}/pages/violations.html"})
    assert result.status is Status.CRITICAL


async def test_new_serious_violations_are_named_on_the_next_run(run_a11y: Run, tmp_path: Path,
                                                                site: A11ySite) -> None:
    spec = A11ySpec.model_validate({"type": "a11y", "pages": {
        "course": f"{site.url}/pages/clean.html"}})
    check = A11yCheck(spec, scratch_dir=tmp_path / "scratch")
    first = await run_a11y(check=check)
    assert "new_violations" not in first.details
    check.spec = spec.model_copy(update={"pages": {"course": f"{site.url}/pages/violations.html"}})
    second = await run_a11y(check=check)
    assert second.details["new_violations"] == [
        "button-name on course", "color-contrast on course", "image-alt on course",
        "label on course", "link-name on course"]
    assert "; new: button-name on course, color-contrast on course, image-alt on course" \
        in second.summary


async def test_a_page_that_redirects_to_a_login_form_is_named_not_counted(
        run_a11y: Run, site: A11ySite) -> None:
    course = f"{site.url}/course/view.php?id=2"
    result = await run_a11y(pages={"course": course, "dashboard": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary == (
        f"page 'course' ({site.url}/course/view.php) redirected to a login form at "
        f"{site.url}/login/index.php: not audited (set [login] or a session cookie, or check "
        "them)")
    assert counts(result) == {}  # no bogus "0 violations"
    audited = {s.labels["page"]: s.value for s in result.samples
               if s.name == "lms_a11y_page_audited"}
    assert audited == {"course": 0.0, "dashboard": 1.0}


async def test_form_login_then_the_course_is_audited(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(
        pages={"course": f"{site.url}/course/view.php?id=2"},
        login={"url": f"{site.url}/login/index.php", "username": USERNAME,
               "password": PASSWORD})
    assert site.logins == ["ok"]
    assert counts(result) == {"critical": 1, "serious": 0, "moderate": 0, "minor": 0}
    assert [v["rule"] for v in result.details["pages"]["course"]["violations"]] == ["image-alt"]


async def test_the_login_page_is_audited_as_a_visitor_sees_it(run_a11y: Run,
                                                             site: A11ySite) -> None:
    # Logged in, Moodle's login page shows "You are already logged in" instead of the
    # form: the page named after the login URL is audited before the form login.
    result = await run_a11y(
        pages={"login": f"{site.url}/login/index.php",
               "course": f"{site.url}/course/view.php?id=2"},
        login={"url": f"{site.url}/login/index.php", "username": USERNAME,
               "password": PASSWORD})
    assert site.login_views == ["form", "form"]  # the audit, then the login
    assert site.logins == ["ok"]
    assert list(result.details["pages"]) == ["login", "course"]
    assert result.details["pages"]["login"]["violations"] == []
    assert counts(result) == {"critical": 1, "serious": 0, "moderate": 0, "minor": 0}


async def test_a_wrong_password_is_named_and_never_shown(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(
        pages={"course": f"{site.url}/course/view.php?id=2"},
        login={"url": f"{site.url}/login/index.php", "username": USERNAME,
               "password": "wrong-Secret-123"})
    assert site.logins == ["bad password"]
    assert result.status is Status.UNKNOWN
    assert result.summary == (
        f"a11y audit not run: logging in at {site.url}/login/index.php failed: the login form "
        "came back (wrong username or password, or a locked account?)")
    assert "wrong-Secret-123" not in repr(result)
    assert result.details["pages"]["course"]["problem"] == \
        "page 'course' not audited: the run stopped before it"


async def test_a_session_cookie_lets_the_course_be_audited(run_a11y: Run, site: A11ySite) -> None:
    site.sessions.add("probe-session-0123")
    result = await run_a11y(pages={"course": f"{site.url}/course/view.php?id=2"},
                            cookies={"MoodleSession": "probe-session-0123"})
    assert counts(result)["critical"] == 1
    assert "probe-session-0123" not in repr(result)


async def test_a_page_that_never_loads_is_bounded_and_named(run_a11y: Run,
                                                            site: A11ySite) -> None:
    result = await run_a11y(timeout=9.0, pages={
        "slow": f"{site.url}/pages/slow.html", "later": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary == (f"page 'slow' ({site.url}/pages/slow.html): timed out waiting "
                              "for the page to answer (+1 more)")
    assert result.details["pages"]["later"]["problem"] == \
        "page 'later' not audited: the run stopped before it"


async def test_a_page_whose_load_never_finishes_is_bounded_and_named(
        run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(timeout=9.0, pages={"stuck": f"{site.url}/pages/stuck.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary == (f"page 'stuck' ({site.url}/pages/stuck.html): timed out "
                              "waiting for the page to load")
    assert counts(result) == {}


async def test_an_http_error_page_is_named_not_audited(run_a11y: Run, site: A11ySite) -> None:
    result = await run_a11y(pages={"gone": f"{site.url}/course/missing.php"})
    assert result.status is Status.UNKNOWN
    assert result.summary == f"page 'gone' ({site.url}/course/missing.php) answered HTTP 404: " \
                             "not audited"


async def test_a_browser_over_its_memory_limit_is_stopped_and_named(run_a11y: Run,
                                                                    site: A11ySite) -> None:
    # Chromium's processes together take well over 128 MiB before any page is open.
    result = await run_a11y(memory_limit_mib=128,
                            pages={"course": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert "more than memory_limit (128 MiB); it was stopped" in result.summary


async def test_missing_chromium_is_unknown_naming_it(run_a11y: Run, site: A11ySite,
                                                     tmp_path: Path) -> None:
    result = await run_a11y(chromium=str(tmp_path / "no-chromium"),
                            pages={"course": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary == (f"Chromium not found: '{tmp_path / 'no-chromium'}' is not an "
                              "executable (install chromium or set chromium = \"/path\")")


async def test_missing_axe_core_is_unknown_naming_where_it_looked(run_a11y: Run, site: A11ySite,
                                                                  tmp_path: Path) -> None:
    result = await run_a11y(axe_core_path=str(tmp_path / "nowhere"),
                            pages={"course": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith(f"axe-core not found (looked at {tmp_path}/nowhere/axe.min.js")
    assert "npm install --prefix /usr/local/share/vigil/axe-core axe-core@4" in result.summary


async def test_a_program_that_is_not_chromium_is_named(run_a11y: Run, site: A11ySite,
                                                       tmp_path: Path) -> None:
    fake = tmp_path / "not-chromium"
    fake.write_text("#!/bin/sh\necho 'not a browser' >&2\nexit 3\n")
    fake.chmod(0o755)
    result = await run_a11y(chromium=str(fake), pages={"course": f"{site.url}/pages/clean.html"})
    assert result.status is Status.UNKNOWN
    assert result.summary == ("a11y audit not run: Chromium exited while waiting for an answer "
                              "to Target.createTarget (not a browser)")
