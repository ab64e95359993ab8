"""A daemon view with named tokens of every scope over a real state file, for the token
scope and audit tests (tests/test_api_tokens.py, tests/test_audit.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from alerts.engine import fingerprint
from alerts.maintenance.book import MaintenanceBook
from alerts.service import AlertService
from monitor.app.config import VigilConfig, parse_config
from monitor.app.metrics import build_registry
from monitor.app.sites import SiteRegistry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.kernel.result import Result, Status
from tests.conftest import FakeClock

# Written out here rather than derived from monitor/app/tokens.py: the test states the
# scopes a holder has, the code must agree.
TOKENS = {
    "viewer": ("viewer-token-0123456789", ["read"]),
    "oncall": ("oncall-token-0123456789", ["read", "ack"]),
    "ops": ("ops-token-0123456789abc", ["maintenance"]),
    "lmsops": ("lmsops-token-0123456789", ["maintenance", "lms-actions"]),
    "root": ("root-token-0123456789ab", ["admin"]),
}
FP = fingerprint("prod", "http")
WINDOW = {"name": "db upgrade", "lms": "prod", "timezone": "Europe/Berlin",
          "start": "2027-01-20T22:00", "duration": "2h"}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def config_text(state_dir: Path, *, legacy: str | None = None, named: bool = True) -> str:
    lines = ["[state]", f'dir = "{state_dir}"', "[server]"]
    if legacy is not None:
        lines.append(f'api_token = "{legacy}"')
    for name, (token, scopes) in TOKENS.items() if named else ():
        lines += ["[[server.tokens]]", f'name = "{name}"', f'token = "{token}"',
                  "scopes = [" + ", ".join(f'"{s}"' for s in scopes) + "]"]
    lines += ["[[lms]]", 'name = "prod"', 'url = "https://prod.example"',
              "[[maintenance]]", 'name = "weekly"', "start = 2027-01-03T02:30:00",
              'duration = "1h"', 'rrule = "FREQ=WEEKLY;BYDAY=SU"', 'lms = "prod"']
    return "\n".join(lines) + "\n"


@dataclass
class View:
    store: StateStore
    registry: CollectorRegistry
    config: VigilConfig
    clock: FakeClock
    alerts: AlertService
    maintenance: MaintenanceBook
    sites: SiteRegistry = field(default_factory=SiteRegistry)

    def readiness_problems(self) -> list[str]:
        return []


def make_view(store: StateStore, clock: FakeClock, text: str) -> View:
    config = parse_config(text)
    service = AlertService(store, config.alerts)
    for _ in range(3):  # prod/http fires after three failures
        clock.advance(60)
        state = store.record_result("prod", "http", "http",
                                    Result(Status.CRITICAL, "HTTP 503"), clock.time(), 0.1)
        service.on_state(state, None, clock.time())
    book = MaintenanceBook(store.database, clock)
    book.apply_config(config)
    registry, _ = build_registry(store)
    return View(store, registry, config, clock, service, book)


def client_for(view: View) -> TestClient:
    return TestClient(create_app(view))


def sign_in(client: TestClient, token: str) -> str:
    """Sign the client in to the console with ``token``; returns the CSRF token its
    forms carry (read from the sign-out form every page has)."""
    answer = client.post("/signin", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/alerts").text
    marker = 'name="csrf" value="'
    return page[page.index(marker) + len(marker):].split('"', 1)[0]
