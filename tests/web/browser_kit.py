"""Helpers for the console's browser tests (tests/web/test_console_browser.py): a real
headless Chromium through Selenium, axe-core injected into each page, the 320 px reflow
check, keyboard-only moves and screenshots kept as test artifacts.

axe-core comes from the npm registry (scripts/test.sh installs it into .cache/axe-core,
which git ignores); its WCAG 2.1 A and AA rules run on every page a test visits.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers import wait_for
from tests.test_daemon_process import Vigil

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".cache/axe-core/node_modules/axe-core/axe.min.js"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 20.0  # seconds an explicit wait may take before the test fails
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = 320  # px: the narrowest screen every page must fit without horizontal scrolling
ADMIN = "console-admin-token-0123456789"
ONCALL = "console-oncall-token-0123456789"
VIEWER = "console-viewer-token-0123456789"


def artifacts_dir(fallback: Path) -> Path:
    """Where screenshots go: $VIGIL_TEST_ARTIFACTS, else the test's temporary directory."""
    given = os.environ.get("VIGIL_TEST_ARTIFACTS")
    path = Path(given) if given else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


def chrome() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-proxy-server", "--window-size=1280,1000",
                # datetime-local inputs take keys in the locale's order: fix it to en-US.
                "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=CHROMEDRIVER or "chromedriver"))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,
                                             NoSuchElementException)
                         ).until(condition, message=f"waiting for {what}")


def axe_violations(driver: WebDriver) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the current page, one line each."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help"
        " + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))"
        ".catch(e => done(['axe failed: ' + e]));", WCAG_AA)
    return list(result)


def scroll_width_at(driver: WebDriver, width: int) -> int:
    """The page's scroll width when the viewport is ``width`` CSS px wide."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    return int(driver.execute_script("return document.documentElement.scrollWidth"))


def check_page(driver: WebDriver, artifacts: Path, name: str) -> None:
    """The page passes axe's WCAG 2.1 AA rules, fits a 320 px screen, and is kept as two
    screenshots (desktop and phone)."""
    violations = axe_violations(driver)
    assert violations == [], f"{name}: axe-core WCAG 2.1 AA violations: {violations}"
    driver.save_screenshot(str(artifacts / f"{name}.png"))
    try:
        width = scroll_width_at(driver, PHONE)
        driver.save_screenshot(str(artifacts / f"{name}-320px.png"))
        assert width <= PHONE, f"{name}: {width} px wide at a {PHONE} px viewport"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def active(driver: WebDriver) -> WebElement:
    return driver.switch_to.active_element


def tab_to(driver: WebDriver, wanted: Callable[[WebElement], bool], what: str,
           limit: int = 80) -> WebElement:
    """Press Tab (only Tab) until the focused element is the one wanted."""
    for _ in range(limit):
        active(driver).send_keys(Keys.TAB)
        element = active(driver)
        if wanted(element):
            return element
    raise AssertionError(f"{what}: not reached with {limit} presses of Tab")


def console_errors(driver: WebDriver) -> list[str]:
    """SEVERE console entries since the last call (reading the log empties it), except a
    document's own refusal status (a 4xx page is the expected answer there)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]


def firing_alert(vigil: Vigil, check: str) -> dict[str, Any]:
    return wait_for(lambda: next((a for a in vigil.get("/api/v1/alerts").json()["alerts"]
                                  if a["check"] == check and a["state"] == "firing"), None),
                    WAIT, f"the {check} alert to fire")


def sign_in(driver: WebDriver, vigil: Vigil, token: str, then: str = "/") -> None:
    driver.get(f"{vigil.api}/signin?next={then}")
    driver.find_element(By.ID, "token").send_keys(token, Keys.ENTER)
    wait_until(driver, lambda d: "Signed in as" in d.find_element(By.TAG_NAME, "header").text,
               "the signed-in header")
