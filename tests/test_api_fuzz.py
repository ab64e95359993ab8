"""Issue #11: the HTTP API fuzzed from its own OpenAPI document (schemathesis).

Every operation of /api/v1/openapi.json, served by create_app over the full test view
(checks, alerts with acks, maintenance windows; the view tests/test_api_openapi.py
uses), gets generated requests, valid and invalid, each with the bearer token so that
write operations get past authentication to their handlers. Every answer is checked:
no server error, the status documented for the operation, the body matching the schema
the document gives for that status. The document itself must be valid OpenAPI.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from alerts.maintenance.book import MaintenanceBook
from alerts.service import AlertService
from monitor.app.config import parse_config
from monitor.app.metrics import build_registry
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from monitor.kernel.result import Result, Status
from tests.conftest import FakeClock
from tests.test_api_openapi import AUTH, CONFIG, FP, TOKEN, WINDOW, FullView

MIN_CASES = 500
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture
def app(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[Starlette]:
    config = parse_config(CONFIG.format(dir=tmp_path))
    service = AlertService(store, config.alerts)
    for name in ("http", "tls"):  # two alerts firing: ack and unack have something to find
        for _ in range(3):
            clock.advance(60)
            state = store.record_result("prod", name, name, Result(Status.CRITICAL, "down"),
                                        clock.time(), 0.1)
            service.on_state(state, None, clock.time())
    book = MaintenanceBook(store.database, clock)
    book.apply_config(config)
    registry, _ = build_registry(store)
    view = FullView(store, registry, config, clock, service, book)
    yield create_app(view)
    view.sites.close()


def authenticate(case: schemathesis.Case) -> None:
    """Writes carry the token: the bearer header (over any the generator wrote) and, for
    the pages' forms, the form's token field."""
    case.headers = {**(case.headers or {}), **AUTH}
    if case.media_type == "application/x-www-form-urlencoded" and isinstance(case.body, dict):
        case.body = {**case.body, "token": TOKEN}


def test_the_served_document_is_valid_openapi(app: Starlette) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    validate(schema.raw_schema)


def test_every_operation_answers_as_documented_to_generated_requests(app: Starlette) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    created = TestClient(app).post("/api/v1/maintenance", json=WINDOW, headers=AUTH)
    assert created.status_code == 201, created.text
    # Paths naming what exists, so that requests reach the handlers past their 404.
    window = created.json()["window"]["id"]
    known = {"fingerprint": FP, "id": window, "lms": "prod", "check": "http"}
    operations = [result.ok() for result in schema.get_all_operations()]
    variants = [(GenerationMode.POSITIVE, False), (GenerationMode.NEGATIVE, False),
                (GenerationMode.POSITIVE, True)]
    per_strategy = math.ceil(MIN_CASES / (len(variants) * len(operations))) + 10
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    skipped: list[str] = []
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        for mode, existing in variants:
            if existing and not names:
                continue
            strategy = operation.as_strategy(
                generation_mode=mode,
                path_parameters={k: v for k, v in known.items() if k in names} if existing
                else None)

            @settings(max_examples=per_strategy, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                authenticate(case)
                response = case.call()
                case.validate_response(response, checks=CHECKS, headers=dict(AUTH))
                cases[case.operation.label] += 1
                statuses[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                # An operation with no parameters and no body has nothing to make invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
                skipped.append(operation.label)
    total = sum(cases.values())
    print(f"\nAPI fuzz: {total} cases over {len(operations)} operations ({len(skipped)} with "
          f"nothing to make invalid), statuses {dict(sorted(statuses.items()))}, "
          "0 server errors, 0 schema violations")
    assert total >= MIN_CASES
    assert not any(status >= 500 for status in statuses)
    assert not {401, 403} & set(statuses), "every write was to get past authentication"
