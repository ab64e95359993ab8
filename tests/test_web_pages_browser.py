"""The status and maintenance pages in a real headless Chromium against a real `vigil run`.

What an on-call person and an admin do by hand: acknowledge a firing alert from the status
page (and get a clear error for a wrong token), schedule a one-off maintenance window
through the form and end it with its button. The browser is driven through Selenium
WebDriver; every page must load without a JavaScript console error. The daemon watches a
local web server that answers 500, so its alerts fire within a few seconds.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.helpers import TargetServer, free_port, wait_for
from tests.test_daemon_process import Vigil

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium and "
                       "chromedriver not installed (scripts/test.sh installs them)"),
]

TOKEN = "browser-test-token-0123456789"
WAIT = 20.0  # seconds an explicit wait may take before the test fails


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vigil]:
    site = TargetServer()
    site.status = 500  # both http checks fail at once: two alerts, one per test
    workdir = tmp_path_factory.mktemp("vigil")
    port = free_port()
    (workdir / "vigil.toml").write_text(f"""
[state]
dir = "{workdir / 'state'}"
[server]
port = {port}
api_token = "{TOKEN}"
[alerts]
failure_threshold = 1
success_threshold = 1
# Short grouping so the test waits seconds, not the production minute.
[alerts.route]
group_wait = "1s"
group_interval = "2s"
[[alerts.receivers]]
name = "log"
type = "log"
[[lms]]
name = "site"
url = "{site.url}"
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
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-proxy-server", "--window-size=1280,1000",
                # datetime-local inputs take keys in the locale's order: fix it to en-US.
                "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """An explicit wait that survives the status page's own reload (stale elements)."""
    return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,
                                             NoSuchElementException)
                         ).until(condition, message=f"waiting for {what}")


def console_errors(driver: WebDriver) -> list[str]:
    """SEVERE console entries since the last call (reading the log empties it), except the
    one a refused form's answer brings: Chrome logs the document's own 401 as an error."""
    own_status = f"{driver.current_url} - Failed to load resource: the server responded " \
                 "with a status of 401"
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not entry["message"].startswith(own_status)]


def firing_alert(vigil: Vigil, check: str) -> dict[str, Any]:
    """The JSON API's firing alert for ``check``, once the engine has raised it."""
    return wait_for(lambda: next((a for a in vigil.get("/api/v1/alerts").json()["alerts"]
                                  if a["check"] == check and a["state"] == "firing"), None),
                    WAIT, f"the {check} alert to fire")


def open_ack_form(driver: WebDriver, vigil: Vigil, fingerprint: str) -> WebElement:
    """Load the status page and unfold the alert's form, which pauses the page's 10 s
    reload; a reload between finding and clicking just means another try."""
    driver.get(vigil.api + "/")

    def unfolded(d: WebDriver) -> WebElement | None:
        details = d.find_element(By.CSS_SELECTOR, f"#alert-{fingerprint} details")
        if details.get_attribute("open") is None:
            details.find_element(By.TAG_NAME, "summary").click()
        return details.find_element(By.CSS_SELECTOR, "form.ack") if details.get_attribute(
            "open") is not None else None

    return wait_until(driver, unfolded, "the alert's ack form on the status page")


def test_status_page_acknowledges_a_firing_alert_through_its_form(
    vigil: Vigil, browser: WebDriver
) -> None:
    alert = firing_alert(vigil, "login")
    form = open_ack_form(browser, vigil, alert["fingerprint"])
    assert console_errors(browser) == []
    form.find_element(By.NAME, "by").send_keys("alice")
    form.find_element(By.NAME, "comment").send_keys("looking into the 500s")
    form.find_element(By.NAME, "token").send_keys(TOKEN)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    row_text = wait_until(
        browser, lambda d: "acked=" in d.current_url and (text := d.find_element(
            By.ID, f"alert-{alert['fingerprint']}").text) and "by alice" in text and text,
        "the acknowledged alert on the reloaded status page")
    assert "looking into the 500s" in row_text
    assert f"Acknowledged alert {alert['fingerprint']}" in browser.find_element(
        By.TAG_NAME, "body").text
    assert TOKEN not in browser.page_source
    assert console_errors(browser) == []
    acked = vigil.get(f"/api/v1/alerts/{alert['fingerprint']}").json()["acknowledged"]
    assert acked["by"] == "alice" and acked["comment"] == "looking into the 500s"


