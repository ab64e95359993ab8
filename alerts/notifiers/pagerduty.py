"""The PagerDuty notifier: Events API v2, one event per alert of a notification.

Field names and limits follow PagerDuty's "Send an Alert Event" page (developer docs,
events-API-v2/02-Trigger-Events.md): routing_key, event_action (trigger, acknowledge,
resolve), dedup_key (<= 255 chars), payload.summary (<= 1024 chars), payload.source,
payload.severity (critical, error, warning, info), payload.timestamp, component,
group, class, custom_details, links[{href, text}], client, client_url. The dedup_key
is the alert's fingerprint, so the trigger, acknowledge and resolve of one outage
land on one PagerDuty alert. Response codes (01-Overview.md): 202 accepted, 400 do
not retry, 429 and 5xx retry.

Notifications without alerts: a maintenance notice or report becomes a change event
(03-Change-Events.md: context for responders, never a page); a self-alert is an alert
of its own: "receiver X failed" (status firing) triggers and "receiver X delivers
again" (resolved) resolves, both under the stable dedup_key ``vigil-self:X``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alerts.messages import rfc3339
from alerts.notifiers.base import self_alert_key, self_alert_subject
from alerts.notifiers.http import JsonPoster, endpoint_of
from alerts.notifiers.redact import Redactor, url_secret_parts
from alerts.receiver_specs import PagerDutyReceiverSpec

CLIENT = "Vigil"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
# Vigil's "page" is PagerDuty's highest; PagerDuty's "error" sits between.
SEVERITY = {"page": "critical", "critical": "error", "warning": "warning", "info": "info"}
# Snapshot kind -> event action. Flapping, severity changes and an expired or removed
# acknowledgement re-trigger: PagerDuty folds a trigger into the open alert.
ACTION = {"acknowledged": "acknowledge", "resolved": "resolve"}


def event_action(alert: Mapping[str, Any]) -> str:
    if alert.get("status") == "resolved":
        return "resolve"
    return ACTION.get(str(alert.get("kind", "firing")), "trigger")


def alert_event(alert: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for one alert snapshot."""
    action = event_action(alert)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": str(alert.get("fingerprint", ""))[:DEDUP_KEY_MAX],
    }
    if action != "trigger":
        return event  # acknowledge and resolve need only the key (docs' examples)
    labels = alert.get("labels") or {}
    lms, check = str(alert.get("lms", "")), str(alert.get("check", ""))
    problem = alert.get("problem") or alert.get("summary") or ""
    links = alert.get("links") or {}
    event["payload"] = {
        "summary": f"{lms} {check}: {problem}"[:SUMMARY_MAX],
        # "The unique location of the affected system, preferably a hostname".
        "source": str(labels.get("instance") or labels.get("host") or lms),
        "severity": SEVERITY.get(str(alert.get("severity")), "error"),
        "timestamp": rfc3339(alert.get("started_at")),
        "component": check,
        "group": lms,
        "class": str(alert.get("check_type", "")),
        "custom_details": {
            key: alert.get(key) for key in (
                "summary", "problem", "check_status", "severity", "kind", "labels",
                "details", "runbook", "flapping", "acknowledged", "held_reason",
                "dedup_key")
            if alert.get(key) not in (None, "", {}, [])
        },
    }
    event["client"] = CLIENT
    if links.get("status_page"):
        event["client_url"] = links["status_page"]
    event["links"] = _links(links)
    return event


def message_event(notification: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """A notification without alerts: a change event, or a self-alert's trigger/resolve."""
    if notification.get("reason") == "self":
        return self_alert_event(notification, routing_key)
    return {"routing_key": routing_key, "payload": _message_payload(notification),
            "links": _links(notification.get("links") or {})}


def self_alert_event(notification: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """Trigger while the receiver is failed, resolve when it delivers again."""
    subject = self_alert_subject(notification)
    # Without a subject (not from receiver_health) the message is an incident of its own.
    key = self_alert_key(subject) if subject else str(notification.get("dedup_key", ""))
    event: dict[str, Any] = {"routing_key": routing_key, "dedup_key": key[:DEDUP_KEY_MAX]}
    if notification.get("status") == "resolved":
        return {**event, "event_action": "resolve"}
    return {**event, "event_action": "trigger",
            "payload": {**_message_payload(notification), "severity": "error"},
            "client": CLIENT, "links": _links(notification.get("links") or {})}


def _message_payload(notification: Mapping[str, Any]) -> dict[str, Any]:
    details = {"text": notification.get("text", ""),
               "reason": notification.get("reason", ""),
               "labels": notification.get("group_labels") or {}}
    return {"summary": str(notification.get("title", ""))[:SUMMARY_MAX], "source": CLIENT,
            "custom_details": details}


def _links(links: Mapping[str, Any]) -> list[dict[str, str]]:
    names = {"status_page": "Vigil status page", "api": "Alert in Vigil's API",
             "grafana": "Grafana dashboard"}
    return [{"href": str(href), "text": names.get(key, key)}
            for key, href in links.items() if href]


class PagerDutyNotifier:
    def __init__(
        self, spec: PagerDutyReceiverSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.spec = spec
        key = spec.routing_key.get_secret_value()
        redact = Redactor({key, *url_secret_parts(spec.url), *url_secret_parts(spec.change_url)})
        self._poster = JsonPoster("pagerduty", timeout=spec.timeout, redact=redact,
                                  transport=transport)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(name={self.spec.name!r}, url={endpoint_of(self.spec.url)!r})"

    async def send(self, notification: dict[str, Any]) -> None:
        key = self.spec.routing_key.get_secret_value()
        alerts = notification.get("alerts") or []
        if not alerts:
            event = message_event(notification, key)
            url = self.spec.url if "event_action" in event else self.spec.change_url
            await self._poster.post(url, event)
            return
        # One by one, in order; a retry repeats the ones already accepted, which
        # PagerDuty folds into the same alert by dedup_key.
        for alert in alerts:
            await self._poster.post(self.spec.url, alert_event(alert, key))

    async def aclose(self) -> None:
        await self._poster.aclose()
