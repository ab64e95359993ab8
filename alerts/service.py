"""The alerting glue the daemon calls after every stored check result.

Sits between the state store (``record_result`` returns a ``CheckState``) and the
outbox dispatcher: loads the alert, asks the pure engine for a decision, builds one
notification per receiver and saves alert, transition and notifications in one
transaction, then wakes the dispatcher. No network I/O here: delivery is the
dispatcher's job, so a slow receiver never delays a check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from alerts.config import AlertingConfig
from alerts.engine import (
    Decision,
    ThresholdOverrides,
    Thresholds,
    evaluate,
    fingerprint,
    resolve_thresholds,
)
from alerts.messages import Renderer, TemplateRenderError, build_notification
from monitor.store import AlertRecord, CheckState, StateStore


class AlertService:
    def __init__(
        self,
        store: StateStore,
        config: AlertingConfig,
        *,
        renderer: Renderer | None = None,
        wake: Callable[[], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.renderer = renderer or Renderer(config.templates_dir)
        self.wake = wake
        self.logger = logger or logging.getLogger("vigil.alerts")
        self.defaults = Thresholds(
            failure=config.failure_threshold,
            success=config.success_threshold,
            unknown_is_failure=config.unknown_is_failure,
        )
        self._fallback: Renderer | None = None

    def on_state(
        self,
        state: CheckState,
        spec_thresholds: ThresholdOverrides | None,
        now: float,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> str | None:
        """Evaluate one new check state; return "firing", "resolved" or None.

        ``spec_thresholds`` is the check's spec (its failure/success_threshold override
        the [alerts] defaults); ``labels`` are the target's and check's merged labels.
        """
        previous = self.store.get_alert(fingerprint(state.lms, state.check))
        thresholds = resolve_thresholds(self.defaults, spec_thresholds)
        decision = evaluate(previous, state, thresholds, now, labels)
        if not decision.changed:
            return None
        notifications = self.notifications(decision, state) if decision.transition else []
        self.store.save_alert(decision.alert, decision.transition, now, notifications)
        if decision.transition:
            self.logger.info(
                "alert %s for %s/%s (transition %d, %d notification(s) queued)",
                decision.transition, state.lms, state.check, decision.alert.transition,
                len(notifications),
            )
        if notifications and self.wake is not None:
            self.wake()
        return decision.transition

    def notifications(
        self, decision: Decision, state: CheckState
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(dedup_key, receiver, payload) for every receiver that wants this transition."""
        payload = build_notification(decision, state, base_url=self.config.base_url)
        payload.update(self._render(payload))
        key = payload["dedup_key"]
        return [
            (key, spec.name, payload)
            for spec in self.config.receivers
            if decision.transition != "resolved" or self.config.sends_resolved(spec)
        ]

    def firing(self) -> list[AlertRecord]:
        """Alerts firing now, oldest first (for the API and the status page)."""
        return self.store.firing_alerts()

    def _render(self, payload: dict[str, Any]) -> dict[str, str]:
        try:
            return self.renderer.render(payload)
        except TemplateRenderError as exc:
            # A broken admin template must not lose the page: send the built-in wording.
            self.logger.error("alert template failed, using the built-in one: %s", exc)
            if self._fallback is None:
                self._fallback = Renderer()
            return self._fallback.render(payload)
