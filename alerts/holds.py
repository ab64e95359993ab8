"""Dependency holds: a child check's alert waits while its parent check is down.

Part of AlertService (alerts/service.py): ``hold`` is one of the policy inputs read for
each new check state (the parents come from alerts/policy.py ``parents_of``); when a
parent recovers, ``release_children`` re-evaluates the alerts it held, and the service's
tick does the same for every held alert. An alert's held event rows carry route_state
'held:dependency:<lms>/<check>'; when the hold ends they become 'pending' (the child
still fails: the router tells now) or 'suppressed:dependency' (nothing to tell).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from alerts.engine import FIRING, fingerprint
from alerts.policy import Parent
from alerts.store import AlertChanged, AlertingState, AlertRecord
from monitor.kernel.result import Status

HELD_DEPENDENCY = "dependency:"
SUPPRESSED_DEPENDENCY = "suppressed:dependency"


class DependencyHolds:
    def __init__(self, store: AlertingState, logger: logging.Logger,
                 on_release: Callable[[], None]) -> None:
        self.store = store
        self.logger = logger
        self.on_release = on_release  # held rows became pending: wake the router
        # Parents of each check seen since start, so a recovering parent can release its
        # children at once; a child not seen yet is released by its own next result.
        self.parents: dict[tuple[str, str], tuple[Parent, ...]] = {}

    def hold(self, lms: str, check: str, parents: Sequence[Parent]) -> str | None:
        """'dependency:<lms>/<check>' of the failing parent (or its own root cause)."""
        me = f"{lms}/{check}"
        for parent in parents:
            if not self._down(parent.lms, parent.check, parent.states):
                continue
            root = parent.key
            above = self.store.get_alert(fingerprint(parent.lms, parent.check))
            if above is not None and above.held and above.held.startswith(HELD_DEPENDENCY):
                upper = above.held.removeprefix(HELD_DEPENDENCY)
                upper_lms, _, upper_check = upper.partition("/")
                if self._down(upper_lms, upper_check, None):
                    root = upper
            if root == me:
                continue  # a cycle: this check is its parent's root cause, not its child
            return HELD_DEPENDENCY + root
        return None

    def _down(self, lms: str, check: str, states: frozenset[str] | None) -> bool:
        parent = self.store.get_state(lms, check)
        if parent is None or parent.result.status == Status.OK:
            return False
        return states is None or parent.result.status.name in states

    def release_children(self, lms: str, check: str, now: float) -> None:
        for child in self.store.alerts_held_by(f"{HELD_DEPENDENCY}{lms}/{check}"):
            self.rehold(child, now)

    def rehold(self, alert: AlertRecord, now: float) -> int:
        """Recompute a held alert's hold; move its held rows if it changed."""
        parents = self.parents.get((alert.lms, alert.check))
        if parents is None:
            return 0  # not seen since start: its own next result re-evaluates it
        held = self.hold(alert.lms, alert.check, parents)
        if held == alert.held:
            return 0
        updated = replace(alert, held=held)
        moved = held_rows_to(alert, updated)
        try:
            self.store.save_alert(updated, [], now, held_rows_to=moved, expected=alert)
        except AlertChanged:
            return 0  # another writer was quicker; the next tick looks again
        self.logger.info("alert %s/%s: hold %s -> %s", alert.lms, alert.check, alert.held,
                         held or "released")
        if moved == "pending":
            self.on_release()
        return 1


def held_rows_to(previous: AlertRecord | None, alert: AlertRecord) -> str | None:
    """Where this alert's earlier held event rows go now (None: leave them)."""
    if previous is None or not previous.held or previous.held == alert.held:
        return None
    if alert.held:
        return f"held:{alert.held}"
    if alert.state == FIRING or alert.flapping:
        return "pending"  # the parent recovered while the child still fails: tell now
    return SUPPRESSED_DEPENDENCY  # the child recovered first: nothing to tell
