"""The JSON API, probes and status page, over a real store (Starlette's test client)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from alerts.engine import fingerprint
from alerts.store import AlertEvent, AlertRecord
from monitor.app.metrics import build_registry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.kernel.result import Result, Status


@dataclass
class View:
    store: StateStore
    registry: CollectorRegistry
    problems: list[str] = field(default_factory=list)

    def readiness_problems(self) -> list[str]:
        return self.problems


def client_for(store: StateStore, problems: list[str] | None = None) -> TestClient:
    registry, _ = build_registry(store)
    return TestClient(create_app(View(store, registry, problems or [])))


def test_healthz_and_readyz(store: StateStore) -> None:
    assert client_for(store).get("/healthz").json()["status"] == "ok"
    assert client_for(store).get("/readyz").status_code == 200
    response = client_for(store, ["scheduler is not running"]).get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["scheduler is not running"]


def test_checks_api_lists_states_and_filters_by_lms(store: StateStore) -> None:
    store.record_result("a", "http", "http", Result(Status.OK, "fine"), 1.0, 0.1)
    store.record_result("b", "tls", "tls", Result(Status.WARNING, "expires in 9 days"), 1.0, 0.1)
    client = client_for(store)
    assert len(client.get("/api/v1/checks").json()["checks"]) == 2
    [only] = client.get("/api/v1/checks", params={"lms": "b"}).json()["checks"]
    assert (only["check"], only["status"], only["status_code"]) == ("tls", "WARNING", 1)
    detail = client.get("/api/v1/checks/b/tls").json()
    assert detail["history"][0]["summary"] == "expires in 9 days"
    missing = client.get("/api/v1/checks/b/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_alert_endpoints(store: StateStore) -> None:
    fp = fingerprint("a", "http")
    alert = AlertRecord(fp, "a", "http", "firing", Status.CRITICAL, "HTTP 503", {}, 5.0, None, 1)
    store.save_alert(alert, [AlertEvent("firing", "HTTP 503", "critical", "pending", {})], 5.0)
    client = client_for(store)
    [listed] = client.get("/api/v1/alerts").json()["alerts"]
    assert listed["fingerprint"] == fp and listed["status"] == "CRITICAL"
    one = client.get(f"/api/v1/alerts/{fp}").json()
    assert one["transitions"] == [{"transition": 1, "kind": "firing", "at": 5.0,
                                   "summary": "HTTP 503"}]
    assert client.get("/api/v1/alerts/unknown").status_code == 404


def test_status_page_escapes_what_checks_report(store: StateStore) -> None:
    store.record_result("a", "http", "http",
                        Result(Status.CRITICAL, "<script>alert(1)</script>"), 1.0, 0.1)
    page = client_for(store).get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_openapi_describes_every_route(store: StateStore) -> None:
    spec = client_for(store).get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/checks",
                 "/api/v1/checks/{lms}/{check}", "/api/v1/alerts"):
        assert path in spec["paths"]


def test_metrics_negotiates_openmetrics(store: StateStore) -> None:
    response = client_for(store).get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
