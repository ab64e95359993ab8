"""The router's tables in the state file (migration entry 4 of monitor/app/store.py).

Only alerts/router.py uses this: reads of alert events (rows of alert_transitions
written by AlertService) and of the router's own bookkeeping. Writes happen inside
the router's transactions (``StateStore.transaction()``), never on their own, so a
crash leaves every event either pending, waiting in a group, or queued in the outbox.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Kinds that close or annotate a problem (sent only to receivers that were told of it);
# the others (firing, flapping, severity, unacknowledged, ack_expired) announce one and
# are routed by label matchers.
CLOSING = frozenset({"resolved", "acknowledged", "flapping_end"})


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    fingerprint: str
    transition: int
    kind: str
    at: float
    dedup_key: str
    snapshot: dict[str, Any]

    @property
    def firing(self) -> bool:
        """Whether the alert was firing after this event (acks keep it firing)."""
        return self.snapshot.get("status", "firing") != "resolved" and self.kind != "resolved"

    @property
    def labels(self) -> dict[str, str]:
        """Labels to route on: the snapshot's, completed with the alert's identity."""
        snap = self.snapshot
        labels = {str(k): str(v) for k, v in (snap.get("labels") or {}).items()}
        for key in ("lms", "check", "check_type", "severity"):
            if key not in labels and snap.get(key) is not None:
                labels[key] = str(snap[key])
        return labels


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    receiver: str
    route: str
    labels: dict[str, str]
    created_at: float
    last_flushed_at: float | None
    flushes: int
    reminders: int


@dataclass(frozen=True, slots=True)
class Member:
    """One alert (one firing instance of it) in a group, for one receiver."""

    fingerprint: str
    instance: int
    event_id: int
    notified_event_id: int | None

    @property
    def changed(self) -> bool:
        return self.event_id != self.notified_event_id


_EVENT_COLUMNS = "id, fingerprint, transition, kind, at, dedup_key, payload"


def _event(row: sqlite3.Row) -> Event:
    try:
        snapshot = json.loads(row["payload"] or "{}")
    except ValueError:
        snapshot = {}
    key = row["dedup_key"] or f"{row['fingerprint']}:{row['transition']}"
    return Event(row["id"], row["fingerprint"], row["transition"], row["kind"], row["at"], key,
                 snapshot if isinstance(snapshot, dict) else {})


def pending_events(db: sqlite3.Connection, limit: int = 500) -> list[Event]:
    rows = db.execute(f"SELECT {_EVENT_COLUMNS} FROM alert_transitions"
                      " WHERE route_state = 'pending' ORDER BY id LIMIT ?", (limit,))
    return [_event(row) for row in rows]


def events(db: sqlite3.Connection, ids: Iterable[int]) -> dict[int, Event]:
    wanted = sorted(set(ids))
    found: dict[int, Event] = {}
    for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM alert_transitions WHERE id IN ({marks})", chunk
        ):
            found[row["id"]] = _event(row)
    return found


def set_route_state(db: sqlite3.Connection, event_id: int, state: str) -> None:
    db.execute("UPDATE alert_transitions SET route_state = ? WHERE id = ?", (state, event_id))


# -- groups ---------------------------------------------------------------------------
def add_to_group(
    db: sqlite3.Connection, key: str, receiver: str, route: str, labels: Mapping[str, str],
    event: Event, now: float,
) -> None:
    """Put ``event`` in the group; a new group starts its group_wait at the event's time."""
    db.execute(
        "INSERT OR IGNORE INTO notification_groups (group_key, receiver, route, labels,"
        " created_at) VALUES (?,?,?,?,?)",
        (key, receiver, route, json.dumps(dict(labels), sort_keys=True), min(event.at, now)),
    )
    current = db.execute(
        "SELECT instance, event_id FROM notification_group_alerts WHERE group_key = ? AND"
        " receiver = ? AND fingerprint = ? ORDER BY instance DESC LIMIT 1",
        (key, receiver, event.fingerprint),
    ).fetchone()
    still_open = current is not None and events(db, [current["event_id"]]).get(
        current["event_id"], event).firing
    if current is not None and (still_open or event.kind in CLOSING):
        # The same problem goes on (or ends): the group shows its latest event.
        db.execute(
            "UPDATE notification_group_alerts SET event_id = MAX(event_id, ?) WHERE"
            " group_key = ? AND receiver = ? AND fingerprint = ? AND instance = ?",
            (event.id, key, receiver, event.fingerprint, current["instance"]),
        )
        return
    # A new problem; a resolved still waiting in this group keeps its own row.
    db.execute(
        "INSERT OR REPLACE INTO notification_group_alerts (group_key, receiver, fingerprint,"
        " instance, event_id) VALUES (?,?,?,?,?)",
        (key, receiver, event.fingerprint, event.transition, event.id),
    )


