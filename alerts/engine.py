"""The alert state machine: check state in, alert record and transition out.

Sits between the state store (which keeps each check's result and its consecutive
OK/failure counters) and the outbox. Pure: no I/O and no clock; the caller passes
``now``. Soft/hard hysteresis follows Nagios and Gatus: ``failure`` consecutive
failing results turn a soft problem into a hard, firing alert; while firing,
``success`` consecutive OK results resolve it. Each flip increments
``AlertRecord.transition``; a notification's dedup key is ``fingerprint:transition``.

``step`` adds the policy on top of ``evaluate``: given the severity, flapping and hold
the service judged (alerts/policy.py), it says which events (firing, resolved,
flapping, flapping_end, severity, unacknowledged) one result produces, and updates the
record's severity, flapping flag, hold and acknowledgement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from alerts.policy import severity_rank
from alerts.store import AlertRecord
from monitor.kernel.result import Status
from monitor.state.store import CheckState

Transition = Literal["firing", "resolved"]
FIRING: Transition = "firing"
RESOLVED: Transition = "resolved"
OK = "ok"  # AlertRecord.state of an alert that is not firing


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The effective hysteresis for one check (check override, else [alerts] defaults)."""

    failure: int = 3
    success: int = 2
    unknown_is_failure: bool = True


