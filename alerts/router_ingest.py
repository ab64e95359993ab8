"""Router stage 1, ingest: pending alert events into notification groups.

Part of the router (alerts/router.py calls ``step`` first on every pass). Each pending
row of alert_transitions is routed through the route tree (alerts/routing.py) into
notification groups per (route, group labels, receiver), in one transaction that also
marks it 'routed', or 'suppressed:maintenance:<uid>' while a maintenance window covers
it. Events held by a window are released when it ends if their alert still fires and
nobody acknowledged it. Resolved (and acknowledgement) news goes only where the problem
went and to receivers that were told of it. Flushing the groups is the router's job.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerts import router_store as rs
from alerts.router_store import CLOSING, Event
from alerts.routing import ROOT

if TYPE_CHECKING:
    from alerts.router import Router


class Ingest:
    def __init__(self, router: Router) -> None:
        self.router = router

    def step(self, now: float) -> None:
        """Release held events whose window ended, then route every pending event."""
        self._release_maintenance(now)
        while self._batch(now):
            pass

    def _batch(self, now: float) -> int:
        # Look before taking the write lock: an idle tick must not wait on another
        # process's transaction (busy_timeout) and stall the event loop.
        if not rs.pending_events(self.router.store.db, limit=1):
            return 0
        with self.router.store.transaction() as db:
            batch = rs.pending_events(db)
            for event in batch:
                rs.set_route_state(db, event.id, self._route_safely(db, event, now))
        return len(batch)

    def _route_safely(self, db: Any, event: Event, now: float) -> str:
        db.execute("SAVEPOINT route_event")
        try:
            state = self._route_event(db, event, now)
            db.execute("RELEASE route_event")
            return state
        except sqlite3.Error:
            raise  # the whole transaction rolls back; the events stay pending
        except Exception:
            # A bug or an odd snapshot must not block every later event, nor lose this
            # one: undo its half-done routing and send it to every receiver.
            db.execute("ROLLBACK TO route_event")
            db.execute("RELEASE route_event")
            self.router.logger.exception("routing alert event %s failed; sending it to every "
                                  "receiver", event.dedup_key)
            labels = self.router.root.group_labels(event.labels)
            for spec in self.router.config.receivers:
                rs.add_to_group(db, group_key(ROOT, labels), spec.name, ROOT, labels, event,
                                now)
            return "routed"

    def _route_event(self, db: Any, event: Event, now: float) -> str:
        labels = event.labels
        if event.firing and event.kind not in CLOSING:
            window = self.router.covered_by(labels, now)
            if window is not None:
                reason = f"maintenance:{getattr(window, 'uid', window)}"
                db.execute(
                    "INSERT OR REPLACE INTO notification_suppressed (event_id, fingerprint,"
                    " transition, reason, at, until) VALUES (?,?,?,?,?,?)",
                    (event.id, event.fingerprint, event.transition, reason, now,
                     getattr(window, "end", None)),
                )
                self.router.logger.info("alert event %s (%s) suppressed by %s",
                                 event.dedup_key, event.kind, reason)
                return f"suppressed:{reason}"
            for route in self.router.root.match(labels):
                group_labels = route.group_labels(labels)
                for receiver in self.router.receivers(route):
                    rs.add_to_group(db, group_key(route.id, group_labels), receiver, route.id,
                                    group_labels, event, now)
            return "routed"
        # News about a problem goes where the problem went, and to anyone told of it.
        reached: set[str] = set()
        for key, receiver, route_id, labels_json in rs.destinations_of(db, event.fingerprint):
            rs.add_to_group(db, key, receiver, route_id, json.loads(labels_json), event, now)
            reached.add(receiver)
        root_labels = self.router.root.group_labels(labels)
        for receiver in rs.told_open(db, event.fingerprint):
            if receiver not in reached:
                rs.add_to_group(db, group_key(ROOT, root_labels), receiver, ROOT, root_labels,
                                event, now)
        return "routed"

    def _release_maintenance(self, now: float) -> None:
        """Alerts still firing, unacknowledged, when their window ended notify now (their
        latest held event)."""
        rows = self.router.store.db.execute(
            "SELECT s.event_id, s.fingerprint, s.transition, s.until, a.state, a.ack_at,"
            " a.flapping, a.transition AS current FROM notification_suppressed s"
            " LEFT JOIN alerts a"
            " USING (fingerprint) WHERE s.released_at IS NULL ORDER BY s.event_id DESC"
        ).fetchall()
        found = rs.events(self.router.store.db, [row["event_id"] for row in rows])
        seen: set[str] = set()
        release: list[Event] = []
        settle: list[int] = []
        extend: list[tuple[float | None, int]] = []
        for row in rows:
            event = found.get(row["event_id"])
            latest = row["fingerprint"] not in seen
            seen.add(row["fingerprint"])
            # Still a problem: firing in the same instance, or flapping (its transitions
            # are silent, so the counter may have moved).
            open_ = row["flapping"] or (row["state"] == "firing"
                                        and row["current"] == row["transition"])
            if event is None or not latest or not open_:
                settle.append(row["event_id"])  # superseded, or the problem ended
            elif row["ack_at"] is not None:
                # Someone took it during the window: no page at its end. If the ack expires
                # or is removed, that event routes (or is suppressed) on its own.
                settle.append(row["event_id"])
            elif row["until"] is None or now >= row["until"]:
                # Asking the book is not free (recurrences): only when the window may be over.
                window = self.router.covered_by(event.labels, now)
                if window is None:
                    release.append(event)
                else:
                    extend.append((getattr(window, "end", None), event.id))
        if not (release or settle or extend):
            return
        with self.router.store.transaction() as db:
            for event in release:
                rs.set_route_state(db, event.id, "pending")
                self.router.logger.info("maintenance over, alert %s still firing: notifying",
                                 event.dedup_key)
            db.executemany("UPDATE notification_suppressed SET released_at = ? WHERE"
                           " event_id = ?", [(now, e.id) for e in release]
                           + [(now, event_id) for event_id in settle])
            db.executemany("UPDATE notification_suppressed SET until = ? WHERE event_id = ?",
                           extend)


def group_key(route_id: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f"{name}={json.dumps(value)}" for name, value in sorted(labels.items()))
    return f"{route_id}:{{{inner}}}"
