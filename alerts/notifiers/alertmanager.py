"""The Alertmanager notifier: pushes alerts to ``POST /api/v2/alerts`` and keeps them alive.

For sites that already run a (clustered) Alertmanager: Vigil decides *what* fires;
Alertmanager may take over routing, silences and inhibition at scale. Each alert of a
notification becomes one ``postableAlert`` (labels, annotations, startsAt, endsAt,
generatorURL; api/v2/openapi.yaml of prometheus/alertmanager). With several URLs
(a cluster) every instance gets every alert, as Prometheus does; one accepting is
enough, gossip does the rest.

Alertmanager resolves an alert by itself once its ``endsAt`` passes, so a firing
alert must be re-sent. Like Prometheus (rules/alerting.go: ``ValidUntil = ts +
4 * max(interval, resendDelay)``) a firing alert is pushed with ``endsAt = now +
4 * resend_interval`` and re-sent every ``resend_interval`` by ``refresh(now)``, which
the daemon calls on a timer (see ``alerts.notifiers.refresh_notifiers``). The router's
reminders are far too rare for this (hours), and a failed re-send must not fill the
outbox, so re-sending lives here and not in the dispatcher.

Messages without alerts become ``VigilNotice`` alerts (labels: the message's group
labels and its reason). A maintenance notice or report is an event: it is pushed once
and expires after the validity. A self-alert is a state: "receiver X failed" is kept
alive like a firing alert for as long as X is failed, and "X delivers again" ends it
(same labels, ``endsAt = now``). ``refresh`` also ends it once the caller's list of
failed receivers no longer has X, should that message never come here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.messages import rfc3339
from alerts.notifiers.am_alerts import (
    alert_annotations,
    alert_labels,
    generator_url,
    label_name,
    starts_at,
)
from alerts.notifiers.base import NotifyError, self_alert_subject
from alerts.notifiers.http import JsonPoster, endpoint_of
from alerts.notifiers.redact import Redactor, url_secret_parts
from alerts.receiver_specs import AlertmanagerReceiverSpec

API_PATH = "/api/v2/alerts"
# Prometheus' factor: a firing alert survives three missed re-sends.
VALIDITY_FACTOR = 4
NOTICE_ALERTNAME = "VigilNotice"

log = logging.getLogger("vigil.alerts.alertmanager")


@dataclass
class _Tracked:
    """A firing alert (or failed-receiver self-alert) this notifier pushed and keeps alive."""

    body: dict[str, Any]  # postableAlert without endsAt
    transition: int
    sent_at: float


class AlertmanagerNotifier:
    def __init__(
        self, spec: AlertmanagerReceiverSpec, *, clock: Callable[[], float],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.targets = [url.rstrip("/") + API_PATH for url in spec.endpoints]
        secrets = {v.get_secret_value() for v in spec.headers.values()}
        for url in spec.endpoints:
            secrets |= url_secret_parts(url)
        self._poster = JsonPoster("alertmanager", timeout=spec.timeout,
                                  redact=Redactor(secrets), transport=transport)
        self._headers = {k: v.get_secret_value() for k, v in spec.headers.items()}
        self._firing: dict[str, _Tracked] = {}
        # Newest transition seen per fingerprint: a late, stale notification (a
        # reminder retried after the resolve) must not bring a resolved alert back.
        self._latest: dict[str, int] = {}
        # Self-alerts kept alive, by the failed receiver they are about.
        self._failed: dict[str, _Tracked] = {}

    def __repr__(self) -> str:
        endpoints = [endpoint_of(url) for url in self.spec.endpoints]
        return f"AlertmanagerNotifier(name={self.spec.name!r}, endpoints={endpoints!r})"

    @property
    def validity(self) -> float:
        return VALIDITY_FACTOR * self.spec.resend_interval

    # -- the outbox path ----------------------------------------------------------
    async def send(self, notification: dict[str, Any]) -> None:
        now = self.clock()
        alerts = notification.get("alerts") or []
        if alerts:
            batch = self._apply(alerts, now)
        elif (subject := self_alert_subject(notification)) is not None:
            batch = [self._self_alert(subject, notification, now)]
        else:
            batch = [self._notice(notification, now)]
        if batch:
            await self._push(batch)

    def _apply(self, alerts: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
        """Update what is kept alive; return the postable alerts to push now."""
        batch: list[dict[str, Any]] = []
        for alert in alerts:
            fingerprint = str(alert.get("fingerprint", ""))
            transition = int(alert.get("transition") or 0)
            if transition < self._latest.get(fingerprint, 0):
                continue
            self._latest[fingerprint] = transition
            body = {"labels": alert_labels(alert), "annotations": alert_annotations(alert),
                    "startsAt": starts_at(alert)}
            if url := generator_url(alert):
                body["generatorURL"] = url  # the API wants a URI or no field at all
            previous = self._firing.pop(fingerprint, None)
            if previous is not None and previous.body["labels"] != body["labels"]:
                # Labels are the alert's identity in Alertmanager (e.g. severity was
                # raised): end the old one instead of letting it linger until endsAt.
                batch.append({**previous.body, "endsAt": rfc3339(now)})
            if alert.get("status") == "resolved":
                batch.append({**body, "endsAt": rfc3339(alert.get("ended_at") or now)})
            else:
                self._firing[fingerprint] = _Tracked(body, transition, now)
                batch.append({**body, "endsAt": rfc3339(now + self.validity)})
        return batch

    def _notice(self, notification: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A maintenance notice or report: an alert that expires by itself."""
        return {**_notice_body(notification, now), "endsAt": rfc3339(now + self.validity)}

    def _self_alert(
        self, subject: str, notification: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        """"failed" fires and is kept alive; "recovered" ends it (same labels)."""
        body = _notice_body(notification, now)
        previous = self._failed.pop(subject, None)
        if previous is not None:
            body["startsAt"] = previous.body["startsAt"]  # one alert from failure to recovery
        if notification.get("status") == "resolved":
            return {**body, "endsAt": rfc3339(now)}
        self._failed[subject] = _Tracked(body, 0, now)
        return {**body, "endsAt": rfc3339(now + self.validity)}

    async def _push(self, batch: list[dict[str, Any]]) -> None:
        errors: list[NotifyError] = []
        for target in self.targets:
            try:
                await self._poster.post(target, batch, self._headers)
            except NotifyError as exc:
                errors.append(exc)
        if len(errors) < len(self.targets):
            for error in errors:  # delivered through another instance of the cluster
                log.warning("receiver %r: %s", self.spec.name, error.reason)
            return
        if len(errors) == 1:
            raise errors[0]
        raise NotifyError("; ".join(e.reason for e in errors),
                          permanent=all(e.permanent for e in errors))

    # -- keeping firing alerts alive ----------------------------------------------
    def next_refresh_at(self) -> float | None:
        tracked = [*self._firing.values(), *self._failed.values()]
        if not tracked:
            return None
        return min(t.sent_at for t in tracked) + self.spec.resend_interval

    async def refresh(
        self, now: float, active: Collection[str] | None = None,
        failed_receivers: Collection[str] | None = None,
    ) -> int:
        """Re-send firing alerts and self-alerts last sent ``resend_interval`` ago or more.

        ``active``: fingerprints still firing in the state store, when the caller has
        them; a tracked alert not among them (deleted with its check, say) is ended
        instead of being kept alive forever. ``failed_receivers``: likewise for the
        self-alerts (receivers marked failed; alerts/receiver_health.py). Returns how
        many alerts were pushed. A failure is logged and tried again at the next call;
        never raised.
        """
        batch: list[dict[str, Any]] = []
        for tracked_map, keep in ((self._firing, active), (self._failed, failed_receivers)):
            if keep is not None:
                for key in [key for key in tracked_map if key not in keep]:
                    batch.append({**tracked_map.pop(key).body, "endsAt": rfc3339(now)})
        due = [t for t in (*self._firing.values(), *self._failed.values())
               if now - t.sent_at >= self.spec.resend_interval]
        batch += [{**t.body, "endsAt": rfc3339(now + self.validity)} for t in due]
        if not batch:
            return 0
        try:
            await self._push(batch)
        except NotifyError as exc:
            log.warning("receiver %r: re-sending %d firing alert(s) failed: %s",
                        self.spec.name, len(batch), exc.reason)
            return 0
        for tracked in due:
            tracked.sent_at = now
        return len(batch)

    def adopt(self, alerts: Iterable[Mapping[str, Any]], now: float) -> None:
        """Keep alive alerts pushed before a restart (their latest snapshots).

        Without it, such an alert is re-sent only when the router's next reminder
        passes through ``send``; Alertmanager may time it out before that.
        """
        for alert in alerts:
            if alert.get("status") != "resolved":
                self._apply([alert], now - self.spec.resend_interval)

    def adopt_self_alerts(
        self, sent: Iterable[Mapping[str, Any]], failed_receivers: Collection[str], now: float
    ) -> None:
        """Keep alive, after a restart, the self-alerts of receivers still failed.

        ``sent``: payloads this receiver got, oldest first (the outbox's sent rows); the
        newest self-alert about each receiver counts.
        """
        newest: dict[str, Mapping[str, Any]] = {}
        for payload in sent:
            if (subject := self_alert_subject(payload)) is not None:
                newest[subject] = payload
        for subject, payload in newest.items():
            if subject in failed_receivers and payload.get("status") != "resolved":
                # As if sent a resend_interval ago: the next refresh pushes it.
                self._failed[subject] = _Tracked(
                    _notice_body(payload, now), 0, now - self.spec.resend_interval)

    async def aclose(self) -> None:
        await self._poster.aclose()


def _notice_body(notification: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A message without alerts as a postableAlert without endsAt."""
    labels = {label_name(str(k)): str(v)
              for k, v in (notification.get("group_labels") or {}).items() if v}
    labels.update(alertname=NOTICE_ALERTNAME, reason=str(notification.get("reason", "notify")))
    annotations = {"summary": str(notification.get("title", "")),
                   "description": str(notification.get("text", ""))}
    return {"labels": labels, "annotations": annotations, "startsAt": rfc3339(now)}