class ThresholdOverrides(Protocol):
    """What a check spec may override; ``monitor.kernel.spec.CheckSpec`` satisfies this."""

    @property
    def failure_threshold(self) -> int | None: ...

    @property
    def success_threshold(self) -> int | None: ...

    @property
    def retry_interval(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    previous: AlertRecord | None
    alert: AlertRecord
    transition: Transition | None

    @property
    def changed(self) -> bool:
        """Whether the record must be written; soft results of a quiet check write nothing."""
        if self.previous is None:
            return self.transition is not None
        return self.alert != self.previous

    @property
    def dedup_key(self) -> str | None:
        return dedup_key(self.alert) if self.transition else None


def fingerprint(lms: str, check: str) -> str:
    """Stable id of the alert for (lms, check): 16 hex digits, like Alertmanager's."""
    # A NUL separator cannot occur in config names, so ("a:b", "c") != ("a", "b:c").
    digest = hashlib.sha256(f"{lms}\0{check}".encode()).hexdigest()
    return digest[:16]


def dedup_key(alert: AlertRecord) -> str:
    return f"{alert.fingerprint}:{alert.transition}"


def resolve_thresholds(
    defaults: Thresholds, overrides: ThresholdOverrides | None
) -> Thresholds:
    if overrides is None or not (overrides.failure_threshold or overrides.success_threshold):
        return defaults
    return replace(
        defaults,
        failure=overrides.failure_threshold or defaults.failure,
        success=overrides.success_threshold or defaults.success,
    )


def evaluate(
    previous: AlertRecord | None,
    state: CheckState,
    thresholds: Thresholds,
    now: float,
    labels: Mapping[str, str] | None = None,
) -> Decision:
    """Decide the alert after one new check result."""
    alert = previous or _quiet(state)
    if labels is not None:
        alert = replace(alert, labels=dict(labels))
    status = state.result.status
    if status == Status.UNKNOWN and not thresholds.unknown_is_failure:
        # "Could not tell" is neither a failure nor a recovery: hold the current state.
        return Decision(previous, alert, None)
    failing = status != Status.OK
    if alert.state != FIRING:
        if failing and state.consecutive_fail >= thresholds.failure:
            return Decision(previous, _fire(alert, state, now), FIRING)
        return Decision(previous, alert, None)
    if not failing:
        if state.consecutive_ok >= thresholds.success:
            return Decision(previous, _resolve(alert, state, now), RESOLVED)
        # A soft OK while firing keeps the record about the problem, not the blip.
        return Decision(previous, alert, None)
    # Still failing. A WARNING -> CRITICAL change updates the record without a new
    # transition: receivers are not re-paged on severity changes (yet; escalation
    # and re-notification belong to the router, a later layer).
    return Decision(previous, replace(alert, status=status, summary=state.result.summary), None)


def _quiet(state: CheckState) -> AlertRecord:
    return AlertRecord(
        fingerprint=fingerprint(state.lms, state.check), lms=state.lms, check=state.check,
        state=OK, status=Status.OK, summary="", labels={}, started_at=None,
        resolved_at=None, transition=0,
    )


def _fire(alert: AlertRecord, state: CheckState, now: float) -> AlertRecord:
    return replace(
        alert, state=FIRING, status=state.result.status, summary=state.result.summary,
        started_at=now, resolved_at=None, transition=alert.transition + 1,
    )


def _resolve(alert: AlertRecord, state: CheckState, now: float) -> AlertRecord:
    # started_at stays so the resolved notification can say how long the outage lasted.
    return replace(
        alert, state=OK, status=Status.OK, summary=state.result.summary,
        resolved_at=now, transition=alert.transition + 1,
    )


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the policy decided about one result (alerts/policy.py, read by the service)."""

    severity: str = "warning"
    flapping: bool = False
    held: str | None = None  # e.g. "dependency:moodle/http": a parent is down
    # Kind of the last firing/resolved event written for this alert (None: never).
    announced: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    decision: Decision
    events: tuple[str, ...]

    @property
    def alert(self) -> AlertRecord:
        return self.decision.alert

    @property
    def changed(self) -> bool:
        previous = self.decision.previous
        return bool(self.events) or (previous is not None and self.alert != previous) or (
            previous is None and (self.alert.flapping or self.decision.transition is not None))


def step(
    previous: AlertRecord | None,
    state: CheckState,
    thresholds: Thresholds,
    judgement: Judgement,
    now: float,
    labels: Mapping[str, str] | None = None,
) -> Step:
    """Soft/hard, then acknowledgement, severity, flapping and hold, for one result."""
    decision = evaluate(previous, state, thresholds, now, labels)
    transition = decision.transition
    alert, events = _ack_lifetime(previous, decision.alert, transition)
    counted = state.result.status != Status.UNKNOWN or thresholds.unknown_is_failure
    if counted and state.result.status != Status.OK:
        alert, raised = _severity(alert, transition, judgement.severity)
        events += raised
    events += _flapping_events(previous, alert, transition, judgement)
    if judgement.flapping:
        events = [e for e in events if e != "severity"]  # one flapping event, no storm
    held = judgement.held if (alert.state == FIRING or judgement.flapping) else None
    alert = replace(alert, flapping=judgement.flapping, held=held)
    return Step(Decision(previous, alert, transition), tuple(events))


def _ack_lifetime(
    previous: AlertRecord | None, alert: AlertRecord, transition: Transition | None
) -> tuple[AlertRecord, list[str]]:
    """Sticky acks end when the alert resolves; non-sticky ones at any status change."""
    if not alert.acknowledged:
        return alert, []
    if transition == RESOLVED:
        return _without_ack(alert), []  # the resolved event itself says it is over
    if (not alert.ack_sticky and previous is not None and previous.status != alert.status
            and alert.state == FIRING):
        return _without_ack(alert), ["unacknowledged"]
    return alert, []


def _severity(
    alert: AlertRecord, transition: Transition | None, severity: str
) -> tuple[AlertRecord, list[str]]:
    if transition == FIRING or alert.state != FIRING:
        return replace(alert, severity=severity), []
    if severity_rank(severity) > severity_rank(alert.severity):
        # While firing severity only rises: CRITICAL -> WARNING -> CRITICAL is one
        # incident at its worst, not a new raise each time.
        return replace(alert, severity=severity), ["severity"]
    return alert, []


def _flapping_events(
    previous: AlertRecord | None, alert: AlertRecord, transition: Transition | None,
    judgement: Judgement,
) -> list[str]:
    was_flapping = previous.flapping if previous else False
    if judgement.flapping and not was_flapping:
        return ["flapping"]
    if was_flapping and not judgement.flapping:
        # Transitions were silent while flapping: announce where the alert ended up.
        current = FIRING if alert.state == FIRING else RESOLVED
        return ["flapping_end"] + ([current] if current != (judgement.announced or RESOLVED)
                                   else [])
    if transition is not None and not judgement.flapping:
        return [transition]
    return []


def _without_ack(alert: AlertRecord) -> AlertRecord:
    return replace(alert, ack_by=None, ack_comment=None, ack_at=None, ack_sticky=True,
                   ack_expires_at=None)


def soft_failing(alert: AlertRecord | None, state: CheckState, thresholds: Thresholds) -> bool:
    """A counted failure whose alert does not fire yet: worth a faster re-check."""
    status = state.result.status
    if status == Status.OK or (status == Status.UNKNOWN and not thresholds.unknown_is_failure):
        return False
    return alert is None or alert.state != FIRING
