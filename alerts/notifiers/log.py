"""The log notifier: writes a notification's rendered text to the ``vigil.alerts`` logger.

The always-available receiver (journald under systemd). Like every notifier it only
transports: the text was rendered from templates when the notification was queued.
"""

from __future__ import annotations

import logging
from typing import Any

from alerts.config import LogReceiverSpec

LOGGER_NAME = "vigil.alerts"


class LogNotifier:
    def __init__(self, spec: LogReceiverSpec, *, logger: logging.Logger | None = None) -> None:
        self.spec = spec
        self.level = logging.getLevelNamesMapping()[spec.level.upper()]
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    async def send(self, notification: dict[str, Any]) -> None:
        # Fall back to the summary for payloads queued without rendered text.
        text = notification.get("text") or notification.get("summary", "")
        title = notification.get("title", "")
        self.logger.log(
            self.level, "%s\n%s", title, text,
            extra={"alert_dedup_key": notification.get("dedup_key"),
                   "alert_status": notification.get("status")},
        )

    async def aclose(self) -> None:
        return None
