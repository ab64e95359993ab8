"""Who hears of each new check state: the protocol between the runner and its listeners.

The runner (monitor/app/runner.py) stores a result and hands the new ``CheckState`` to a
``StateListener`` (alerting's AlertService, the evaluator); a listener that knows when a
soft failure wants a faster re-check is also a ``RetryAdvisor``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from monitor.kernel.spec import CheckSpec
from monitor.state.store import CheckState


class StateListener(Protocol):
    def on_state(
        self, state: CheckState, spec: CheckSpec, now: float, *, labels: dict[str, str]
    ) -> Any: ...


@runtime_checkable
class RetryAdvisor(Protocol):
    """A listener that knows when a soft failure wants a faster re-check (AlertService)."""

    def retry_delay(self, state: CheckState, spec: CheckSpec) -> float | None: ...
