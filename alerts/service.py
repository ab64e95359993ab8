"""The alerting glue the daemon calls after every stored check result, and every few seconds.

Sits between the state store (``record_result`` returns a ``CheckState``) and the router:
loads the alert, reads the policy's inputs from the store (history for flapping, the
exams check for the severity context, parents' states for dependencies), asks the pure
engine (alerts/engine.py ``step``) what happened, and saves the alert with its event rows
(route_state 'pending' or 'held:dependency:<lms>/<check>', alerts/holds.py; payload =
alert snapshot) in one transaction. The router (alerts/router.py) turns pending events
into outbox rows.
No network I/O here, so a slow receiver never delays a check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from alerts import acks
from alerts.config import AlertingConfig
from alerts.engine import (
    FIRING,
    RESOLVED,
    Judgement,
    Step,
    ThresholdOverrides,
    Thresholds,
    fingerprint,
    resolve_thresholds,
    soft_failing,
    step,
)
from alerts.holds import SUPPRESSED_DEPENDENCY, DependencyHolds, held_rows_to
from alerts.messages import Renderer
from alerts.policy import (
    EXAM_ATTEMPTS_SAMPLE,
    Parent,
    SeverityFacts,
    is_flapping,
    judge_severity,
    parents_of,
)
from alerts.snapshot import build_snapshot
from alerts.store import AlertChanged, AlertEvent, AlertingState, AlertRecord
from monitor.kernel.result import Result, Status
from monitor.state.store import CheckState

RETIRED_SUMMARY = "check removed from the configuration"


class AlertService:
    def __init__(
        self,
        store: AlertingState,
        config: AlertingConfig,
        *,
        renderer: Renderer | None = None,
        wake: Callable[[], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.renderer = renderer or Renderer(config.templates_dir)
        self.wake = wake  # called when events wait for the router
        self.logger = logger or logging.getLogger("vigil.alerts")
        self.defaults = _defaults(config)
        self.holds = DependencyHolds(store, self.logger,
                                     lambda: self._wake([], released=True))

    def reconfigure(self, config: AlertingConfig, renderer: Renderer | None = None) -> None:
        """Apply a reloaded [alerts] config in place (the daemon's SIGHUP).

        Keeps the parents map and the wake: a new service would start with no parents
        known, and a parent recovering after the reload would not release its held
        children until each child's own next result.
        """
        renderer = renderer or Renderer(config.templates_dir)  # may fail: before any change
        self.config = config
        self.renderer = renderer
        self.defaults = _defaults(config)

    # -- check results ----------------------------------------------------------
    def on_state(
        self,
        state: CheckState,
        spec: ThresholdOverrides | None,
        now: float,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> str | None:
        """Evaluate one new check state; return "firing", "resolved" or None.

        ``spec`` is the check's spec (thresholds, ``depends_on``); ``labels`` are the
        target's and check's merged labels.
        """
        fp = fingerprint(state.lms, state.check)
        thresholds = resolve_thresholds(self.defaults, spec)
        parents = parents_of(state.lms, state.check, state.check_type,
                             getattr(spec, "depends_on", None) or (),
                             self._siblings(state), self.config.dependencies)
        self.holds.parents[(state.lms, state.check)] = parents
        for attempt in (1, 2):
            previous = self.store.get_alert(fp)
            judgement = self.judge(state, previous, labels or {}, parents, now)
            result = step(previous, state, thresholds, judgement, now, labels)
            if not result.changed:
                break
            try:
                self._save(result, state, now)
                break
            except AlertChanged:
                # An ack from the CLI landed between our read and write: decide again.
                if attempt == 2:
                    raise
        self.holds.release_children(state.lms, state.check, now)
        return result.decision.transition

    def judge(
        self, state: CheckState, previous: AlertRecord | None, labels: Mapping[str, str],
        parents: Sequence[Parent], now: float,
    ) -> Judgement:
        """Read the policy's inputs from the store and ask the pure policy functions."""
        facts = SeverityFacts(
            state.lms, state.check, state.check_type, state.result.status,
            {**labels, "lms": state.lms, "check": state.check, "check_type": state.check_type},
            self._exam_attempts(state.lms, now) if state.result.status != Status.OK else None,
        )
        severity = judge_severity(facts, self.config.severity_rules, self.config.exam_signal)
        settings = self.config.flapping
        history = [status for _, status, _ in
                   self.store.history(state.lms, state.check, limit=settings.window)]
        was_flapping = previous.flapping if previous else False
        flapping = is_flapping(was_flapping, history, settings)
        announced = None
        if was_flapping and not flapping:
            last = self.store.last_event(fingerprint(state.lms, state.check),
                                         ("firing", "resolved"))
            announced = last.kind if last else None
        # Holds matter only for an alert that fires or flaps; skip the look-ups otherwise.
        busy = state.result.status != Status.OK or (
            previous is not None and (previous.state == FIRING or previous.flapping))
        held = self.holds.hold(state.lms, state.check, parents) if busy else None
        return Judgement(severity, flapping, held, announced)

    def retry_delay(self, state: CheckState, spec: ThresholdOverrides | None) -> float | None:
        """The check's retry_interval while it fails softly (not firing yet), else None."""
        interval = getattr(spec, "retry_interval", None)
        if interval is None and self.config.soft_retry_ratio:
            # Icinga's habit (retry 1m for a 5m check): confirm a problem faster than
            # the normal interval, so a hard state costs seconds, not whole intervals.
            interval = float(getattr(spec, "interval", 0.0)) * self.config.soft_retry_ratio
        if not interval:
            return None
        alert = self.store.get_alert(fingerprint(state.lms, state.check))
        thresholds = resolve_thresholds(self.defaults, spec)
        return float(interval) if soft_failing(alert, state, thresholds) else None

    # -- checks removed from the configuration ---------------------------------
    def retire(self, lms: str, check: str, now: float) -> bool:
        """Resolve the alert of a check that is no longer configured; True if it wrote.

        Nothing judges that check again, so a firing (or flapping, or held) alert would
        fire for good: reminders, escalations and Alertmanager refreshes forever, never a
        resolved. The resolved goes through the normal save path, so the router tells
        whoever got the firing (and a firing that was held and never told stays untold).
        """
        self.holds.parents.pop((lms, check), None)
        stored = self.store.get_state(lms, check)
        fp = fingerprint(lms, check)
        for attempt in (1, 2):
            previous = self.store.get_alert(fp)
            if previous is None or not (previous.state == FIRING or previous.flapping
                                        or previous.held):
                return False
            check_type = (stored.check_type if stored
                          else str(previous.labels.get("check_type", "")))
            # A synthetic OK result: resolves at once, whatever the check's thresholds.
            state = CheckState(lms, check, check_type, Result(Status.OK, RETIRED_SUMMARY),
                               now, 0.0, 1, 0, now)
            announced = None
            if previous.flapping:
                last = self.store.last_event(fp, ("firing", "resolved"))
                announced = last.kind if last else None
            result = step(previous, state, Thresholds(failure=1, success=1),
                          Judgement(previous.severity, False, None, announced), now)
            alert = replace(result.alert, summary=RETIRED_SUMMARY)
            result = replace(result, decision=replace(result.decision, alert=alert))
            try:
                self._save(result, state, now)
                return True
            except AlertChanged:
                # An ack from the CLI landed between our read and write: decide again.
                if attempt == 2:
                    raise
        return False

    # -- every few seconds ------------------------------------------------------
    def tick(self, now: float) -> int:
        """Time-driven work: expired acks, holds whose parent recovered. Returns events."""
        written = len(acks.expire(self, now))
        for alert in self.store.alerts_held_by():
            written += self.holds.rehold(alert, now)
        return written

    # -- acknowledgements (alerts/acks.py) --------------------------------------
    def ack(self, fingerprint: str, by: str, comment: str = "", *, sticky: bool = True,
            expires_at: float | None = None, now: float) -> AlertRecord:
        return acks.ack(self, fingerprint, by, comment, sticky=sticky,
                        expires_at=expires_at, now=now)

    def unack(self, fingerprint: str, by: str, *, now: float) -> AlertRecord:
        return acks.unack(self, fingerprint, by, now=now)

    def write_event(
        self, alert: AlertRecord, kind: str, now: float, *, summary: str,
        expected: AlertRecord | None,
    ) -> None:
        """Save ``alert`` with one event not caused by a check result (ack, expiry);
        ``expected`` is the record it was derived from (AlertChanged if it moved)."""
        state = self.store.get_state(alert.lms, alert.check)
        event = self._event(kind, alert, now, state, None, summary=summary)
        self.store.save_alert(alert, [event], now, expected=expected)
        self.logger.info("alert %s for %s/%s", kind, alert.lms, alert.check)
        self._wake([event])

    def firing(self) -> list[AlertRecord]:
        """Alerts firing now, oldest first (for the API and the status page)."""
        return self.store.firing_alerts()

    # -- internals --------------------------------------------------------------
    def _save(self, result: Step, state: CheckState, now: float) -> None:
        previous, alert = result.decision.previous, result.alert
        firing_held = False
        if RESOLVED in result.events:
            last_firing = self.store.last_event(alert.fingerprint, ("firing",))
            firing_held = last_firing is not None and last_firing.route_state.startswith("held:")
        events = []
        for kind in result.events:
            route = None
            if kind == RESOLVED and firing_held:
                # Nobody was told about the firing, so nobody needs the resolved.
                route = SUPPRESSED_DEPENDENCY
            elif kind == RESOLVED:
                route = "pending"
            problem = previous if kind == RESOLVED else None
            events.append(self._event(kind, alert, now, state, problem, route=route))
        moved = held_rows_to(previous, alert)
        self.store.save_alert(alert, events, now, held_rows_to=moved, expected=previous)
        for event in events:
            self.logger.info("alert %s for %s/%s (transition %d, %s)", event.kind, alert.lms,
                             alert.check, alert.transition, event.route_state)
        self._wake(events, released=moved == "pending")

    def _event(
        self, kind: str, alert: AlertRecord, now: float, state: CheckState | None,
        problem: AlertRecord | None, *, route: str | None = None, summary: str | None = None,
    ) -> AlertEvent:
        check_type = state.check_type if state else str(alert.labels.get("check_type", ""))
        payload = build_snapshot(
            kind, alert, now, check_type=check_type, state=state, problem=problem,
            renderer=self.renderer, base_url=self.config.base_url,
            grafana_url=self.config.grafana_url)
        if route is None:
            route = f"held:{alert.held}" if alert.held else "pending"
        return AlertEvent(kind, summary or alert.summary, alert.severity, route, payload)

    def _wake(self, events: Sequence[AlertEvent], *, released: bool = False) -> None:
        if self.wake is not None and (released or any(e.route_state == "pending"
                                                      for e in events)):
            self.wake()

    def _siblings(self, state: CheckState) -> dict[str, str]:
        if not (self.config.dependencies.moodle_defaults
                and state.check_type.startswith("moodle_")):
            return {}
        return self.store.check_types(state.lms)

    def _exam_attempts(self, lms: str, now: float) -> float | None:
        """Attempts in progress by the LMS's exams check, if its result is fresh."""
        signal = self.config.exam_signal
        exams = self.store.latest_of_type(lms, signal.exams_check_type)
        if exams is None or now - exams.ran_at > signal.max_age:
            return None
        values = [s.value for s in exams.result.samples if s.name == EXAM_ATTEMPTS_SAMPLE]
        return float(values[0]) if values else None


def _defaults(config: AlertingConfig) -> Thresholds:
    return Thresholds(failure=config.failure_threshold, success=config.success_threshold,
                      unknown_is_failure=config.unknown_is_failure)

