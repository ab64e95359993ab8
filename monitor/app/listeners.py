"""Fan-out of new check states to several runner listeners.

The runner (monitor/app/runner.py) hands each stored state to one ``listener``; the
daemon gives it a ``FanOut`` of the history recorder (alerts/history.py) and the
alert service. Each listener is called in order and on its own: one that raises is
logged and the others still run, so a full history table never silences an alert.
It also answers the runner's soft-retry question (``RetryAdvisor``) for its members.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.kernel.spec import CheckSpec
from monitor.state.listener import RetryAdvisor, StateListener
from monitor.state.store import CheckState

log = logging.getLogger(__name__)


class FanOut:
    def __init__(self, listeners: Sequence[StateListener]) -> None:
        self.listeners = tuple(listeners)
        # Checked once here: isinstance on a runtime-checkable Protocol is slow per result.
        self.advisors = tuple(x for x in self.listeners if isinstance(x, RetryAdvisor))

    def on_state(
        self, state: CheckState, spec: CheckSpec, now: float, *, labels: Mapping[str, str]
    ) -> list[Any]:
        """Call every listener; return their results (None for one that raised)."""
        results: list[Any] = []
        for listener in self.listeners:
            try:
                results.append(listener.on_state(state, spec, now, labels=dict(labels)))
            except Exception:
                log.exception("listener %s failed on %s/%s", type(listener).__name__,
                              state.lms, state.check)
                results.append(None)
        return results

    def retry_delay(self, state: CheckState, spec: CheckSpec) -> float | None:
        """The soonest re-check any member asks for (the alert service's retry_interval)."""
        delays = []
        for listener in self.advisors:
            try:
                delay = listener.retry_delay(state, spec)
            except Exception:
                log.exception("listener %s failed to advise a retry for %s/%s",
                              type(listener).__name__, state.lms, state.check)
                continue
            if delay:
                delays.append(delay)
        return min(delays, default=None)
