"""The Apprise notifier: the long tail of chat and pager services, by URL.

Slack, Teams, Telegram, Matrix, ntfy, Discord, Gotify and ~100 more are covered by
the apprise library (``slack://...``, ``tgram://...``, ``ntfys://...``): Vigil keeps
no hand-written client for any of them. The rendered title and text (or the HTML,
for ``body_format = "html"``) go to every URL of the receiver.

Apprise reports only success or failure, not why: a failure is retryable (the
dispatcher backs off), since a chat service that is down looks the same as one that
refused. Each URL is notified on its own, and a retry goes only to the services that
failed (remembered per outbox key), so a working Slack does not get the message twice
because Teams was down. A URL apprise cannot parse is refused at config load (alerts/config.py).
Service URLs embed tokens, so apprise's own log records pass through a redactor.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from alerts.notifiers.base import NotifyError
from alerts.notifiers.redact import Redactor, url_secret_parts
from alerts.receiver_specs import AppriseReceiverSpec

# Notifications whose partial delivery is remembered (retries of older ones resend all).
_REMEMBERED = 1000


def notify_type(notification: Mapping[str, Any]) -> str:
    """Apprise's message type (icon/colour in most services)."""
    if notification.get("status") == "resolved":
        return "success"
    severities = {a.get("severity") for a in notification.get("alerts") or []}
    if severities & {"page", "critical"}:
        return "failure"
    return "warning" if "warning" in severities else "info"


class AppriseNotifier:
    def __init__(self, spec: AppriseReceiverSpec) -> None:
        # Imported here: apprise loads its plugins on import; most configs never use it.
        import apprise

        self.spec = spec
        secrets: set[str] = set()
        for url in spec.urls:
            secrets |= url_secret_parts(url.get_secret_value(), host_is_secret=True)
        self._redact = Redactor(secrets)
        # apprise logs service URLs (tokens in the path), urllib3 request paths.
        self._redact.watch("apprise", "urllib3.connectionpool")
        self._services: list[Any] = []
        for url in spec.urls:
            service = apprise.Apprise()
            service.add(url.get_secret_value())  # validated at config load
            self._services.append(service)
        # Outbox key -> indexes of the services that already have that notification.
        self._delivered: OrderedDict[str, set[int]] = OrderedDict()

    def __repr__(self) -> str:
        return f"AppriseNotifier(name={self.spec.name!r}, services={len(self.spec.urls)})"

    async def send(self, notification: dict[str, Any]) -> None:
        fmt = self.spec.body_format
        body = str(notification.get("html" if fmt == "html" else "text") or
                   notification.get("text", ""))
        kwargs = {"body": body, "title": str(notification.get("title", "")),
                  "notify_type": notify_type(notification), "body_format": fmt}
        key = str(notification.get("dedup_key", ""))
        done = self._delivered.get(key, set())
        todo = [i for i in range(len(self._services)) if i not in done]
        results = await asyncio.gather(*(self._notify(i, kwargs) for i in todo))
        done |= {i for i, ok in zip(todo, results, strict=True) if ok}
        failed = len(self._services) - len(done)
        if not failed:
            self._delivered.pop(key, None)
            return
        self._delivered[key] = done
        self._delivered.move_to_end(key)
        while len(self._delivered) > _REMEMBERED:
            self._delivered.popitem(last=False)
        raise NotifyError(f"apprise: {failed} of {len(self._services)} service(s) failed"
                          f" (urls{''.join(f'[{i}]' for i in todo if i not in done)};"
                          " details in the apprise log)")

    async def _notify(self, index: int, kwargs: Mapping[str, Any]) -> bool:
        try:
            return bool(await asyncio.wait_for(
                self._services[index].async_notify(**kwargs), timeout=self.spec.timeout))
        except TimeoutError:
            return False

    async def aclose(self) -> None:
        self._redact.unwatch()
