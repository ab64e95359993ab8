"""The OpenAPI document against the app that serves it, and the API's answers to bad input.

The document is generated from the route table; these tests hold it to what the app
really mounts (paths and methods), to the OpenAPI 3.1 schema (openapi-spec-validator),
and every JSON answer below to the schema the document gives for its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry
from starlette.routing import Route
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

TOKEN = "openapi-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FP = fingerprint("prod", "http")
CONFIG = f"""
[state]
dir = "{{dir}}"
[server]
api_token = "{TOKEN}"
[[lms]]
name = "prod"
url = "https://prod.example"
"""
WINDOW = {"name": "db upgrade", "lms": "prod", "timezone": "Europe/Berlin",
          "start": "2027-01-20T22:00", "duration": "2h"}


@dataclass
class FullView:
    """Everything the daemon offers: checks, alerts with acks, maintenance windows."""

    store: StateStore
    registry: CollectorRegistry
    config: VigilConfig
    clock: FakeClock
    alerts: AlertService
    maintenance: MaintenanceBook
    sites: SiteRegistry = field(default_factory=SiteRegistry)

    def readiness_problems(self) -> list[str]:
        return []


@dataclass
class ReadOnlyView:
    store: StateStore
    registry: CollectorRegistry

    def readiness_problems(self) -> list[str]:
        return ["scheduler is not running"]


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[FullView]:
    config = parse_config(CONFIG.format(dir=tmp_path))
    service = AlertService(store, config.alerts)
    for _ in range(3):
        clock.advance(60)
        state = store.record_result("prod", "http", "http", Result(Status.CRITICAL, "HTTP 503"),
                                    clock.time(), 0.1)
        service.on_state(state, None, clock.time())
    book = MaintenanceBook(store.database, clock)
    book.apply_config(config)
    registry, _ = build_registry(store)
    view = FullView(store, registry, config, clock, service, book)
    yield view
    view.sites.close()


@pytest.fixture
def client(view: FullView) -> TestClient:
    return TestClient(create_app(view))


def served(client: TestClient) -> dict[str, set[str]]:
    """Path template -> methods, from the app's own route table (HEAD comes with GET)."""
    routes: dict[str, set[str]] = {}
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        template = route.path_format
        routes.setdefault(template, set()).update(m.lower() for m in route.methods or ()
                                                  if m != "HEAD")
    return routes


def documented(spec: dict[str, Any]) -> dict[str, set[str]]:
    return {path: set(item) - {"parameters"} for path, item in spec["paths"].items()}


