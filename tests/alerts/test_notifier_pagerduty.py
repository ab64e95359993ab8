"""PagerDuty Events API v2 bodies built from alert snapshots (pure functions), and the
notifier's routing of events to the alert and change endpoints."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from alerts.notifiers import NotifierOptions, build_notifier
from alerts.notifiers.pagerduty import alert_event, event_action, message_event
from alerts.receiver_specs import PagerDutyReceiverSpec
from tests.alerts.notification_samples import notification, snapshot

KEY = "R0UT1NGKEY0000000000000000000000"


@pytest.mark.parametrize(("kind", "status", "action"), [
    ("firing", "firing", "trigger"),
    ("resolved", "resolved", "resolve"),
    ("acknowledged", "firing", "acknowledge"),
    ("unacknowledged", "firing", "trigger"),
    ("ack_expired", "firing", "trigger"),
    ("flapping", "firing", "trigger"),
    ("flapping_end", "firing", "trigger"),
    ("severity", "firing", "trigger"),
    ("flapping_end", "resolved", "resolve"),  # whatever the kind, resolved resolves
])
def test_each_event_kind_maps_to_an_event_action(kind: str, status: str, action: str) -> None:
    assert event_action(snapshot(status, kind=kind)) == action


@pytest.mark.parametrize(("severity", "expected"), [
    ("page", "critical"), ("critical", "error"), ("warning", "warning"), ("info", "info")])
def test_vigil_severities_map_to_pagerduty_severities(severity: str, expected: str) -> None:
    assert alert_event(snapshot(severity=severity), KEY)["payload"]["severity"] == expected


def test_trigger_and_resolve_of_one_alert_share_the_fingerprint_as_dedup_key() -> None:
    trigger = alert_event(snapshot(transition=1), KEY)
    resolve = alert_event(snapshot("resolved", transition=2), KEY)
    assert trigger["dedup_key"] == resolve["dedup_key"] == "0123456789abcdef"
    # Acknowledge and resolve carry only what the docs' examples carry.
    assert resolve == {"routing_key": KEY, "event_action": "resolve",
                       "dedup_key": "0123456789abcdef"}


def test_a_trigger_has_the_documented_payload_fields() -> None:
    event = alert_event(snapshot(labels={"instance": "web1.example.org"}), KEY)
    payload = event["payload"]
    assert payload["summary"] == "moodle-prod homepage: HTTP 503 after 1.2s"
    assert payload["source"] == "web1.example.org"  # a host name when a label has one
    assert (payload["component"], payload["group"], payload["class"]) == (
        "homepage", "moodle-prod", "http")
    assert payload["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert payload["custom_details"]["runbook"].startswith("Check PHP-FPM")
    assert event["client"] == "Vigil" and event["client_url"] == "https://vigil.example.org/"
    assert {"href": "https://vigil.example.org/", "text": "Vigil status page"} in event["links"]


def test_a_long_summary_is_cut_to_the_documented_1024_characters() -> None:
    event = alert_event(snapshot(problem="x" * 5000), KEY)
    assert len(event["payload"]["summary"]) == 1024


@pytest.mark.parametrize("reason", ["maintenance", "report"])
@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_maintenance_notices_and_reports_are_change_events_never_pages(
    reason: str, status: str
) -> None:
    change = message_event(notification(reason=reason, status=status,
                                        title="Upgrade at 22:00", text="Moodle 4.5"), KEY)
    # The change-events body: no event_action, dedup_key or severity (03-Change-Events.md).
    assert set(change) == {"routing_key", "payload", "links"}
    assert change["payload"] == {
        "summary": "Upgrade at 22:00", "source": "Vigil",
        "custom_details": {"text": "Moodle 4.5", "reason": reason,
                           "labels": {"lms": "moodle-prod"}}}


def self_alert(change: str, receiver: str = "mail", **fields: Any) -> dict[str, Any]:
    """A receiver_health message as Router.enqueue_message queues it."""
    return notification(
        reason="self", status="firing" if change == "failed" else "resolved",
        group_labels={"receiver": receiver}, common_labels={"receiver": receiver},
        dedup_key=f"self-{receiver}-{change}", title=f"[VIGIL] Receiver {receiver} {change}",
        **fields)


@pytest.mark.parametrize(("message", "action", "dedup_key"), [
    (self_alert("failed"), "trigger", "vigil-self:mail"),
    (self_alert("recovered"), "resolve", "vigil-self:mail"),
    (self_alert("failed", "pager"), "trigger", "vigil-self:pager"),
    (self_alert("failed", "p" * 300), "trigger", ("vigil-self:" + "p" * 300)[:255]),
    # Not from receiver_health (no subject label): an incident of its own.
    (notification(reason="self", dedup_key="self-x-1"), "trigger", "self-x-1"),
])
def test_a_self_alert_triggers_and_resolves_under_its_receivers_stable_key(
    message: dict[str, Any], action: str, dedup_key: str
) -> None:
    event = message_event(message, KEY)
    assert (event["event_action"], event["dedup_key"]) == (action, dedup_key)


def test_a_self_alert_trigger_pages_and_its_resolve_carries_only_the_key() -> None:
    trigger = message_event(self_alert("failed"), KEY)
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["summary"] == "[VIGIL] Receiver mail failed"
    assert trigger["client"] == "Vigil"
    assert message_event(self_alert("recovered"), KEY) == {
        "routing_key": KEY, "event_action": "resolve", "dedup_key": "vigil-self:mail"}


async def test_one_event_per_alert_goes_to_the_enqueue_url_and_notices_to_change() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx.Response(202, json={"status": "success", "message": "Event processed"})

    spec = PagerDutyReceiverSpec(name="pd", routing_key=KEY)  # type: ignore[arg-type]
    notifier = build_notifier(spec, NotifierOptions(http_transport=httpx.MockTransport(respond)))
    try:
        await notifier.send(notification(snapshot(), snapshot("resolved", fingerprint="f" * 16,
                                                              transition=2)))
        await notifier.send(notification(reason="report", title="Maintenance report"))
        await notifier.send(self_alert("failed"))
        await notifier.send(self_alert("recovered"))
    finally:
        await notifier.aclose()
    assert [(path, body.get("event_action")) for path, body in seen] == [
        ("/v2/enqueue", "trigger"), ("/v2/enqueue", "resolve"), ("/v2/change/enqueue", None),
        ("/v2/enqueue", "trigger"), ("/v2/enqueue", "resolve")]
    assert seen[-2][1]["dedup_key"] == seen[-1][1]["dedup_key"] == "vigil-self:mail"
