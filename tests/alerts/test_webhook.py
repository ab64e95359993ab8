"""The webhook notifier and the dispatcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertingConfig, RetrySettings, WebhookReceiverSpec
from alerts.dispatcher import Dispatcher
from alerts.notifiers import NotifyError, build_notifier, build_notifiers
from alerts.service import AlertService
from checks.base import Result, Status
from monitor.store import StateStore

V4_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
           "commonLabels", "commonAnnotations", "externalURL", "alerts"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
              "fingerprint"}


def alerting(url: str, **retry: Any) -> AlertingConfig:
    return AlertingConfig(
        base_url="https://vigil.example.org",
        retry=RetrySettings(**retry),
        receivers=[WebhookReceiverSpec(name="am", url=url, timeout=2.0,
                                       headers={"X-Team": "lms"})],  # type: ignore[dict-item]
    )


def feed(store: StateStore, service: AlertService, results: str, start: float = 1.0) -> None:
    """Record results ("CCCOO") for one check, as the daemon does, one second apart."""
    for offset, code in enumerate(results):
        status = {"O": Status.OK, "C": Status.CRITICAL}[code]
        now = start + offset
        state = store.record_result("moodle-prod", "homepage", "http",
                                    Result(status, f"{status.name} at {now:g}"), now, 0.1)
        service.on_state(state, None, now, labels={"team": "elearning"})


async def drive(dispatcher: Dispatcher, now: float, max_steps: int = 20) -> list[float]:
    """Step at each next due time (a fake clock); return the waits between steps."""
    waits: list[float] = []
    for _ in range(max_steps):
        await dispatcher.step(now)
        due = dispatcher.next_wake_at()
        if due is None:
            return waits
        waits.append(due - now)
        now = due
    raise AssertionError("outbox never drained")


@pytest.fixture
async def closing() -> AsyncIterator[list[Dispatcher]]:
    dispatchers: list[Dispatcher] = []
    yield dispatchers
    for dispatcher in dispatchers:
        await dispatcher.aclose()


async def test_every_notification_is_delivered_once_in_order_despite_server_errors(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    config = alerting(http_receiver.url)
    feed(store, AlertService(store, config), "CCCOO")  # firing and resolved both queued
    http_receiver.statuses = [500, 500, 500]
    outcomes: list[tuple[str, str]] = []
    dispatcher = Dispatcher(store, build_notifiers(config), config.retry, rng=lambda: 0.0,
                            on_attempt=lambda r, o: outcomes.append((r, o)))
    closing.append(dispatcher)

    assert await drive(dispatcher, now=10.0) == [5.0, 10.0, 20.0]

    delivered = http_receiver.delivered()
    assert [body["status"] for body in delivered] == ["firing", "resolved"]
    keys = [r["headers"]["Idempotency-Key"] for r in http_receiver.requests]
    assert keys.count(keys[-1]) == 1 and len(set(keys)) == 2  # resolved sent once, last
    assert store.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0}
    assert [o for _, o in outcomes] == ["retry", "retry", "retry", "sent", "sent"]


async def test_the_backoff_grows_with_jitter_up_to_the_cap(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    config = alerting(http_receiver.url, initial_backoff=5, max_backoff=30, jitter=0.2)
    feed(store, AlertService(store, config), "CCC")
    http_receiver.statuses = [503] * 6
    dispatcher = Dispatcher(store, build_notifiers(config), config.retry, rng=lambda: 0.5)
    closing.append(dispatcher)

    waits = await drive(dispatcher, now=10.0)

    assert waits == pytest.approx([4.5, 9.0, 18.0, 27.0, 27.0, 27.0])
    assert len(http_receiver.delivered()) == 1


async def test_the_payload_is_alertmanager_webhook_version_4(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    config = alerting(http_receiver.url)
    feed(store, AlertService(store, config), "CCCOO")
    dispatcher = Dispatcher(store, build_notifiers(config), config.retry)
    closing.append(dispatcher)
    await drive(dispatcher, now=10.0)

    firing, resolved = http_receiver.delivered()
    for body in (firing, resolved):
        assert set(body) == V4_KEYS and set(body["alerts"][0]) == ALERT_KEYS
        assert (body["version"], body["receiver"], body["truncatedAlerts"]) == ("4", "am", 0)
        assert body["externalURL"] == "https://vigil.example.org"
        assert body["groupKey"] == (
            '{}:{alertname="LmsCheckFailing", check="homepage", lms="moodle-prod"}')
    alert = firing["alerts"][0]
    assert alert["labels"] == {"alertname": "LmsCheckFailing", "lms": "moodle-prod",
                               "check": "homepage", "check_type": "http",
                               "severity": "critical", "team": "elearning"}
    assert alert["annotations"]["summary"] == "CRITICAL at 3"
    assert "What to do" in alert["annotations"]["description"]
    assert "PHP-FPM" in alert["annotations"]["runbook"]
    assert alert["startsAt"] == "1970-01-01T00:00:03.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["generatorURL"].startswith("https://vigil.example.org/api/v1/alerts/")
    assert firing["commonLabels"] == alert["labels"]
    ended = resolved["alerts"][0]
    assert (ended["status"], ended["endsAt"]) == ("resolved", "1970-01-01T00:00:05.000Z")
    assert ended["fingerprint"] == alert["fingerprint"]
    request = http_receiver.requests[0]
    assert request["path"] == "/alerts" and request["headers"]["X-Team"] == "lms"
    assert request["headers"]["Content-Type"] == "application/json"


async def test_a_404_fails_permanently(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    config = alerting(http_receiver.url)
    feed(store, AlertService(store, config), "CCC")
    http_receiver.statuses = [404]
    dispatcher = Dispatcher(store, build_notifiers(config), config.retry)
    closing.append(dispatcher)

    assert await drive(dispatcher, now=10.0) == []

    [item] = store.outbox_items("failed")
    assert item.last_error is not None and "HTTP 404" in item.last_error
    assert len(http_receiver.requests) == 1


async def test_a_timeout_is_retried(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    config = AlertingConfig(receivers=[
        WebhookReceiverSpec(name="slow", url=http_receiver.url, timeout=0.05)])
    feed(store, AlertService(store, config), "CCC")
    http_receiver.delay = 0.3
    dispatcher = Dispatcher(store, build_notifiers(config), config.retry)
    closing.append(dispatcher)

    await dispatcher.step(10.0)

    [item] = store.outbox_items("pending")
    assert item.attempts == 1 and item.next_attempt_at > 10.0
    assert item.last_error is not None and "no answer within 0.05s" in item.last_error


async def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = build_notifier(WebhookReceiverSpec(name="gone", url=f"http://127.0.0.1:{port}/"))
    payload = {"status": "firing", "lms": "m", "check": "c", "severity": "critical",
               "fingerprint": "0" * 16}
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(payload)
    finally:
        await notifier.aclose()
    assert not info.value.permanent and "ConnectError" in info.value.reason


async def test_a_restart_delivers_what_was_pending(tmp_path: Path, http_receiver: Any) -> None:
    path = tmp_path / "state.sqlite"
    config = alerting(http_receiver.url)
    first = StateStore(path)
    feed(first, AlertService(first, config), "CCC")
    http_receiver.statuses = [500]
    dispatcher = Dispatcher(first, build_notifiers(config), config.retry)
    await dispatcher.step(10.0)
    await dispatcher.aclose()
    first.close()  # the daemon stops (or crashes) with the page still pending

    reopened = StateStore(path)
    try:
        dispatcher = Dispatcher(reopened, build_notifiers(config), config.retry)
        await drive(dispatcher, now=100.0)
        await dispatcher.aclose()
        assert reopened.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    finally:
        reopened.close()
    assert [b["status"] for b in http_receiver.delivered()] == ["firing"]
    assert len(http_receiver.requests) == 2
