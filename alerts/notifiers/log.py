"""The log notifier: writes a notification's rendered title and text to ``vigil.alerts``.

The always-available receiver (journald under systemd). Like every notifier it only
transports: title and text were rendered from templates when the group notification
was queued (alerts/router.py). Structured fields go in the record's ``extra`` so a
JSON log handler can index them.
"""

from __future__ import annotations

import logging
from typing import Any

from alerts.receiver_specs import LogReceiverSpec

LOGGER_NAME = "vigil.alerts"


class LogNotifier:
    def __init__(self, spec: LogReceiverSpec, *, logger: logging.Logger | None = None) -> None:
        self.spec = spec
        self.level = logging.getLevelNamesMapping()[spec.level.upper()]
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def __repr__(self) -> str:
        return f"LogNotifier(name={self.spec.name!r}, level={self.spec.level!r})"

    async def send(self, notification: dict[str, Any]) -> None:
        alerts = notification.get("alerts") or []
        self.logger.log(
            self.level, "%s\n%s", notification.get("title", ""), notification.get("text", ""),
            extra={"alert_dedup_key": notification.get("dedup_key"),
                   "alert_status": notification.get("status"),
                   "alert_reason": notification.get("reason"),
                   "alert_group_key": notification.get("group_key"),
                   "alert_fingerprints": [a.get("fingerprint") for a in alerts]},
        )

    async def aclose(self) -> None:
        return None
