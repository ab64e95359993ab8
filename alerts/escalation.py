"""Time-based escalation: tell the next level when a firing alert stays unacknowledged.

Part of the router (alerts/router.py calls ``notified`` when a flush first tells
someone of a problem and ``step`` on every pass). The clock starts at that first
notification, not at the failure, so alerts notified together in one group escalate
together as one notification per receiver, not fifty. A level is sent once; an
acknowledgement stops the climb; a new firing starts again at level 0. Escalations
ignore the routes' time intervals on purpose (an unanswered page must reach someone)
but wait while a maintenance window covers the alert.

Pacing: level k is due ``after[k]`` from the first notification AND at least
``after[k] - after[k-1]`` after level k-1 was sent, so after a daemon downtime the
levels still go out one step apart instead of all within seconds. A level that falls
due while a window covers the alert restarts its wait at the window's end (the clock
does not run during maintenance); for a window without a planned end the wait restarts
whenever it is found still covered, so the level follows at most one wait after it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from alerts import router_store as rs
from alerts.router_store import Event, Group
from alerts.routing import EscalationPolicy

if TYPE_CHECKING:
    from alerts.router import Router


class Escalations:
    def __init__(self, router: Router, policies: Iterable[EscalationPolicy]) -> None:
        self.router = router
        self.policies = list(policies)

    def policy_for(self, event: Event) -> EscalationPolicy | None:
        return next((p for p in self.policies if p.matches(event.labels)), None)

    def notified(self, db: Any, alerts: Iterable[Event], now: float) -> None:
        """Start (or keep) the escalation clock of each firing alert just notified."""
        if not self.policies:
            return
        for event in alerts:
            if not event.firing:
                continue
            db.execute(
                "INSERT INTO notification_escalations (fingerprint, transition, event_id,"
                " first_notified_at) VALUES (?,?,?,?) ON CONFLICT (fingerprint) DO UPDATE SET"
                " event_id = excluded.event_id, first_notified_at = CASE WHEN transition ="
                " excluded.transition THEN first_notified_at ELSE excluded.first_notified_at"
                " END, level = CASE WHEN transition = excluded.transition THEN level ELSE 0 END,"
                " escalated_at = CASE WHEN transition = excluded.transition THEN escalated_at"
                " END, transition = excluded.transition",
                (event.fingerprint, event.transition, event.id, now),
            )

    def step(self, now: float) -> int:
        if not self.policies:
            return 0
        db = self.router.store.db
        rows = db.execute(
            "SELECT e.fingerprint, e.transition, e.event_id, e.first_notified_at, e.level,"
            " e.escalated_at, a.state, a.flapping, a.transition AS current, a.ack_at"
            " FROM notification_escalations e"
            " LEFT JOIN alerts a USING (fingerprint)").fetchall()
        found = rs.events(db, [row["event_id"] for row in rows])
        ended: list[str] = []
        due: dict[tuple[str, int], list[Event]] = {}
        restart: list[tuple[float, str]] = []
        for row in rows:
            event = found.get(row["event_id"])
            # A flapping alert is a problem receivers were told of (alerts/snapshot.py),
            # so it climbs like a firing one.
            problem = row["state"] == "firing" or bool(row["flapping"])
            if not problem or row["current"] != row["transition"] or event is None:
                ended.append(row["fingerprint"])
                continue
            policy = self.policy_for(event)
            if row["ack_at"] is not None or policy is None or row["level"] >= len(policy.levels):
                continue
            level = row["level"] + 1
            since = row["escalated_at"] if row["level"] and row["escalated_at"] else (
                row["first_notified_at"])
            if since > now and event.at > now:
                # The alert fired "in the future": the clock was stepped back. Restart this
                # level's wait from now (once) rather than wait as long as the clock jumped.
                # (``since`` alone is no sign: a window's restart sets it ahead on purpose.)
                restart.append((now - since, row["fingerprint"]))
                continue
            if now < _due_at(policy, row):
                continue
            window = self.router.covered_by(event.labels, now)
            if window is not None:
                # Restart this level's wait at the window's end (or now, if open-ended).
                end = getattr(window, "end", None)
                since = row["escalated_at"] if row["level"] and row["escalated_at"] else (
                    row["first_notified_at"])
                resume = end if end is not None and end > now else now
                restart.append((resume - since, row["fingerprint"]))
                continue
            due.setdefault((policy.name, level), []).append(event)
        if not (ended or due or restart):
            return 0  # nothing to write: do not take the write lock on an idle tick
        queued = 0
        with self.router.store.transaction() as tx:
            tx.executemany("DELETE FROM notification_escalations WHERE fingerprint = ?",
                           [(fp,) for fp in ended])
            # Shifting both times keeps the pacing rule of _due_at, counted from ``resume``.
            tx.executemany("UPDATE notification_escalations SET first_notified_at ="
                           " first_notified_at + ?1, escalated_at = escalated_at + ?1"
                           " WHERE fingerprint = ?2", restart)
            for (name, level), events in due.items():
                policy = next(p for p in self.policies if p.name == name)
                queued += self._escalate(tx, policy, level, events, now)
        return queued

    def _escalate(self, db: Any, policy: EscalationPolicy, level: int, events: list[Event],
                  now: float) -> int:
        common = dict(set.intersection(*(set(e.labels.items()) for e in events)))
        queued = 0
        for receiver in policy.levels[level - 1].receivers:
            group = Group(f"escalation:{policy.name}:{level}", receiver,
                          f"escalation:{policy.name}", common, now, None, 0, 0)
            queued += self.router._queue(db, group, "escalation", events, now, seq=level,
                                         level=level)
            for event in events:
                rs.log_told(db, event, receiver, now)
        db.executemany(
            "UPDATE notification_escalations SET level = ?, escalated_at = ? WHERE fingerprint = ?",
            [(level, now, event.fingerprint) for event in events],
        )
        self.router.logger.warning(
            "escalating %d unacknowledged alert(s) to level %d of policy %r", len(events),
            level, policy.name)
        return queued


def _due_at(policy: EscalationPolicy, row: Any) -> float:
    """When the next level (``row["level"]`` levels sent so far) is due: its ``after``
    from the first notification, and one step (the difference of the two levels'
    ``after``) after the previous level was sent."""
    sent = row["level"]
    due: float = row["first_notified_at"] + policy.levels[sent].after
    if sent and row["escalated_at"] is not None:
        step = policy.levels[sent].after - policy.levels[sent - 1].after
        due = max(due, row["escalated_at"] + step)
    return due
