"""Acknowledgements: an on-call person says "I have it", by API, CLI or web page.

Sits beside the engine: an ack is stored on the alert row (ack_by, ack_comment, ack_at,
ack_sticky, ack_expires_at) and written as an 'acknowledged' event, so the router stops
reminders/escalations and PagerDuty can acknowledge the incident. Sticky acks last
until the alert resolves, non-sticky ones until the check status changes (the engine
clears them, alerts/engine.py ``step``); an optional expiry makes the alert notify again
('ack_expired'), checked by ``AlertService.tick`` even when no check result arrives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from alerts.engine import FIRING
from alerts.store import AlertChanged, AlertRecord

if TYPE_CHECKING:
    from alerts.service import AlertService

MAX_AUTHOR = 100
MAX_COMMENT = 1000


class AckError(Exception):
    """Why an ack was refused; ``reason``: not_found | not_firing | not_acked | invalid |
    conflict (the alert changed while the ack was being saved)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def acknowledged(
    alert: AlertRecord, by: str, comment: str, *, sticky: bool, expires_at: float | None,
    now: float,
) -> AlertRecord:
    """Pure: the alert with the ack applied, or AckError naming the bad field."""
    by, comment = by.strip(), comment.strip()
    if not by:
        raise AckError("invalid", "by: must name who acknowledges")
    if len(by) > MAX_AUTHOR:
        raise AckError("invalid", f"by: at most {MAX_AUTHOR} characters")
    if len(comment) > MAX_COMMENT:
        raise AckError("invalid", f"comment: at most {MAX_COMMENT} characters")
    if expires_at is not None and expires_at <= now:
        raise AckError("invalid", "expires_at: must be in the future")
    if alert.state != FIRING:
        raise AckError("not_firing", f"alert {alert.fingerprint} is not firing")
    return replace(alert, ack_by=by, ack_comment=comment, ack_at=now, ack_sticky=sticky,
                   ack_expires_at=expires_at)


def unacknowledged(alert: AlertRecord) -> AlertRecord:
    if not alert.acknowledged:
        raise AckError("not_acked", f"alert {alert.fingerprint} is not acknowledged")
    return replace(alert, ack_by=None, ack_comment=None, ack_at=None, ack_sticky=True,
                   ack_expires_at=None)


def is_expired(alert: AlertRecord, now: float) -> bool:
    return alert.acknowledged and alert.ack_expires_at is not None and alert.ack_expires_at <= now


def _load(service: AlertService, fingerprint: str) -> AlertRecord:
    alert = service.store.get_alert(fingerprint)
    if alert is None:
        raise AckError("not_found", f"no alert {fingerprint!r}")
    return alert


def ack(
    service: AlertService, fingerprint: str, by: str, comment: str = "", *,
    sticky: bool = True, expires_at: float | None = None, now: float,
) -> AlertRecord:
    """Acknowledge a firing alert and write the 'acknowledged' event."""
    loaded = _load(service, fingerprint)
    alert = acknowledged(loaded, by, comment, sticky=sticky, expires_at=expires_at, now=now)
    summary = f"acknowledged by {alert.ack_by}: {alert.ack_comment}".rstrip(": ")
    _write(service, alert, "acknowledged", now, summary, loaded)
    return alert


def unack(service: AlertService, fingerprint: str, by: str, *, now: float) -> AlertRecord:
    """Withdraw an acknowledgement; the alert notifies again ('unacknowledged' event)."""
    loaded = _load(service, fingerprint)
    alert = unacknowledged(loaded)
    _write(service, alert, "unacknowledged", now,
           f"acknowledgement withdrawn by {by.strip() or 'unknown'}", loaded)
    return alert


def expire(service: AlertService, now: float) -> list[AlertRecord]:
    """End every ack whose expiry has passed ('ack_expired' events); return those alerts."""
    ended = []
    for alert in service.store.acked_alerts():
        if is_expired(alert, now):
            cleared = unacknowledged(alert)
            try:
                _write(service, cleared, "ack_expired", now,
                       f"acknowledgement by {alert.ack_by} expired", alert)
            except AckError:
                continue  # changed meanwhile (re-acked, resolved): the next tick decides
            ended.append(cleared)
    return ended


def _write(service: AlertService, alert: AlertRecord, kind: str, now: float, summary: str,
           loaded: AlertRecord) -> None:
    try:
        service.write_event(alert, kind, now, summary=summary, expected=loaded)
    except AlertChanged:
        raise AckError("conflict", f"alert {alert.fingerprint} changed meanwhile; "
                       "try again") from None
