"""The maintenance endpoints over a real store (Starlette's test client): JSON API with
bearer-token writes, the .ics feed, the web page and its form, the OpenAPI entries and
the vigil_maintenance_active gauge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from alerts.maintenance.book import MaintenanceBook
from monitor.app.config import VigilConfig, parse_config
from monitor.app.metrics import build_registry
from monitor.app.sites import SiteRegistry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from tests.conftest import FakeClock
from tests.token_kit import sign_in

TOKEN = "s3cret-token-0123456789"
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC

CONFIG = """
[state]
dir = "{dir}"
[server]
{token}
[[lms]]
name = "prod"
url = "https://prod.example"
labels = {{ host = "db1" }}
[[lms]]
name = "staging"
url = "https://staging.example"
[[maintenance]]
name = "weekly"
timezone = "Europe/Berlin"
start = 2027-01-03T02:30:00
duration = "1h"
rrule = "FREQ=WEEKLY;BYDAY=SU"
lms = "staging"
"""


@dataclass
class View:
    store: StateStore
    registry: CollectorRegistry
    config: VigilConfig
    clock: FakeClock
    maintenance: MaintenanceBook
    sites: SiteRegistry = field(default_factory=SiteRegistry)

    def readiness_problems(self) -> list[str]:
        return []


def make_view(store: StateStore, clock: FakeClock, tmp_path: Path,
              token: str | None = TOKEN) -> View:
    config = parse_config(CONFIG.format(dir=tmp_path, token=f'api_token = "{token}"'
                                        if token else ""))
    book = MaintenanceBook(store.database, clock)
    book.apply_config(config)
    registry, _ = build_registry(store, maintenance=lambda: book.lms_activity(clock.time()))
    return View(store, registry, config, clock, book)


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[View]:
    view = make_view(store, clock, tmp_path)
    yield view
    view.sites.close()


@pytest.fixture
def client(view: View) -> TestClient:
    return TestClient(create_app(view))


AUTH = {"Authorization": f"Bearer {TOKEN}"}
WINDOW = {"name": "db upgrade", "lms": "prod", "timezone": "Europe/Berlin",
          "start": "2027-01-20T22:00", "duration": "2h", "comment": "PostgreSQL 17"}


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v1/maintenance"), ("PATCH", "/api/v1/maintenance/1"),
    ("DELETE", "/api/v1/maintenance/1")])
def test_writes_need_the_bearer_token(client: TestClient, method: str, path: str) -> None:
    missing = client.request(method, path, json=WINDOW)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, json=WINDOW, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "missing or wrong bearer token"}


def test_writes_are_forbidden_without_a_configured_token(
        store: StateStore, clock: FakeClock, tmp_path: Path) -> None:
    client = TestClient(create_app(make_view(store, clock, tmp_path, token=None)))
    response = client.post("/api/v1/maintenance", json=WINDOW, headers=AUTH)
    assert response.status_code == 403 and "server.api_token" in response.json()["error"]
    assert client.get("/api/v1/maintenance").status_code == 200  # reads stay open


def test_add_list_show_edit_end(client: TestClient, clock: FakeClock) -> None:
    created = client.post("/api/v1/maintenance", json=WINDOW, headers=AUTH)
    assert created.status_code == 201, created.text
    window = created.json()["window"]
    assert (window["source"], window["created_by"], window["kind"]) == ("api", "api", "once")
    assert window["matchers"] == ['lms="prod"'] and window["forced"] is False
    wid = window["id"]
    listed = client.get("/api/v1/maintenance").json()["windows"]
    assert {w["name"] for w in listed} == {"weekly", "db upgrade"}
    one = client.get(f"/api/v1/maintenance/{wid}").json()
    assert one["next"][0]["start_local"] == "2027-01-20 22:00 CET"
    assert one["next"][0]["end"] - one["next"][0]["start"] == 7200 and one["active"] is False
    patched = client.patch(f"/api/v1/maintenance/{wid}", headers=AUTH,
                           json={"start": "2027-01-15T08:30", "comment": "now"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["window"]["comment"] == "now"
    clock.now = NOW + 3600  # 09:00 UTC = 10:00 CET: inside 08:30-10:30 CET
    assert client.get(f"/api/v1/maintenance/{wid}").json()["active"] is True
    ended = client.delete(f"/api/v1/maintenance/{wid}", headers=AUTH)
    assert ended.status_code == 200 and ended.json()["window"]["ended_at"] == NOW + 3600
    assert [w["name"] for w in client.get("/api/v1/maintenance").json()["windows"]] == [
        "weekly"]
    assert len(client.get("/api/v1/maintenance?all=1").json()["windows"]) == 2
    assert client.get("/api/v1/maintenance/99").status_code == 404


@pytest.mark.parametrize(("body", "problem"), [
    ({**WINDOW, "timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA"),
    ({**WINDOW, "rrule": "FREQ=WEEKLY;BYDAY=FUNDAY"}, "rrule: 'FREQ=WEEKLY;BYDAY=FUNDAY' is "
     "not a valid RRULE"),
    ({**WINDOW, "duration": None, "end": "2027-01-20T21:00"}, "end: must be after start"),
    ({**WINDOW, "lms": "prd"}, "lms: no LMS named 'prd' in the config (known: prod, "
     "staging)"),
    ({**WINDOW, "colour": "red"}, "colour: unknown field"),
    ({"lms": "prod", "kind": "manual"}, "name: required field is missing"),
])
def test_bad_windows_get_400_naming_the_field(client: TestClient, body: dict[str, Any],
                                              problem: str) -> None:
    response = client.post("/api/v1/maintenance", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid maintenance window"
    assert any(p.startswith(problem) for p in response.json()["problems"]), response.json()


def test_body_must_be_a_json_object(client: TestClient) -> None:
    response = client.post("/api/v1/maintenance", content=b"[1]", headers=AUTH)
    assert response.status_code == 400 and "JSON object" in response.json()["error"]
    response = client.post("/api/v1/maintenance", content=b"{nope", headers=AUTH)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]


def test_config_windows_cannot_be_changed_over_the_api(client: TestClient) -> None:
    [weekly] = client.get("/api/v1/maintenance").json()["windows"]
    for method in ("PATCH", "DELETE"):
        response = client.request(method, f"/api/v1/maintenance/{weekly['id']}",
                                  json={"comment": "x"}, headers=AUTH)
        assert response.status_code == 409
        assert "defined in the config file" in response.json()["error"]


def test_the_ics_feed_is_a_calendar(client: TestClient) -> None:
    client.post("/api/v1/maintenance", json=WINDOW, headers=AUTH)
    response = client.get("/maintenance.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["Maintenance: db upgrade",
                                                         "Maintenance: weekly"]


def test_the_page_lists_windows_and_its_form_adds_one(client: TestClient) -> None:
    page = client.get("/maintenance")
    assert page.status_code == 200 and "weekly" in page.text and 'action="/maintenance"' \
        not in page.text  # not signed in: no form
    form = {"name": "<b>kernel</b>", "lms": "prod", "kind": "once", "timezone": "UTC",
            "start": "2027-02-01T06:00", "duration": "1h", "token": "wrong"}
    refused = client.post("/maintenance", data=form)
    assert refused.status_code == 401 and "token: missing or wrong API token" in refused.text
    csrf = sign_in(client, TOKEN)
    assert 'action="/maintenance"' in client.get("/maintenance").text
    form = {**form, "token": "", "csrf": csrf}
    bad = client.post("/maintenance", data={**form, "timezone": "Nowhere"})
    assert bad.status_code == 400 and "timezone: &#39;Nowhere&#39; is not an IANA" in bad.text
    assert 'aria-describedby="timezone-error"' in bad.text
    added = client.post("/maintenance", data=form, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/maintenance"
    page = client.get("/maintenance").text
    assert "&lt;b&gt;kernel&lt;/b&gt;" in page and "<b>kernel</b>" not in page
    assert "2027-02-01 06:00 UTC" in page
    [added_window] = [w for w in client.get("/api/v1/maintenance").json()["windows"]
                      if w["source"] == "api"]
    end_url = f"/maintenance/{added_window['id']}/end"
    assert f'action="{end_url}"' in page
    assert client.post(end_url, data={"token": "nope"}).status_code == 401
    ended = client.post(end_url, data={"token": TOKEN}, follow_redirects=False)
    assert ended.status_code == 303
    assert "kernel" not in client.get("/maintenance").text
    [weekly] = client.get("/api/v1/maintenance").json()["windows"]
    config_end = client.post(f"/maintenance/{weekly['id']}/end", data={"token": TOKEN})
    assert config_end.status_code == 409 and "defined in the config file" in config_end.text


def test_openapi_lists_the_maintenance_endpoints(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/maintenance"]) == {"get", "post"}
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/maintenance/{id}"])
    assert "/maintenance.ics" in paths and "/maintenance" in paths
    assert "MaintenanceWindowInput" in spec["components"]["schemas"]


def test_the_gauge_is_one_while_a_window_covers_the_lms(view: View, client: TestClient) -> None:
    def gauge(lms: str) -> float | None:
        return view.registry.get_sample_value("vigil_maintenance_active", {"lms": lms})

    assert (gauge("prod"), gauge("staging")) == (0.0, 0.0)
    client.post("/api/v1/maintenance", headers=AUTH,
                json={"name": "now", "kind": "manual", "matchers": ["host=db1"]})
    assert (gauge("prod"), gauge("staging")) == (1.0, 0.0)
    view.clock.now = NOW + 2 * 86400 - 6.5 * 3600  # Sunday 2027-01-17 02:30 CET
    assert (gauge("prod"), gauge("staging")) == (1.0, 1.0)
    text = client.get("/metrics").text
    assert "# TYPE vigil_maintenance_active gauge" in text
