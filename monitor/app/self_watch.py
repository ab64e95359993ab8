"""Tells on-call when Vigil itself stops saving, by a path that does not need the state file.

The daemon steps this every few seconds (daemon.py). When writes to the state file start
failing (a full disk, a damaged page: ``Database.writes``) it logs an error and sends a
message straight to every receiver's notifier, bypassing the outbox, which lives in the
very file that cannot be written; /readyz says not ready meanwhile (daemon.readiness).
When writes succeed again it logs the recovery and queues a "resolved" through the outbox
as usual. One message per change, never one per failed write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from alerts.notifiers.base import Notifier
from alerts.outbound import message_payload
from monitor.kernel.database import WriteHealth

log = logging.getLogger(__name__)
LABELS = {"alertname": "VigilStateWritesFailing", "severity": "critical"}


class StateWriteWatch:
    def __init__(self, writes: WriteHealth, path: str,
                 notifiers: Callable[[], Mapping[str, Notifier]],
                 alerts_config: Callable[[], Any],
                 enqueue_message: Callable[..., int]) -> None:
        self.writes = writes
        self.path = path
        self.notifiers = notifiers
        self.alerts_config = alerts_config
        self.enqueue_message = enqueue_message
        self.failing_since: float | None = None

    async def step(self, now: float) -> None:
        if self.writes.failing and self.failing_since is None:
            self.failing_since = now
            await self._tell_directly(now)
        elif not self.writes.failing and self.failing_since is not None:
            lasted = now - self.failing_since
            self.failing_since = None
            text = f"Vigil saves to {self.path} again (writes failed for {lasted:.0f} s)."
            log.warning("%s", text)
            try:
                self.enqueue_message("state_writes", "Vigil saves its state again", text,
                                     f"<p>{text}</p>", labels=LABELS, now=now,
                                     status="resolved", key=f"state-writes-ok:{int(now)}")
            except Exception:  # the file may fail again at once: the log has it
                log.exception("could not queue the recovery notice")

    async def _tell_directly(self, now: float) -> None:
        text = (f"Vigil cannot write its state database {self.path}: "
                f"{self.writes.last_error}. Check results, alert changes and notifications "
                "are not being saved; /readyz reports not ready until writes succeed.")
        log.error("%s", text)
        payload = message_payload(self.alerts_config(), "state_writes",
                                  "Vigil cannot save its state", text, f"<p>{text}</p>",
                                  LABELS, key=f"state-writes-failing:{int(now)}")
        for name, notifier in self.notifiers().items():
            try:
                await notifier.send(dict(payload, receiver=name))
            except Exception as exc:  # each receiver on its own; the log always has it
                log.error("could not tell receiver %r that state writes fail: %s", name, exc)