def conforms(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The JSON answer matches the schema the document gives for its status."""
    documented_responses = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in documented_responses, (
        f"{method.upper()} {path}: {response.status_code} is not documented")
    content = documented_responses[str(response.status_code)]["content"]
    schema = content["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(response.json())]
    assert not errors, errors


def test_the_document_is_valid_openapi_3_1(client: TestClient, store: StateStore) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    registry, _ = build_registry(store)
    minimal = TestClient(create_app(ReadOnlyView(store, registry)))
    validate(minimal.get("/api/v1/openapi.json").json())


@pytest.mark.parametrize("full", [True, False], ids=["full", "without-maintenance"])
def test_every_served_route_is_documented_with_its_methods_and_nothing_else(
        view: FullView, store: StateStore, full: bool) -> None:
    app_view = view if full else ReadOnlyView(store, view.registry)
    client = TestClient(create_app(app_view))  # type: ignore[arg-type]
    spec = client.get("/api/v1/openapi.json").json()
    assert documented(spec) == served(client)
    assert ("/api/v1/maintenance" in spec["paths"]) is full


def test_writes_require_the_bearer_scheme_the_document_defines(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {"bearerAuth": {"type": "http", "scheme": "bearer",
                                      "description": "server.api_token"}}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            json_write = path.startswith("/api/") and method != "get"
            assert ("security" in operation) is json_write, (method, path)
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes)
            if json_write:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_error_answers_and_parameter_limits_are_documented(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/maintenance"]["post"]["responses"]) == {
        "201", "400", "401", "403", "409", "413", "422"}
    one = paths["/api/v1/maintenance/{id}"]
    assert one["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {
        "type": "integer", "minimum": 1, "maximum": 2**63 - 1}}]
    assert {"200", "400", "401", "403", "404", "409", "413", "422"} <= set(
        one["patch"]["responses"])
    assert set(paths["/api/v1/checks/{lms}/{check}"]["get"]["responses"]) == {"200", "404"}
    ack = paths["/api/v1/alerts/{fingerprint}/ack"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(ack["post"]["responses"])
    assert ack["post"]["requestBody"]["required"] is True
    assert ack["delete"]["requestBody"]["required"] is False


def test_request_schemas_are_the_models_the_handlers_validate_with(client: TestClient) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    window = schemas["MaintenanceWindowInput"]
    assert window["properties"]["force"] == {
        "default": False, "description": "schedule even over Moodle exams",
        "title": "Force", "type": "boolean"}
    assert window["required"] == ["name"] and window["additionalProperties"] is False
    ack = schemas["AckRequest"]
    assert ack["required"] == ["by"] and ack["additionalProperties"] is False
    assert ack["properties"]["sticky"]["type"] == "boolean"
    assert {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"} in (
        ack["properties"]["expires_in"]["anyOf"][0]["anyOf"])


def test_force_must_be_a_json_boolean(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    refused = client.post("/api/v1/maintenance", headers=AUTH, json={**WINDOW, "force": "no"})
    assert refused.status_code == 422
    assert refused.json() == {"error": "force: Input should be a valid boolean",
                              "problems": ["force: Input should be a valid boolean"]}
    conforms(spec, "/api/v1/maintenance", "post", refused)
    assert client.get("/api/v1/maintenance").json()["windows"] == []
    created = client.post("/api/v1/maintenance", headers=AUTH, json={**WINDOW, "force": False})
    assert created.status_code == 201, created.text
    conforms(spec, "/api/v1/maintenance", "post", created)
    wid = created.json()["window"]["id"]
    patched = client.patch(f"/api/v1/maintenance/{wid}", headers=AUTH,
                           json={"comment": "x", "force": 1})
    assert patched.status_code == 422 and patched.json()["problems"] == [
        "force: Input should be a valid boolean"]


@pytest.mark.parametrize(("body", "problem"), [
    ({**WINDOW, "name": 5}, "name: Input should be a valid string"),
    ({**WINDOW, "matchers": ["lms=prod", 7]}, "matchers.1: Input should be a valid string"),
    ({**WINDOW, "actions": {"notify_at_end": "yes"}},
     "actions.notify_at_end: Input should be a valid boolean"),
    ({**WINDOW, "duration": True}, "duration: must be a duration such as 30"),
    ({**WINDOW, "kind": "sometimes"}, "kind: Input should be 'once', 'recurring' or 'manual'"),
])
def test_wrong_types_are_422_naming_the_field_path(client: TestClient, body: dict[str, Any],
                                                   problem: str) -> None:
    response = client.post("/api/v1/maintenance", headers=AUTH, json=body)
    assert response.status_code == 422
    assert any(p.startswith(problem) for p in response.json()["problems"]), response.json()


@pytest.mark.parametrize(("body", "problem"), [
    ({"by": "ann", "sticky": "no"}, "sticky: Input should be a valid boolean"),
    ({"by": 7}, "by: Input should be a valid string"),
    ({"by": "ann", "expires_at": "tomorrow"}, "expires_at: Input should be a valid number"),
])
def test_ack_fields_are_strict_too(client: TestClient, body: dict[str, Any],
                                   problem: str) -> None:
    response = client.post(f"/api/v1/alerts/{FP}/ack", headers=AUTH, json=body)
    assert response.status_code == 422 and response.json()["problems"] == [problem]
    assert client.get(f"/api/v1/alerts/{FP}").json()["acknowledged"] is None


@pytest.mark.parametrize(("raw", "error"), [
    (b'{"name": "caf\xe9"}', "body: is not UTF-8 (byte 13)"),
    (b"{nope", "body: must be a JSON object; this is not JSON: Expecting property name"),
    (b"[" * 60_000, "body: JSON nested deeper than 32 levels"),  # RecursionError in json
    (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "body: JSON nested deeper than 32 levels"),
    (b'{"name": NaN}', "body: must be a JSON object; this is not JSON: NaN is not"),
    (b'{"name": ' + b"9" * 5000 + b"}", "body: must be a JSON object; this is not JSON: "
                                        "Exceeds the limit"),
    (b'"just a string"', "body: must be a JSON object, not a string"),
    (b"", "body: must be a JSON object; the body is empty"),
])
@pytest.mark.parametrize("target", ["maintenance", "ack"])
def test_bodies_that_are_not_a_json_object_are_400(client: TestClient, raw: bytes, error: str,
                                                   target: str) -> None:
    path = "/api/v1/maintenance" if target == "maintenance" else f"/api/v1/alerts/{FP}/ack"
    response = client.post(path, headers=AUTH, content=raw)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error), response.json()
    template = "/api/v1/maintenance" if target == "maintenance" else (
        "/api/v1/alerts/{fingerprint}/ack")
    conforms(client.get("/api/v1/openapi.json").json(), template, "post", response)


def test_an_oversized_body_is_413_before_it_is_parsed(client: TestClient) -> None:
    response = client.post("/api/v1/maintenance", headers=AUTH,
                           json={**WINDOW, "comment": "x" * 70_000})
    assert response.status_code == 413 and "larger than 65536 bytes" in response.json()["error"]
    deep = client.post(f"/api/v1/alerts/{FP}/ack", headers=AUTH, content=b"[" * 100_000)
    assert deep.status_code == 413


def test_an_unack_body_may_be_empty_but_not_malformed(client: TestClient) -> None:
    client.post(f"/api/v1/alerts/{FP}/ack", headers=AUTH, json={"by": "ann"})
    bad = client.request("DELETE", f"/api/v1/alerts/{FP}/ack", headers=AUTH, content=b"\xff")
    assert bad.status_code == 400
    gone = client.request("DELETE", f"/api/v1/alerts/{FP}/ack", headers=AUTH)
    assert gone.status_code == 200 and gone.json() == {"fingerprint": FP, "acknowledged": None}


@pytest.mark.parametrize("window_id", ["0", str(10**20), "9223372036854775808"])
def test_ids_beyond_what_can_exist_are_404_not_500(client: TestClient, window_id: str) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    for method in ("get", "patch", "delete"):
        response = client.request(method, f"/api/v1/maintenance/{window_id}", headers=AUTH,
                                  json={"comment": "x"})
        assert response.status_code == 404, (method, response.text)
        assert response.json() == {"error": "no such window"}
        conforms(spec, "/api/v1/maintenance/{id}", method, response)
    page = client.post(f"/maintenance/{window_id}/end", data={"token": TOKEN})
    assert page.status_code == 404


def test_the_largest_possible_id_is_looked_up(client: TestClient) -> None:
    response = client.get(f"/api/v1/maintenance/{2**63 - 1}")
    assert response.status_code == 404 and "2**63" not in response.json()["error"]


def test_unknown_api_paths_and_methods_answer_json(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"error": "not found"}
    wrong = client.put("/api/v1/checks")
    assert wrong.status_code == 405 and wrong.json() == {"error": "method not allowed"}
    assert "GET" in wrong.headers["allow"]
    assert client.get("/no-such-page").text == "Not Found"


def test_every_json_answer_of_a_session_matches_the_document(
        client: TestClient, view: FullView) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("get", "/healthz", "/healthz", {}),
        ("get", "/readyz", "/readyz", {}),
        ("get", "/api/v1/checks", "/api/v1/checks", {"params": {"lms": "prod", "x": "1"}}),
        ("get", "/api/v1/checks/prod/http", "/api/v1/checks/{lms}/{check}", {}),
        ("get", "/api/v1/checks/prod/nope", "/api/v1/checks/{lms}/{check}", {}),
        ("get", "/api/v1/alerts", "/api/v1/alerts", {}),
        ("get", f"/api/v1/alerts/{FP}", "/api/v1/alerts/{fingerprint}", {}),
        ("get", "/api/v1/alerts/" + "f" * 65, "/api/v1/alerts/{fingerprint}", {}),
        ("post", f"/api/v1/alerts/{FP}/ack", "/api/v1/alerts/{fingerprint}/ack",
         {"json": {"by": "ann", "expires_in": "2h"}}),
        ("post", f"/api/v1/alerts/{FP}/ack", "/api/v1/alerts/{fingerprint}/ack",
         {"json": {"by": "ann"}, "headers": {}}),
        ("delete", f"/api/v1/alerts/{FP}/ack", "/api/v1/alerts/{fingerprint}/ack", {}),
        ("delete", f"/api/v1/alerts/{FP}/ack", "/api/v1/alerts/{fingerprint}/ack", {}),
        ("post", "/api/v1/maintenance", "/api/v1/maintenance", {"json": WINDOW}),
        ("post", "/api/v1/maintenance", "/api/v1/maintenance", {"json": {"lms": "prod"}}),
        ("get", "/api/v1/maintenance", "/api/v1/maintenance", {"params": {"all": "1"}}),
        ("get", "/api/v1/maintenance/1", "/api/v1/maintenance/{id}", {}),
        ("patch", "/api/v1/maintenance/1", "/api/v1/maintenance/{id}",
         {"json": {"comment": "later", "duration": 5400}}),
        ("delete", "/api/v1/maintenance/1", "/api/v1/maintenance/{id}", {}),
        ("delete", "/api/v1/maintenance/1", "/api/v1/maintenance/{id}", {}),
    ]
    statuses = []
    for method, url, template, kwargs in steps:
        kwargs = {"headers": AUTH, **kwargs}
        response = client.request(method, url, **kwargs)
        conforms(spec, template, method, response)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 404, 200, 200, 404, 200, 401, 200, 409,
                        201, 400, 200, 200, 200, 200, 200]
