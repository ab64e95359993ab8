"""The webhook notifier and the dispatcher against a real HTTP server on 127.0.0.1.

Notifications are queued the way the router does (``store.enqueue`` with a group
payload), so these tests exercise outbox -> dispatcher -> webhook -> HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.dispatcher import Dispatcher
from alerts.notifiers import NotifyError, build_notifier
from alerts.receiver_specs import RetrySettings, WebhookReceiverSpec
from monitor.app.store import StateStore
from tests.alerts.notification_samples import notification, snapshot
from tests.helpers import free_port

# Alertmanager's webhook body: notify/webhook.Message = template.Data + version,
# groupKey, truncatedAlerts (prometheus/alertmanager); "vigil" is our addition.
V4_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
           "commonLabels", "commonAnnotations", "externalURL", "alerts", "vigil"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
              "fingerprint", "dedupKey"}


def spec(url: str, **fields: Any) -> WebhookReceiverSpec:
    return WebhookReceiverSpec(name="am", url=url, timeout=2.0,
                               headers={"X-Team": "lms"}, **fields)  # type: ignore[dict-item]


def queue(store: StateStore, *payloads: dict[str, Any], now: float = 1.0) -> None:
    for payload in payloads:
        store.enqueue(payload["dedup_key"], "am", payload, now)


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


def dispatcher_for(store: StateStore, url: str, closing: list[Dispatcher],
                   **fields: Any) -> Dispatcher:
    dispatcher = Dispatcher(store, {"am": build_notifier(spec(url, **fields))},
                            RetrySettings(), rng=lambda: 0.0)
    closing.append(dispatcher)
    return dispatcher


async def test_a_group_of_two_alerts_is_one_version_4_body_with_both_alerts(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    homepage = snapshot(fingerprint="aaaa000000000001")
    cron = snapshot(check="cron", fingerprint="aaaa000000000002", transition=3,
                    severity="warning", labels={"team": "elearning", "lms": "moodle-prod",
                                                "check": "cron", "check_type": "http",
                                                "severity": "warning", "x-owner": "ops"})
    queue(store, notification(homepage, cron))
    await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0)

    [body] = http_receiver.delivered()
    assert set(body) == V4_KEYS and all(set(a) == ALERT_KEYS for a in body["alerts"])
    assert (body["version"], body["receiver"], body["status"]) == ("4", "am", "firing")
    assert body["groupKey"] == '{}:{lms="moodle-prod"}'
    assert body["groupLabels"] == {"lms": "moodle-prod"}
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"] == "https://vigil.example.org"
    first, second = body["alerts"]
    assert first["labels"] == {"alertname": "LmsCheckFailing", "lms": "moodle-prod",
                               "check": "homepage", "check_type": "http",
                               "severity": "critical", "team": "elearning"}
    assert second["labels"]["x_owner"] == "ops"  # made a valid Prometheus label name
    assert body["commonLabels"] == {"alertname": "LmsCheckFailing", "lms": "moodle-prod",
                                    "check_type": "http", "team": "elearning"}
    assert body["commonAnnotations"]["runbook"].startswith("Check PHP-FPM")
    assert (first["fingerprint"], first["dedupKey"]) == ("aaaa000000000001",
                                                        "aaaa000000000001:1")
    assert second["dedupKey"] == "aaaa000000000002:3"
    assert first["annotations"]["summary"] == "HTTP 503 after 1.2s"
    assert first["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"  # Go's zero time: not ended
    assert first["generatorURL"] == "https://vigil.example.org/api/v1/alerts/aaaa000000000001"
    assert body["vigil"]["title"] == "[CRITICAL] moodle-prod: homepage is failing"
    assert body["vigil"]["reason"] == "notify"
    request = http_receiver.requests[0]
    assert request["headers"]["Idempotency-Key"] == "grp-0001:1"
    assert request["headers"]["X-Team"] == "lms"
    assert request["headers"]["Content-Type"] == "application/json"


async def test_a_resolved_alert_carries_its_end_and_the_problem_it_had(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    queue(store, notification(snapshot("resolved", transition=2)))
    await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0)

    [body] = http_receiver.delivered()
    [alert] = body["alerts"]
    assert (body["status"], alert["status"]) == ("resolved", "resolved")
    assert alert["endsAt"] == "2023-11-14T22:28:20.000Z"
    assert alert["annotations"]["summary"] == "HTTP 503 after 1.2s"
    assert alert["annotations"]["description"] == "HTTP 200 in 0.3s"


async def test_max_alerts_truncates_and_counts_what_was_left_out(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    alerts = [snapshot(fingerprint=f"{i:016x}", check=f"c{i}") for i in range(5)]
    queue(store, notification(*alerts))
    await drive(dispatcher_for(store, http_receiver.url, closing, max_alerts=2), now=10.0)

    [body] = http_receiver.delivered()
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


async def test_a_maintenance_notice_arrives_with_its_text_and_no_alerts(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    queue(store, notification(reason="maintenance", dedup_key="mw-7:before",
                              title="Maintenance in 30 minutes", text="Moodle upgrade"))
    await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0)

    [body] = http_receiver.delivered()
    assert body["alerts"] == [] and body["vigil"]["reason"] == "maintenance"
    assert (body["vigil"]["title"], body["vigil"]["text"]) == ("Maintenance in 30 minutes",
                                                               "Moodle upgrade")


async def test_a_self_alerts_failure_and_recovery_share_one_group_key(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    for change, status in (("failed", "firing"), ("recovered", "resolved")):
        queue(store, notification(reason="self", status=status, dedup_key=f"self-{change}",
                                  group_key=f"self:receiver:mail:{change}:1.000",
                                  group_labels={"receiver": "mail"}, title=change))
    await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0)

    failed, recovered = http_receiver.delivered()
    assert [failed["status"], recovered["status"]] == ["firing", "resolved"]
    assert failed["groupKey"] == recovered["groupKey"] == "vigil-self:mail"
    # The retry-safety key stays each notification's own.
    assert [r["headers"]["Idempotency-Key"] for r in http_receiver.requests] == [
        "self-failed", "self-recovered"]


async def test_every_notification_is_delivered_once_in_order_despite_server_errors(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    queue(store, notification(dedup_key="g:1"),
          notification(snapshot("resolved", transition=2), dedup_key="g:2"))
    http_receiver.statuses = [500, 500, 500]

    assert await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0) == [
        5.0, 10.0, 20.0]

    assert [b["status"] for b in http_receiver.delivered()] == ["firing", "resolved"]
    keys = [r["headers"]["Idempotency-Key"] for r in http_receiver.requests]
    assert keys == ["g:1"] * 4 + ["g:2"]
    assert store.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0}


async def test_a_404_fails_permanently_after_one_attempt(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    queue(store, notification())
    http_receiver.statuses = [404]

    assert await drive(dispatcher_for(store, http_receiver.url, closing), now=10.0) == []

    [item] = store.outbox_items("failed")
    assert item.last_error is not None and "HTTP 404" in item.last_error
    assert len(http_receiver.requests) == 1


async def test_a_timeout_is_retried(
    store: StateStore, http_receiver: Any, closing: list[Dispatcher]
) -> None:
    queue(store, notification())
    http_receiver.delay = 0.3
    dispatcher = Dispatcher(store, {"am": build_notifier(
        WebhookReceiverSpec(name="am", url=http_receiver.url, timeout=0.05))}, RetrySettings())
    closing.append(dispatcher)

    await dispatcher.step(10.0)

    [item] = store.outbox_items("pending")
    assert item.attempts == 1 and item.next_attempt_at > 10.0
    assert item.last_error is not None and "no answer within 0.05s" in item.last_error


async def test_a_refused_connection_is_retryable() -> None:
    notifier = build_notifier(WebhookReceiverSpec(
        name="gone", url=f"http://127.0.0.1:{free_port()}/"))
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(notification())
    finally:
        await notifier.aclose()
    assert not info.value.permanent and "ConnectError" in info.value.reason


async def test_a_restart_delivers_what_was_pending(tmp_path: Path, http_receiver: Any) -> None:
    path = tmp_path / "state.sqlite"
    first = StateStore(path)
    queue(first, notification())
    http_receiver.statuses = [500]
    dispatcher = Dispatcher(first, {"am": build_notifier(spec(http_receiver.url))},
                            RetrySettings())
    await dispatcher.step(10.0)
    await dispatcher.aclose()
    first.close()  # the daemon stops (or crashes) with the page still pending

    reopened = StateStore(path)
    try:
        dispatcher = Dispatcher(reopened, {"am": build_notifier(spec(http_receiver.url))},
                                RetrySettings())
        await drive(dispatcher, now=100.0)
        await dispatcher.aclose()
        assert reopened.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    finally:
        reopened.close()
    assert [b["status"] for b in http_receiver.delivered()] == ["firing"]
    assert len(http_receiver.requests) == 2
