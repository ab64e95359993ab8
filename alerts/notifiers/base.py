"""The notifier contract: how the outbox dispatcher hands a notification to a channel.

A notifier transports one stored outbox payload (a group notification from the router:
its alerts' snapshots plus the rendered title, text and HTML) and reports failure as
``NotifyError``, permanent or retryable. It never retries, sleeps or records
deliveries: the dispatcher owns all of that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

# A self-alert (reason "self", alerts/receiver_health.py) names the receiver it is about
# in this group label. Its "failed" and "recovered" messages are two outbox rows with
# their own keys, yet one incident: channels that correlate (PagerDuty's dedup_key,
# Alertmanager's label set, a webhook's groupKey) use ``self_alert_key`` instead.
SELF_ALERT_LABEL = "receiver"


def self_alert_subject(notification: Mapping[str, Any]) -> str | None:
    """The receiver a self-alert is about; None for any other notification."""
    if notification.get("reason") != "self":
        return None
    subject = (notification.get("group_labels") or {}).get(SELF_ALERT_LABEL)
    return str(subject) if subject else None


def self_alert_key(receiver: str) -> str:
    """The stable identity of the self-alert about ``receiver`` (same for both changes)."""
    return f"vigil-self:{receiver}"


class NotifyError(Exception):
    """Delivery failed. ``permanent`` means retrying the same payload cannot help.

    ``reason`` is stored in the outbox and logged: it must never contain a secret.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Notifier(Protocol):
    async def send(self, notification: dict[str, Any]) -> None:
        """Deliver or raise ``NotifyError``."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once at shutdown or after a config reload."""
        ...


# Alertmanager and healthchecks agree: a server error or throttling may pass; any other
# client error means the request itself is wrong and would fail again.
RETRYABLE_STATUS = frozenset({408, 425, 429})


def http_status_error(status_code: int, what: str) -> NotifyError | None:
    """Judge an HTTP response status; None means delivered. ``what`` must hold no secret."""
    if 200 <= status_code < 300:
        return None
    if status_code >= 500 or status_code in RETRYABLE_STATUS:
        return NotifyError(what, permanent=False)
    if 300 <= status_code < 400:
        # Redirects are not followed: a POST must not silently turn into a GET elsewhere.
        return NotifyError(f"{what} (redirect: configure the final URL)", permanent=True)
    return NotifyError(what, permanent=True)
