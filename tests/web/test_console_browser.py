"""The console in a real headless Chromium against a real `vigil run` (issue #15).

What on-call staff and admins do by hand: sign in with a named token, acknowledge a firing
alert with the keyboard alone and find it on the check page and in the audit log, retry a
notification that failed, schedule a recurring window whose preview shows the next
occurrences and an open Moodle quiz it would overlap (a Moodle database double on real
PostgreSQL, tests/moodle_double), force it, and end it early. A read-only token is
offered no write form. Every page visited, the error pages included, passes axe-core's
WCAG 2.1 AA rules and fits a 320 px screen (tests/web/browser_kit.py); screenshots go to
$VIGIL_TEST_ARTIFACTS (default: the test's temporary directory). Fixtures: conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.helpers import TargetServer
from tests.test_daemon_process import Vigil
from tests.web.browser_kit import (
    ADMIN,
    AXE,
    ONCALL,
    VIEWER,
    active,
    check_page,
    console_errors,
    firing_alert,
    sign_in,
    tab_to,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs("chromium", "chromedriver"),
]


@pytest.fixture(autouse=True)
def _axe_core() -> None:
    if not AXE.is_file():
        pytest.fail(f"axe-core is not at {AXE}: run scripts/test.sh, which installs it "
                    "from the npm registry", pytrace=False)


def test_keyboard_only_sign_in_and_ack_then_the_check_page_and_audit_log_show_it(
        vigil: Vigil, browser: WebDriver, artifacts: Path) -> None:
    fp = firing_alert(vigil, "login")["fingerprint"]
    browser.get(vigil.api + "/alerts")
    check_page(browser, artifacts, "alerts-signed-out")
    assert browser.find_elements(By.CSS_SELECTOR, "form[method=post]") == []
    # Tab and Enter only from here to the saved acknowledgement.
    tab_to(browser, lambda e: e.tag_name == "a" and e.text == "Sign in",
           "the Sign in link").send_keys(Keys.ENTER)
    wait_until(browser, lambda d: d.current_url.endswith("/signin"), "the sign-in page")
    check_page(browser, artifacts, "signin")
    tab_to(browser, lambda e: e.get_attribute("id") == "token", "the token field")
    active(browser).send_keys(ONCALL, Keys.ENTER)
    wait_until(browser, lambda d: "Signed in as oncall" in d.find_element(
        By.TAG_NAME, "header").text, "the signed-in overview")
    tab_to(browser, lambda e: e.tag_name == "a" and e.text == "Alerts",
           "the Alerts link").send_keys(Keys.ENTER)
    wait_until(browser, lambda d: d.current_url.endswith("/alerts"), "the alerts page")
    tab_to(browser, lambda e: e.tag_name == "summary" and e.find_element(
        By.XPATH, "ancestor::section").get_attribute("id") == f"alert-{fp}",
        "the login alert's Acknowledge").send_keys(Keys.ENTER)
    tab_to(browser, lambda e: e.get_attribute("id") == f"comment-{fp}", "the comment field")
    active(browser).send_keys("looking into the 500s", Keys.ENTER)
    card = wait_until(browser, lambda d: "acked=" in d.current_url and d.find_element(
        By.ID, f"alert-{fp}"), "the acknowledged alert")
    assert "Acknowledged by oncall" in card.text and "looking into the 500s" in card.text
    assert console_errors(browser) == []
    check_page(browser, artifacts, "alerts-acknowledged")
    acked = vigil.get(f"/api/v1/alerts/{fp}").json()["acknowledged"]
    assert acked["by"] == "oncall" and acked["comment"] == "looking into the 500s"

    browser.find_element(By.LINK_TEXT, "site / login").click()
    wait_until(browser, lambda d: d.current_url.endswith("/checks/site/login"), "check page")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Acknowledged by oncall" in text and "CRITICAL" in text
    assert "acknowledged" in browser.find_element(By.ID, "events").text

    def notified(d: WebDriver) -> bool:  # the firing notification: receiver and outcome
        d.get(vigil.api + "/checks/site/login")
        sent = d.find_element(By.ID, "notifications").text
        return "log" in sent and "delivered" in sent and "hook" in sent and "failed" in sent

    wait_until(browser, notified, "the notifications sent on the check page")
    check_page(browser, artifacts, "check-page")
    browser.find_element(By.LINK_TEXT, "Audit log").click()
    row = wait_until(browser, lambda d: next((r for r in d.find_elements(
        By.CSS_SELECTOR, "#audit tbody tr") if "alert.ack" in r.text), None), "the audit row")
    assert "oncall" in row.text and fp in row.text and "ok" in row.text
    check_page(browser, artifacts, "audit-log")
    assert ONCALL not in browser.page_source


def failed_delivery(driver: WebDriver, vigil: Vigil) -> Any:
    driver.get(vigil.api + "/alerts")
    return next((r for r in driver.find_elements(By.CSS_SELECTOR, "#outbox tbody tr")
                 if "failed" in r.text and r.find_elements(By.TAG_NAME, "button")), None)


def test_a_failed_notification_is_retried_from_the_delivery_log(
        vigil: Vigil, hook: TargetServer, browser: WebDriver, artifacts: Path) -> None:
    firing_alert(vigil, "webservice")
    sign_in(browser, vigil, ONCALL, "/alerts")
    row = wait_until(browser, lambda d: failed_delivery(d, vigil), "a failed notification")
    item = row.get_attribute("id")
    assert "hook" in row.text and "HTTP 400" in row.text
    check_page(browser, artifacts, "delivery-log-failed")
    hook.status = 200  # the receiver is fixed; the retry must now get through
    number = item.removeprefix("delivery-")
    tab_to(browser, lambda e: e.get_attribute("aria-label") == f"Retry notification {number}",
           "the Retry button").send_keys(Keys.ENTER)  # keyboard only
    wait_until(browser, lambda d: "done=retry-" in d.current_url, "the retry notice")
    assert "queued again" in browser.find_element(By.TAG_NAME, "main").text

    def delivered(d: WebDriver) -> bool:
        d.get(vigil.api + "/alerts")
        return "delivered" in d.find_element(By.ID, item).text

    wait_until(browser, delivered, "the retried notification to be delivered")
    assert any(r["answered"] == 200 for r in hook.requests)
    check_page(browser, artifacts, "delivery-log-retried")


def test_a_recurring_window_previews_its_occurrences_and_exam_then_is_forced_and_ended(
        vigil: Vigil, browser: WebDriver, artifacts: Path) -> None:
    sign_in(browser, vigil, ADMIN, "/maintenance")
    check_page(browser, artifacts, "maintenance-week")
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=6, minute=0)
    browser.find_element(By.ID, "name").send_keys("nightly vacuum")
    Select(browser.find_element(By.ID, "lms")).select_by_visible_text("site")
    Select(browser.find_element(By.ID, "kind")).select_by_visible_text("recurring")
    assert browser.find_element(By.ID, "timezone").get_attribute("value") == "UTC"
    field = browser.find_element(By.ID, "start")
    field.send_keys(start.strftime("%m%d%Y"), Keys.ARROW_RIGHT, start.strftime("%I%M%p"))
    assert field.get_attribute("value") == start.strftime("%Y-%m-%dT%H:%M")
    browser.find_element(By.ID, "duration").send_keys("2h")
    browser.find_element(By.ID, "rrule").send_keys("FREQ=DAILY")
    browser.find_element(By.CSS_SELECTOR, "button[formaction='/maintenance/preview']").click()

    preview = wait_until(browser, lambda d: d.find_element(By.ID, "preview"), "the preview")
    day = start.strftime("%Y-%m-%d")
    assert f"{day} 06:00 UTC → {day} 08:00 UTC" in preview.text
    assert (start + timedelta(days=4)).strftime("%Y-%m-%d 06:00 UTC") in preview.text
    assert "site/login" in preview.text and "site/webservice" in preview.text
    conflicts = browser.find_element(By.ID, "conflicts").text
    assert "Final exam" in conflicts and "course PHYS101" in conflicts
    assert "students taking the exams are locked out" in conflicts
    assert vigil.get("/api/v1/maintenance").json()["windows"] == []  # nothing stored yet
    check_page(browser, artifacts, "maintenance-preview")

    browser.find_element(By.ID, "force").click()
    browser.find_element(By.CSS_SELECTOR,
                         "form[action='/maintenance'] button:not([formaction])").click()
    row = wait_until(browser, lambda d: d.current_url.endswith("/maintenance") and next(
        (r for r in d.find_elements(By.CSS_SELECTOR, "#windows tbody tr")
         if "nightly vacuum" in r.text), None), "the new window in the list")
    assert "scheduled over exams (forced)" in row.text and "FREQ=DAILY" in row.text
    today = browser.find_element(By.CSS_SELECTOR, "ol.cal").text
    assert "nightly vacuum" in today
    check_page(browser, artifacts, "maintenance-scheduled")
    browser.find_element(By.LINK_TEXT, "Month view").click()
    wait_until(browser, lambda d: "view=month" in d.current_url, "the month view")
    assert "nightly vacuum" in browser.find_element(By.CSS_SELECTOR, "ol.cal").text
    check_page(browser, artifacts, "maintenance-month")

    [window] = vigil.get("/api/v1/maintenance").json()["windows"]
    assert window["forced"] is True and window["rrule"] == "FREQ=DAILY"
    tab_to(browser, lambda e: e.get_attribute("aria-label") == "End now: nightly vacuum",
           "the window's End now button").send_keys(Keys.ENTER)  # keyboard only
    ended = wait_until(browser, lambda d: d.find_element(By.ID, "ended"), "the ended notice")
    assert f"Window {window['id']} ended" in ended.text
    assert vigil.get("/api/v1/maintenance").json()["windows"] == []
    check_page(browser, artifacts, "maintenance-ended")


def test_a_read_only_token_gets_no_write_form_and_error_pages_pass_too(
        vigil: Vigil, browser: WebDriver, artifacts: Path) -> None:
    fp = firing_alert(vigil, "webservice")["fingerprint"]
    browser.get(vigil.api + "/signin")
    browser.find_element(By.ID, "token").send_keys("not-a-token-of-this-site", Keys.ENTER)
    error = wait_until(browser, lambda d: d.find_element(By.ID, "token-error"), "the error")
    assert "not one the config knows" in error.text
    token = browser.find_element(By.ID, "token")
    assert token.get_attribute("aria-describedby") == "token-error"
    assert token.get_attribute("required") is not None
    check_page(browser, artifacts, "signin-error")

    sign_in(browser, vigil, VIEWER)
    for path in ("/", "/alerts", "/maintenance", "/checks/site/webservice", "/audit"):
        browser.get(vigil.api + path)
        actions = [f.get_attribute("action") for f in browser.find_elements(
            By.CSS_SELECTOR, "form[method=post]")]
        assert actions == [vigil.api + "/signout"], (path, actions)
    browser.get(vigil.api + "/")
    check_page(browser, artifacts, "overview-read-only")
    # A form posted from elsewhere (no CSRF token) is refused with a clear page.
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        f"f.action = '/alerts/{fp}/ack'; document.body.appendChild(f); f.submit();")
    refused = wait_until(browser, lambda d: "CSRF" in d.find_element(By.TAG_NAME, "main").text
                         and d.find_element(By.TAG_NAME, "main"), "the refusal page")
    assert "Acknowledgement not saved" in refused.text
    check_page(browser, artifacts, "refused-csrf")
    browser.get(vigil.api + "/checks/site/no-such-check")
    assert "No such check" in browser.find_element(By.TAG_NAME, "h1").text
    check_page(browser, artifacts, "check-not-found")
    browser.get(vigil.api + "/no/such/page")
    check_page(browser, artifacts, "page-not-found")
    assert vigil.get(f"/api/v1/alerts/{fp}").json()["acknowledged"] is None


def test_the_overview_updates_in_place_without_moving_focus_and_filters_without_js(
        vigil: Vigil, browser: WebDriver, artifacts: Path) -> None:
    firing_alert(vigil, "login")
    browser.get(vigil.api + "/")
    card = browser.find_element(By.CSS_SELECTOR, "section[data-key=site]")
    assert "CRITICAL" in card.text and "✖" in card.text  # text and icon, not colour alone
    assert "alerts firing" in card.text and "No exam in progress" not in card.text
    check_page(browser, artifacts, "overview")
    browser.execute_script("window.notReloaded = true; window.scrollTo(0, 40);")
    focused = browser.find_element(By.ID, "f-status")
    focused.click()
    focused.send_keys(Keys.ESCAPE)
    before = browser.find_element(By.ID, "updated").text
    wait_until(browser, lambda d: d.find_element(By.ID, "updated").text != before,
               "a live update")
    assert browser.execute_script("return window.notReloaded") is True
    assert active(browser).get_attribute("id") == "f-status"
    assert browser.execute_script("return window.scrollY") == 40 or browser.execute_script(
        "return document.documentElement.scrollHeight <= window.innerHeight")
    assert console_errors(browser) == []
    pause = browser.find_element(By.ID, "pause")
    pause.click()
    assert pause.get_attribute("aria-pressed") == "true"
    assert pause.text == "Resume live updates"

    Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("OK")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_until(browser, lambda d: "status=OK" in d.current_url, "the filtered overview")
    text = browser.find_element(By.CSS_SELECTOR, "section[data-key=site]").text
    assert "login" not in text.split("\n")[-1] and "0 shown by the filter" in text
    check_page(browser, artifacts, "overview-filtered")
