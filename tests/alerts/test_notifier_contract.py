"""One contract for every registered notifier: secrets masked, 4xx permanent, 5xx and
timeouts retryable. HTTP notifiers run here against a scripted transport; e-mail and
apprise speak other protocols and have the same contract tested in their own files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from alerts.dispatcher import Dispatcher
from alerts.notifiers import NOTIFIERS, Notifier, NotifierOptions, NotifyError, build_notifier
from alerts.receiver_specs import (
    AlertmanagerReceiverSpec,
    LogReceiverSpec,
    PagerDutyReceiverSpec,
    RetrySettings,
    WebhookReceiverSpec,
)
from monitor.app.store import StateStore
from tests.alerts.notification_samples import notification, snapshot

SECRET = "s3cr3t-t0ken-value"
SECRET_PATH = "/hooks/T0K3N-IN-PATH"
# Kinds whose transport is not HTTP: where their half of the contract is tested.
ELSEWHERE = {"email": "test_notifier_email.py", "apprise": "test_notifier_apprise.py"}

Responder = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Harness:
    uses_http: bool
    build: Callable[[Responder], Notifier]


def _options(respond: Responder) -> NotifierOptions:
    return NotifierOptions(http_transport=httpx.MockTransport(respond), clock=lambda: 1e9)


HARNESSES: dict[str, Harness] = {
    "log": Harness(False, lambda respond: build_notifier(LogReceiverSpec(name="ops-log"))),
    "webhook": Harness(True, lambda respond: build_notifier(WebhookReceiverSpec(
        name="hook", url=f"https://hooks.example.org{SECRET_PATH}?key={SECRET}x",
        headers={"Authorization": f"Bearer {SECRET}"},  # type: ignore[dict-item]
    ), _options(respond))),
    "alertmanager": Harness(True, lambda respond: build_notifier(AlertmanagerReceiverSpec(
        name="am", url=f"https://am.example.org{SECRET_PATH}",
        headers={"Authorization": f"Bearer {SECRET}"},  # type: ignore[dict-item]
    ), _options(respond))),
    "pagerduty": Harness(True, lambda respond: build_notifier(PagerDutyReceiverSpec(
        name="pd", routing_key=SECRET,  # type: ignore[arg-type]
        url=f"https://events.example.org{SECRET_PATH}",
    ), _options(respond))),
}
HTTP_KINDS = sorted(k for k, h in HARNESSES.items() if h.uses_http)


def payload() -> dict[str, Any]:
    return notification(snapshot(), snapshot(check="cron", fingerprint="fedcba9876543210"))


def answer(status: int) -> Responder:
    """A responder that echoes what it got, as careless servers do in error pages."""
    def respond(request: httpx.Request) -> httpx.Response:
        echo = f"{request.url} {request.headers.get('Authorization')} {request.content[:300]!r}"
        return httpx.Response(status, text=f"error: {echo}")
    return respond


def raising(exc: type[httpx.TransportError]) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed talking to {request.url}", request=request)
    return respond


async def outcome(kind: str, respond: Responder) -> NotifyError | None:
    notifier = HARNESSES[kind].build(respond)
    try:
        await notifier.send(payload())
    except NotifyError as exc:
        return exc
    finally:
        await notifier.aclose()
    return None


def test_every_registered_notifier_is_covered_by_the_contract() -> None:
    assert set(HARNESSES) | set(ELSEWHERE) == set(NOTIFIERS)
    assert not set(HARNESSES) & set(ELSEWHERE)


async def test_the_log_notifier_writes_title_and_text(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vigil.alerts")
    assert await outcome("log", answer(500)) is None
    [record] = caplog.records
    assert record.getMessage().startswith("[CRITICAL] moodle-prod: homepage is failing\n")
    fingerprints = record.__dict__["alert_fingerprints"]  # set through extra=
    assert fingerprints == ["0123456789abcdef", "fedcba9876543210"]


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_client_error_is_permanent(kind: str, status: int) -> None:
    error = await outcome(kind, answer(status))
    assert error is not None and error.permanent and f"HTTP {status}" in error.reason


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_server_error_or_throttling_is_retryable(kind: str, status: int) -> None:
    error = await outcome(kind, answer(status))
    assert error is not None and not error.permanent and f"HTTP {status}" in error.reason


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [200, 202, 204])
async def test_a_2xx_answer_is_delivered(kind: str, status: int) -> None:
    assert await outcome(kind, answer(status)) is None


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("exc", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError,
                                 httpx.RemoteProtocolError])
async def test_timeouts_and_connection_errors_are_retryable(
    kind: str, exc: type[httpx.TransportError]
) -> None:
    error = await outcome(kind, raising(exc))
    assert error is not None and not error.permanent


@pytest.mark.parametrize("kind", sorted(HARNESSES))
@pytest.mark.parametrize("respond", [answer(401), answer(500), raising(httpx.ConnectError)],
                         ids=["401", "500", "connect-error"])
async def test_secrets_never_reach_errors_logs_or_the_outbox(
    kind: str, respond: Responder, store: StateStore, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = HARNESSES[kind].build(respond)
    store.enqueue("0123456789abcdef:1", "r", payload(), 1.0)
    dispatcher = Dispatcher(store, {"r": notifier}, RetrySettings())
    try:
        await dispatcher.step(1.0)
    finally:
        await dispatcher.aclose()
    recorded = [item.last_error or "" for item in store.outbox_items()]
    assert caplog.records  # the attempt was logged (httpx, dispatcher) and is checked
    for text in [*recorded, caplog.text, repr(notifier)]:
        assert SECRET not in text and SECRET_PATH not in text
