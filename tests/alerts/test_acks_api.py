"""Acknowledging over HTTP: the JSON endpoints and the console's form (real store)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from alerts.engine import fingerprint
from alerts.service import AlertService
from monitor.app.config import VigilConfig
from monitor.app.metrics import build_registry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.kernel.result import Result, Status
from tests.conftest import FakeClock
from tests.token_kit import sign_in

TOKEN = "t0ken-for-acks-0123456789"
FP = fingerprint("moodle", "http")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class View:
    store: StateStore
    registry: CollectorRegistry
    alerts: AlertService
    config: VigilConfig
    clock: FakeClock
    problems: list[str] = field(default_factory=list)

    def readiness_problems(self) -> list[str]:
        return self.problems


def make_client(store: StateStore, clock: FakeClock, token: str | None = TOKEN,
                codes: str = "CCC") -> TestClient:
    config = VigilConfig.model_validate({"server": {"api_token": token}} if token else {})
    service = AlertService(store, config.alerts)
    for code in codes:
        clock.advance(60)
        status = Status.OK if code == "O" else Status.CRITICAL
        state = store.record_result("moodle", "http", "http", Result(status, f"HTTP {code}"),
                                    clock.time(), 0.1)
        service.on_state(state, None, clock.time())
    registry, _ = build_registry(store)
    return TestClient(create_app(View(store, registry, service, config, clock)))


@pytest.mark.parametrize(("token", "headers", "status"), [
    (None, AUTH, 403),                                            # writes disabled
    (TOKEN, {}, 401),
    (TOKEN, {"Authorization": "Bearer wrong-token-wrong-token"}, 401),
    (TOKEN, {"Authorization": f"Basic {TOKEN}"}, 401),
])
def test_ack_needs_the_bearer_token(
    store: StateStore, clock: FakeClock, token: str | None, headers: dict[str, str],
    status: int,
) -> None:
    client = make_client(store, clock, token)
    response = client.post(f"/api/v1/alerts/{FP}/ack", json={"by": "ann"}, headers=headers)
    assert response.status_code == status
    assert not store.get_alert(FP).acknowledged  # type: ignore[union-attr]


def test_ack_and_unack_over_the_api(store: StateStore, clock: FakeClock) -> None:
    client = make_client(store, clock)
    response = client.post(f"/api/v1/alerts/{FP}/ack", headers=AUTH,
                           json={"by": "ann", "comment": "on it", "sticky": False,
                                 "expires_in": "2h"})
    assert response.status_code == 200
    ack = response.json()["acknowledged"]
    assert (ack["by"], ack["comment"], ack["sticky"]) == ("ann", "on it", False)
    assert ack["expires_at"] == clock.time() + 7200
    listed = client.get("/api/v1/alerts").json()["alerts"][0]
    assert listed["acknowledged"]["by"] == "ann" and listed["severity"] == "critical"
    one = client.get(f"/api/v1/alerts/{FP}").json()
    assert [t["kind"] for t in one["transitions"]] == ["firing", "acknowledged"]

    gone = client.request("DELETE", f"/api/v1/alerts/{FP}/ack", headers=AUTH,
                          json={"by": "bob"})
    assert gone.status_code == 200 and gone.json()["acknowledged"] is None
    again = client.request("DELETE", f"/api/v1/alerts/{FP}/ack", headers=AUTH)
    assert again.status_code == 409 and "not acknowledged" in again.json()["error"]
    assert client.request("DELETE", f"/api/v1/alerts/{FP}/ack").status_code == 401


@pytest.mark.parametrize(("path_fp", "body", "codes", "status", "error"), [
    ("0123456789abcdef", {"by": "ann"}, "CCC", 404, "no alert"),
    (FP, {"by": "ann"}, "CCCOO", 409, "is not firing"),
    (FP, {"comment": "x"}, "CCC", 422, "by: Field required"),
    (FP, {"by": "ann", "colour": "red"}, "CCC", 422, "colour: Extra inputs"),
    (FP, {"by": "ann", "expires_in": "soon"}, "CCC", 422, "expires_in: 'soon' is not a"),
    (FP, {"by": "ann", "expires_in": "1h", "expires_at": 5.0}, "CCC", 422,
     "expires_in, expires_at: give one"),
    (FP, {"by": "ann", "expires_at": 5.0}, "CCC", 422, "expires_at: must be in the future"),
    (FP, "[not json", "CCC", 400, "body: must be a JSON object"),
])
def test_bad_acks_get_a_status_and_an_error_naming_the_field(
    store: StateStore, clock: FakeClock, path_fp: str, body: object, codes: str,
    status: int, error: str,
) -> None:
    client = make_client(store, clock, codes=codes)
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = client.post(f"/api/v1/alerts/{path_fp}/ack", headers=AUTH, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert error in response.json()["error"]


def test_the_console_acks_through_its_form(store: StateStore, clock: FakeClock) -> None:
    client = make_client(store, clock)
    assert f'action="/alerts/{FP}/ack"' not in client.get("/alerts").text  # not signed in

    wrong = client.post(f"/alerts/{FP}/ack", data={"by": "ann", "token": "nope"},
                        follow_redirects=False)
    assert wrong.status_code == 401 and "wrong or missing token" in wrong.text
    csrf = sign_in(client, TOKEN)
    assert f'action="/alerts/{FP}/ack"' in client.get("/alerts").text
    bad = client.post(f"/alerts/{FP}/ack", data={"by": "ann", "csrf": csrf,
                                                 "expires": "whenever"},
                      follow_redirects=False)
    assert bad.status_code == 422 and "Expires after:" in bad.text

    done = client.post(f"/alerts/{FP}/ack", data={
        "by": "ann <b>", "comment": "php-fpm restart", "csrf": csrf, "sticky": "on",
        "expires": "30m"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/alerts?acked={FP}"
    alert = store.get_alert(FP)
    assert alert is not None and alert.ack_by == "ann <b>" and alert.ack_sticky
    assert alert.ack_expires_at == clock.time() + 1800
    page = client.get(f"/alerts?acked={FP}").text
    assert "by ann &lt;b&gt;" in page and "php-fpm restart" in page
    assert "<b>" not in page.split("<body>")[1]


def test_the_form_is_refused_without_a_configured_token(
    store: StateStore, clock: FakeClock
) -> None:
    client = make_client(store, clock, token=None)
    response = client.post(f"/alerts/{FP}/ack", data={"by": "ann", "token": ""})
    assert response.status_code == 403


def test_openapi_describes_the_ack_endpoints(store: StateStore, clock: FakeClock) -> None:
    spec = make_client(store, clock).get("/api/v1/openapi.json").json()
    ack = spec["paths"]["/api/v1/alerts/{fingerprint}/ack"]
    assert set(ack) >= {"post", "delete", "parameters"}
    assert {"200", "401", "403", "404"} <= set(ack["post"]["responses"])
