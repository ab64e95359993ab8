"""`vigil run` as a real process with [[maintenance]] windows: synced at start, served by
the API, the .ics feed and the gauge; a window added by the CLI while the daemon runs is
seen at once; a window removed from the config ends on SIGHUP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from tests.helpers import TargetServer, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[state]
dir = "state"
[server]
port = {port}
[[lms]]
name = "site"
url = "{url}"
labels = {{ host = "db1" }}
[lms.checks.http]
interval = "5s"
timeout = "2s"
[[lms]]
name = "other"
url = "{url}"
[lms.checks.http]
interval = "5s"
timeout = "2s"
{windows}
"""

MANUAL = """
[[maintenance]]
name = "hardware swap"
kind = "manual"
matchers = ["host=db1"]
"""


def gauge(metrics: str, lms: str) -> float:
    found = re.search(rf'^vigil_maintenance_active{{lms="{lms}"}} (\S+)$', metrics, re.M)
    assert found, metrics
    return float(found.group(1))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    target, port = TargetServer(), free_port()
    config = tmp_path / "vigil.toml"
    config.write_text(CONFIG.format(port=port, url=target.url, windows=MANUAL))
    log = (tmp_path / "vigil.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    api = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(api + "/readyz", timeout=5).status_code == 200, 20,
                 "vigil /readyz")
        yield proc, api, config
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        target.close()


def test_windows_from_config_cli_and_reload(
        daemon: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    proc, api, config = daemon
    [window] = httpx.get(api + "/api/v1/maintenance").json()["windows"]
    assert (window["name"], window["source"], window["active"]) == ("hardware swap", "config",
                                                                    True)
    metrics = httpx.get(api + "/metrics").text
    assert (gauge(metrics, "site"), gauge(metrics, "other")) == (1.0, 0.0)

    added = subprocess.run([sys.executable, "-m", "monitor", "maintenance", "add", "-c",
                            str(config), "--name", "other too", "--lms", "other", "--manual"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert gauge(httpx.get(api + "/metrics").text, "other") == 1.0
    feed = Calendar.from_ical(httpx.get(api + "/maintenance.ics").content)
    assert sorted(str(e["SUMMARY"]) for e in feed.walk("VEVENT")) == [
        "Maintenance: hardware swap", "Maintenance: other too"]

    config.write_text(config.read_text().replace(MANUAL, ""))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: gauge(httpx.get(api + "/metrics").text, "site") == 0.0, 10,
             "the removed window to end")
    names = [w["name"] for w in httpx.get(api + "/api/v1/maintenance").json()["windows"]]
    assert names == ["other too"]  # the CLI window survives the reload
