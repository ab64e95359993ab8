"""One contract for every registered notifier: secrets masked, 4xx permanent, 5xx and
timeouts retryable. A new notifier must add a harness in conftest.py to pass."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from alerts.config import RetrySettings
from alerts.dispatcher import Dispatcher
from alerts.messages import Renderer, sample_payloads
from alerts.notifiers import NOTIFIERS, NotifyError
from monitor.store import StateStore

KINDS = sorted(NOTIFIERS)


def notification() -> dict[str, Any]:
    payload = sample_payloads()[0]
    return {**payload, **Renderer().render(payload)}


def answer(status: int) -> Any:
    """A responder that echoes what it got, as careless servers do in error pages."""
    def respond(request: httpx.Request) -> httpx.Response:
        echo = f"{request.url} {request.headers.get('Authorization')}"
        return httpx.Response(status, text=f"error: {echo}")
    return respond


def raising(exc: type[httpx.TransportError]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed talking to {request.url}", request=request)
    return respond


async def outcome(harness: Any, respond: Any) -> NotifyError | None:
    notifier = harness.build(respond)
    try:
        await notifier.send(notification())
    except NotifyError as exc:
        return exc
    finally:
        await notifier.aclose()
    return None


def test_every_registered_notifier_has_a_contract_harness(notifier_harnesses: dict) -> None:
    assert set(notifier_harnesses) == set(NOTIFIERS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_client_error_is_permanent(
    kind: str, status: int, notifier_harnesses: dict
) -> None:
    harness = notifier_harnesses[kind]
    error = await outcome(harness, answer(status))
    if not harness.uses_http:
        assert error is None  # nothing remote to refuse: it trivially sends
        return
    assert error is not None and error.permanent and f"HTTP {status}" in error.reason


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_server_error_or_throttling_is_retryable(
    kind: str, status: int, notifier_harnesses: dict
) -> None:
    harness = notifier_harnesses[kind]
    error = await outcome(harness, answer(status))
    if not harness.uses_http:
        assert error is None
        return
    assert error is not None and not error.permanent and f"HTTP {status}" in error.reason


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exc", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError,
                                 httpx.RemoteProtocolError])
async def test_timeouts_and_connection_errors_are_retryable(
    kind: str, exc: type[httpx.TransportError], notifier_harnesses: dict
) -> None:
    harness = notifier_harnesses[kind]
    error = await outcome(harness, raising(exc))
    if not harness.uses_http:
        assert error is None
        return
    assert error is not None and not error.permanent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("respond", [answer(401), answer(500), raising(httpx.ConnectError)],
                         ids=["401", "500", "connect-error"])
async def test_secrets_never_reach_errors_logs_or_the_outbox(
    kind: str, respond: Any, notifier_harnesses: dict, store: StateStore, secret: str,
    secret_path: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = notifier_harnesses[kind].build(respond)
    store.enqueue("0123456789abcdef:1", "r", notification(), 1.0)
    dispatcher = Dispatcher(store, {"r": notifier}, RetrySettings())
    try:
        await dispatcher.step(1.0)
    finally:
        await dispatcher.aclose()
    recorded = [item.last_error or "" for item in store.outbox_items()]
    for text in [*recorded, caplog.text, repr(notifier)]:
        assert secret not in text and secret_path not in text
