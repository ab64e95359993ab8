"""The webhook notifier: POSTs Alertmanager's webhook JSON (payload version "4").

Anything that accepts Alertmanager's webhook (Alertmanager-aware bots, incident tools,
a custom endpoint) can receive Vigil's notifications unchanged. The body follows
Alertmanager's ``notify/webhook.Message`` = ``template.Data`` (receiver, status, alerts,
groupLabels, commonLabels, commonAnnotations, externalURL) + version, groupKey,
truncatedAlerts; each alert has status, labels, annotations, startsAt, endsAt,
generatorURL, fingerprint (prometheus/alertmanager template/template.go, and the
webhook_config section of docs/configuration.md).

Additions a strict decoder ignores: each alert's own outbox key in ``dedupKey`` next
to ``fingerprint``; a ``vigil`` object with the rendered title and text, the reason
(notify, reminder, escalation, maintenance, report, self) and the route. The
notification's key goes in the ``Idempotency-Key`` header, so a receiver can drop the
duplicate of a retry whose first answer was lost. Transport only: everything was
built and rendered when the notification was queued. A self-alert's "failed" (firing)
and "recovered" (resolved) share the groupKey ``vigil-self:<receiver>``, so a consumer
that correlates by groupKey closes what it opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from alerts.messages import rfc3339
from alerts.notifiers.am_alerts import (
    alert_annotations,
    alert_labels,
    common,
    generator_url,
    starts_at,
)
from alerts.notifiers.base import self_alert_key, self_alert_subject
from alerts.notifiers.http import JsonPoster, endpoint_of
from alerts.notifiers.redact import Redactor, url_secret_parts
from alerts.receiver_specs import WebhookReceiverSpec


def webhook_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of ``alerts[]``."""
    resolved = alert.get("status") == "resolved"
    return {
        "status": "resolved" if resolved else "firing",
        "labels": alert_labels(alert),
        "annotations": alert_annotations(alert),
        "startsAt": starts_at(alert),
        # Alertmanager sends Go's zero time for an alert that has not ended.
        "endsAt": rfc3339(alert.get("ended_at") if resolved else None),
        "generatorURL": generator_url(alert),
        "fingerprint": str(alert.get("fingerprint", "")),
        "dedupKey": str(alert.get("dedup_key", "")),
    }


def webhook_payload(
    notification: Mapping[str, Any], *, receiver: str, max_alerts: int = 0
) -> dict[str, Any]:
    """The whole body for one group notification (one outbox row)."""
    alerts = [webhook_alert(a) for a in notification.get("alerts") or []]
    group_labels = {str(k): str(v) for k, v in (notification.get("group_labels") or {}).items()}
    links = notification.get("links") or {}
    kept = alerts[:max_alerts] if max_alerts else alerts
    status = notification.get("status") or (
        "firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    subject = self_alert_subject(notification)
    return {
        "version": "4",
        "groupKey": self_alert_key(subject) if subject else str(
            notification.get("group_key") or _group_key(group_labels)),
        "truncatedAlerts": len(alerts) - len(kept),
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        # Computed over all alerts like Alertmanager does (before truncation).
        "commonLabels": common(a["labels"] for a in alerts) if alerts else {
            str(k): str(v) for k, v in (notification.get("common_labels") or {}).items()},
        "commonAnnotations": common(a["annotations"] for a in alerts),
        "externalURL": str(links.get("status_page") or "").rstrip("/"),
        "alerts": kept,
        "vigil": {
            "reason": notification.get("reason", "notify"),
            "route": notification.get("route", ""),
            "escalationLevel": notification.get("escalation_level", 0),
            "dedupKey": str(notification.get("dedup_key", "")),
            "title": notification.get("title", ""),
            "text": notification.get("text", ""),
        },
    }


def _group_key(group_labels: Mapping[str, str]) -> str:
    # Alertmanager's form: route matchers, then the group's labels.
    pairs = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items()))
    return "{}:{" + pairs + "}"


class WebhookNotifier:
    def __init__(
        self, spec: WebhookReceiverSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.spec = spec
        self.endpoint = endpoint_of(spec.url)
        redact = Redactor({*url_secret_parts(spec.url),
                           *(v.get_secret_value() for v in spec.headers.values())})
        self._poster = JsonPoster("webhook", timeout=spec.timeout, redact=redact,
                                  transport=transport)

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.spec.name!r}, endpoint={self.endpoint!r})"

    async def send(self, notification: dict[str, Any]) -> None:
        body = webhook_payload(notification, receiver=self.spec.name,
                               max_alerts=self.spec.max_alerts)
        headers = {
            "Idempotency-Key": str(notification.get("dedup_key", "")),
            **{k: v.get_secret_value() for k, v in self.spec.headers.items()},
        }
        await self._poster.post(self.spec.url, body, headers)

    async def aclose(self) -> None:
        await self._poster.aclose()
