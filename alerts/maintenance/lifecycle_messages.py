"""Maintenance notices and post-maintenance reports, rendered and queued in the outbox.

Used by lifecycle.py. Text comes from the maintenance_*.j2 templates (report.py's
ReportRenderer; an admin's broken template falls back to the built-in wording, as alert
messages do). Delivery goes through the router's ``enqueue_message`` when the daemon has
a router (it picks the healthy receivers and adds its links), else one outbox row per
configured receiver with the outbox payload of the brief's contract. Either way the dedup
key is fixed per (window uid, occurrence start, what), so a restart never sends twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts.maintenance.report import ReportRenderer, ReportTemplateError
from alerts.store import AlertingState

EnqueueMessage = Callable[..., int]  # Router.enqueue_message


class MaintenanceMessages:
    def __init__(self, store: AlertingState, receivers: Callable[[], Sequence[str]], *,
                 renderer: ReportRenderer | None = None, wake: Callable[[], None] | None = None,
                 base_url: str | None = None, enqueue_message: EnqueueMessage | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.store, self.receivers = store, receivers
        self.renderer = renderer or ReportRenderer()
        self.wake, self.base_url, self.enqueue_message = wake, base_url, enqueue_message
        self.log = logger or logging.getLogger("vigil.maintenance")

    def notice(self, kind: str, window: Mapping[str, Any], lms: Sequence[str],
               actions: Sequence[Mapping[str, Any]], now: float) -> None:
        """"before" a window starts or at its "end" (with what Vigil did meanwhile)."""
        context = {"window": window, "lms": list(lms), "scope": window["scope"],
                   "planned": window["actions"], "actions": list(actions)}
        self._send(window, kind, "maintenance", self._render(kind, context),
                   window["actions"].get("notify_receivers", []), now, "resolved", lms)

    def report(self, window: Mapping[str, Any], lms: Sequence[str],
               report: Mapping[str, Any], now: float) -> None:
        # "firing" when something got worse: it asks for attention like an alert does.
        status = "firing" if report["outcome"] == "worse" else "resolved"
        self._send(window, "report", "report", self._render("report", report),
                   window["actions"].get("report_receivers", []), now, status, lms)

    def _render(self, kind: str, context: Mapping[str, Any]) -> dict[str, str]:
        try:
            return self.renderer.render(kind, context)
        except ReportTemplateError as exc:
            self.log.error("maintenance template failed, using the built-in one: %s", exc)
            return ReportRenderer().render(kind, context)

    def _send(self, window: Mapping[str, Any], what: str, reason: str,
              rendered: Mapping[str, str], wanted: Sequence[str], now: float, status: str,
              lms: Sequence[str]) -> None:
        known = list(self.receivers())
        targets = [r for r in wanted if r in known] if wanted else known
        for missing in [r for r in wanted if r not in known]:
            self.log.warning("maintenance window %s: receiver %r is not configured",
                             window["uid"], missing)
        occurrence = f"{window['uid']}:{int(window['start'])}:{what}"
        labels = {"window": str(window["uid"]), "window_name": str(window["name"])}
        if len(lms) == 1:
            labels["lms"] = lms[0]
        if self.enqueue_message is not None:
            self.enqueue_message(reason, rendered["title"], rendered["text"], rendered["html"],
                                 receivers=targets if wanted else None, labels=labels,
                                 now=now, status=status, key=occurrence)
            return
        key = f"maintenance:{occurrence}"
        links = {"status_page": f"{self.base_url}/"} if self.base_url else {}
        for receiver in targets:
            payload = {"version": 1, "receiver": receiver, "route": "maintenance",
                       "reason": reason, "status": status,
                       "group_key": f"maintenance:{window['uid']}", "group_labels": labels,
                       "common_labels": labels, "dedup_key": key, "escalation_level": 0,
                       "alerts": [], "links": links, **rendered}
            self.store.enqueue(key, receiver, payload, now)
        if targets and self.wake is not None:
            self.wake()
