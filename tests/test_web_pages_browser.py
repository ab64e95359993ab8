"""The console in a real headless Chromium against a real `vigil run` (issue #15).

What on-call staff and admins do by hand: sign in with a named token, acknowledge a firing
alert with the keyboard alone and find it on the check page and in the audit log, retry a
notification that failed, schedule a recurring window whose preview shows the next
occurrences and an open Moodle quiz it would overlap (a Moodle database double on real
PostgreSQL, tests/moodle_double), force it, and end it early. A read-only token is
offered no write form. Every page visited, the error pages included, passes axe-core's
WCAG 2.1 AA rules and fits a 320 px screen (tests/web/browser_kit.py); screenshots go to
$VIGIL_TEST_ARTIFACTS (default: the test's temporary directory).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.helpers import TargetServer, free_port, wait_for
from tests.moodle_double.double import MoodleDouble
from tests.moodle_double.server import TestDatabase
from tests.test_daemon_process import Vigil
from tests.web.browser_kit import (
    AXE,
    CHROMEDRIVER,
    CHROMIUM,
    WAIT,
    active,
    artifacts_dir,
    check_page,
    chrome,
    console_errors,
    tab_to,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium and "
                       "chromedriver not installed (scripts/test.sh installs them)"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (scripts/test.sh "
                       "installs it into .cache/axe-core)"),
]

ADMIN = "console-admin-token-0123456789"
ONCALL = "console-oncall-token-0123456789"
VIEWER = "console-viewer-token-0123456789"


def toml_table(values: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items()
                     if value is not None)


@pytest.fixture(scope="module")
def exam_db() -> Iterator[MoodleDouble]:
    """A Moodle database double with a quiz that closes tomorrow at 06:30 UTC."""
    db = TestDatabase.create("postgresql", "mdl_")
    try:
        site = MoodleDouble(db, time.time())
        s = site.scenario.healthy_site()
        course = s.course("PHYS101")
        closes = (datetime.now(UTC) + timedelta(days=1)).replace(hour=6, minute=30, second=0)
        s.quiz_open_with_attempts(0, timeclose=int(closes.timestamp()), course_id=course,
                                  name="Final exam")
        yield site
    finally:
        db.close()


@pytest.fixture(scope="module")
def hook() -> Iterator[TargetServer]:
    server = TargetServer()
    server.status = 400  # the webhook refuses: its notifications fail until retried
    yield server
    server.close()


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory, exam_db: MoodleDouble,
          hook: TargetServer) -> Iterator[Vigil]:
    site = TargetServer()
    site.status = 500  # both http checks fail at once: two alerts fire
    workdir = tmp_path_factory.mktemp("vigil")
    port = free_port()
    settings = exam_db.settings.model_dump()
    settings["password"] = exam_db.settings.password.get_secret_value()
    tokens = "".join(f'[[server.tokens]]\nname = "{name}"\ntoken = "{token}"\n'
                     f"scopes = {json.dumps(scopes)}\n" for name, token, scopes in (
                         ("admin", ADMIN, ["admin"]), ("oncall", ONCALL, ["read", "ack"]),
                         ("viewer", VIEWER, ["read"])))
    (workdir / "vigil.toml").write_text(f"""
[state]
dir = "{workdir / 'state'}"
[server]
port = {port}
{tokens}
[alerts]
failure_threshold = 1
success_threshold = 1
[alerts.route]
group_wait = "1s"
group_interval = "2s"
[[alerts.receivers]]
name = "log"
type = "log"
[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "{hook.url}/hook"
[[lms]]
name = "site"
kind = "moodle"
url = "{site.url}"
[lms.moodle.database]
{toml_table(settings)}
[lms.checks.login]
type = "http"
interval = "1s"
timeout = "900ms"
[lms.checks.webservice]
type = "http"
url = "{site.url}/webservice/rest/server.php"
interval = "1s"
timeout = "900ms"
""")
    daemon = Vigil(workdir / "vigil.toml", port)
    try:
        wait_for(lambda: daemon.get("/readyz").status_code == 200, 30, "vigil /readyz")
        yield daemon
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            try:
                daemon.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.proc.kill()
                daemon.proc.wait()
        daemon.log.close()
        site.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def firing_alert(vigil: Vigil, check: str) -> dict[str, Any]:
    return wait_for(lambda: next((a for a in vigil.get("/api/v1/alerts").json()["alerts"]
                                  if a["check"] == check and a["state"] == "firing"), None),
                    WAIT, f"the {check} alert to fire")


def sign_in(driver: WebDriver, vigil: Vigil, token: str, then: str = "/") -> None:
    driver.get(f"{vigil.api}/signin?next={then}")
    driver.find_element(By.ID, "token").send_keys(token, Keys.ENTER)
    wait_until(driver, lambda d: "Signed in as" in d.find_element(By.TAG_NAME, "header").text,
               "the signed-in header")


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
    row.find_element(By.TAG_NAME, "button").click()
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
    browser.find_element(By.CSS_SELECTOR, f"form[action='/maintenance/{window['id']}/end']"
                         " button").click()
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