def groups(db: sqlite3.Connection) -> list[Group]:
    rows = db.execute("SELECT * FROM notification_groups ORDER BY created_at, group_key")
    return [Group(r["group_key"], r["receiver"], r["route"], json.loads(r["labels"]),
                  r["created_at"], r["last_flushed_at"], r["flushes"], r["reminders"])
            for r in rows]


def members(db: sqlite3.Connection, group: Group) -> list[Member]:
    rows = db.execute(
        "SELECT fingerprint, instance, event_id, notified_event_id FROM"
        " notification_group_alerts WHERE group_key = ? AND receiver = ? ORDER BY event_id",
        (group.key, group.receiver),
    )
    return [Member(r[0], r[1], r[2], r[3]) for r in rows]


def destinations_of(db: sqlite3.Connection, fingerprint: str) -> list[tuple[str, str, str, str]]:
    """(group_key, receiver, route, labels JSON) of every group holding the alert."""
    rows = db.execute(
        "SELECT DISTINCT g.group_key, g.receiver, g.route, g.labels FROM"
        " notification_group_alerts a JOIN notification_groups g USING (group_key, receiver)"
        " WHERE a.fingerprint = ?", (fingerprint,),
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def settle_members(db: sqlite3.Connection, group: Group, settled: dict[tuple[str, int], bool]
                   ) -> None:
    """After a flush: members are up to date; ended ones (value True) leave the group."""
    for (fingerprint, instance), ended in settled.items():
        where = "group_key = ? AND receiver = ? AND fingerprint = ? AND instance = ?"
        args = (group.key, group.receiver, fingerprint, instance)
        if ended:
            db.execute(f"DELETE FROM notification_group_alerts WHERE {where}", args)
        else:
            db.execute("UPDATE notification_group_alerts SET notified_event_id = event_id"
                       f" WHERE {where}", args)
    left = db.execute("SELECT COUNT(*) FROM notification_group_alerts WHERE group_key = ? AND"
                      " receiver = ?", (group.key, group.receiver)).fetchone()[0]
    if not left:
        db.execute("DELETE FROM notification_groups WHERE group_key = ? AND receiver = ?",
                   (group.key, group.receiver))


def mark_flushed(db: sqlite3.Connection, group: Group, now: float, *, reminder: bool) -> None:
    db.execute(
        "UPDATE notification_groups SET last_flushed_at = ?, flushes = flushes + ?,"
        " reminders = reminders + ? WHERE group_key = ? AND receiver = ?",
        (now, 0 if reminder else 1, 1 if reminder else 0, group.key, group.receiver),
    )


# -- what each receiver was told --------------------------------------------------------
def told_open(db: sqlite3.Connection, fingerprint: str) -> dict[str, int]:
    """Receivers told of a problem of this alert that they were not told has ended:
    receiver -> the transition they were told of."""
    rows = db.execute("SELECT receiver, fired_transition FROM notification_log"
                      " WHERE fingerprint = ? AND open = 1", (fingerprint,))
    return {r[0]: r[1] for r in rows}


def log_told(db: sqlite3.Connection, event: Event, receiver: str, now: float) -> None:
    db.execute(
        "INSERT INTO notification_log (fingerprint, receiver, fired_transition, open,"
        " last_kind, last_sent_at) VALUES (?,?,?,?,?,?) ON CONFLICT (fingerprint, receiver)"
        " DO UPDATE SET fired_transition = CASE WHEN excluded.open = 1 THEN"
        " excluded.fired_transition ELSE fired_transition END, open = excluded.open,"
        " last_kind = excluded.last_kind, last_sent_at = excluded.last_sent_at",
        (event.fingerprint, receiver, event.transition, int(event.firing), event.kind, now),
    )


def close_told(db: sqlite3.Connection, event: Event, receiver: str) -> None:
    # <=: a 'flapping_end' on an alert that never fired closes the flapping told at the
    # same transition.
    db.execute("UPDATE notification_log SET open = 0 WHERE fingerprint = ? AND receiver = ?"
               " AND fired_transition <= ?", (event.fingerprint, receiver, event.transition))


# -- live alert state (the alerts table is written by AlertService) ---------------------
@dataclass(frozen=True, slots=True)
class AlertNow:
    firing: bool
    transition: int
    acknowledged: bool


def alerts_now(db: sqlite3.Connection, fingerprints: Iterable[str]) -> dict[str, AlertNow]:
    found: dict[str, AlertNow] = {}
    for fingerprint in set(fingerprints):
        row = db.execute("SELECT state, transition, ack_at, flapping FROM alerts WHERE"
                         " fingerprint = ?", (fingerprint,)).fetchone()
        if row is not None:
            # A flapping alert is an open problem whatever its state (the engine writes no
            # firing/resolved events while it flaps): keep it listed and reminded.
            found[fingerprint] = AlertNow(row[0] == "firing" or bool(row[3]), row[1],
                                          row[2] is not None)
    return found
