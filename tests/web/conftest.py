"""Fixtures of the console's browser tests (tests/web/test_console_browser.py): a real
`vigil run` with three named tokens (admin, oncall with read+ack, read-only viewer), a
site answering 500 so two alerts fire, a webhook receiver that refuses (400) until a test
fixes it, and a Moodle database double on real PostgreSQL (tests/moodle_double) with a
quiz closing tomorrow at 06:30 UTC for the exam-overlap preview.
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

from tests.helpers import TargetServer, free_port, wait_for
from tests.moodle_double.double import MoodleDouble
from tests.moodle_double.server import TestDatabase
from tests.test_daemon_process import Vigil
from tests.web.browser_kit import (
    ADMIN,
    ONCALL,
    VIEWER,
    artifacts_dir,
    chrome,
)


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