def test_status_page_shows_a_clear_error_for_a_wrong_token_and_acks_nothing(
    vigil: Vigil, browser: WebDriver
) -> None:
    alert = firing_alert(vigil, "webservice")
    form = open_ack_form(browser, vigil, alert["fingerprint"])
    form.find_element(By.NAME, "by").send_keys("mallory")
    form.find_element(By.NAME, "token").send_keys("not-the-token-at-all")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    wait_until(browser, lambda d: "not saved" in d.title, "the error page")
    assert "Wrong or missing token." in browser.find_element(By.TAG_NAME, "body").text
    assert console_errors(browser) == []
    assert vigil.get(f"/api/v1/alerts/{alert['fingerprint']}").json()["acknowledged"] is None
    browser.find_element(By.LINK_TEXT, "Back to the status page").click()
    wait_until(browser, lambda d: d.find_element(By.ID, f"alert-{alert['fingerprint']}")
               .find_element(By.TAG_NAME, "summary").text == "Acknowledge",
               "the alert still offering its ack form")
    assert console_errors(browser) == []


def window_row(driver: WebDriver, name: str) -> WebElement | None:
    return next((row for row in driver.find_elements(By.CSS_SELECTOR, "#windows tr")
                 if name in row.text), None)


def test_maintenance_page_schedules_a_one_off_window_and_ends_it(
    vigil: Vigil, browser: WebDriver
) -> None:
    browser.get(vigil.api + "/maintenance")
    wait_until(browser, lambda d: d.find_element(By.ID, "windows"), "the windows table")
    assert "No maintenance windows." in browser.find_element(By.ID, "windows").text
    assert console_errors(browser) == []
    # Tomorrow, so the window does not cover the alerts the other tests look at.
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=6, minute=0)
    browser.find_element(By.ID, "name").send_keys("kernel upgrade")
    Select(browser.find_element(By.ID, "lms")).select_by_visible_text("site")
    Select(browser.find_element(By.ID, "kind")).select_by_visible_text("once")
    assert browser.find_element(By.ID, "timezone").get_attribute("value") == "UTC"
    start_input = browser.find_element(By.ID, "start")
    start_input.send_keys(start.strftime("%m%d%Y"), Keys.ARROW_RIGHT, start.strftime("%I%M%p"))
    assert start_input.get_attribute("value") == start.strftime("%Y-%m-%dT%H:%M")
    browser.find_element(By.ID, "duration").send_keys("2h")
    browser.find_element(By.ID, "comment").send_keys("apt upgrades")
    browser.find_element(By.ID, "created_by").send_keys("bob")
    browser.find_element(By.ID, "token").send_keys("wrong-token")
    browser.find_element(By.CSS_SELECTOR, "form[action='/maintenance'] button").click()

    # A wrong token: the error names the field and what was typed is still there.
    problems = wait_until(browser, lambda d: d.find_element(By.ID, "problems"), "the problems")
    assert "token: missing or wrong API token" in problems.text
    assert browser.find_element(By.ID, "name").get_attribute("value") == "kernel upgrade"
    assert browser.find_element(By.ID, "start").get_attribute("value") == start.strftime(
        "%Y-%m-%dT%H:%M")
    assert vigil.get("/api/v1/maintenance").json()["windows"] == []
    assert console_errors(browser) == []
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form[action='/maintenance'] button").click()

    row = wait_until(browser, lambda d: d.current_url.endswith("/maintenance")
                     and window_row(d, "kernel upgrade"), "the new window in the list")
    day = start.strftime("%Y-%m-%d")
    assert f"{day} 06:00 UTC" in row.text and f"{day} 08:00 UTC" in row.text
    assert "bob" in row.text and "apt upgrades" in row.text and 'lms="site"' in row.text
    assert console_errors(browser) == []
    [window] = vigil.get("/api/v1/maintenance").json()["windows"]
    assert window["name"] == "kernel upgrade" and window["ended_at"] is None

    row.find_element(By.CSS_SELECTOR, "form.end input[name=token]").send_keys(TOKEN)
    row.find_element(By.CSS_SELECTOR, "form.end button").click()
    wait_until(browser, lambda d: f"Window {window['id']} ended" in d.find_element(
        By.ID, "ended").text, "the page to confirm the window ended")
    assert window_row(browser, "kernel upgrade") is None
    assert console_errors(browser) == []
    [ended] = vigil.get("/api/v1/maintenance?all=1").json()["windows"]
    assert ended["id"] == window["id"] and ended["ended_at"] is not None
