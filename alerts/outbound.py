"""The outbox payloads the router queues (the router -> notifiers contract, version 1).

Group notifications carry their alerts' snapshots; ready-made messages (maintenance
notices, reports, self-alerts) carry only text. Every payload has title, text and html.
The outbox is unique on (dedup_key, receiver), and the key is a digest of what the
notification says, so queuing the same content twice (after a crash, a retried
transaction, a second call) queues it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alerts.messages import notification_links
from alerts.router_store import Event


def notification_key(reason: str, group_key: str, seq: int, alert_keys: Sequence[str],
                     installation: str = "") -> str:
    # installation: StateStore.installation_id, so keys differ between state databases.
    digest = hashlib.sha256(
        json.dumps([installation, reason, group_key, seq, sorted(alert_keys)]).encode())
    return f"{reason}-{digest.hexdigest()[:24]}"


def group_payload(
    config: Any, receiver: str, route: str, group_key: str, group_labels: Mapping[str, str],
    reason: str, alerts: list[Event], *, seq: int, level: int = 0, installation: str = "",
) -> dict[str, Any]:
    """A group notification without its text (``config``: AlertingConfig)."""
    snapshots = []
    for event in alerts:
        snapshot = dict(event.snapshot, kind=event.kind)
        snapshot.setdefault("dedup_key", event.dedup_key)
        snapshots.append(snapshot)
    common = (dict(set.intersection(*(set(e.labels.items()) for e in alerts)))
              if alerts else {})
    return {
        "version": 1, "receiver": receiver, "route": route, "reason": reason,
        "status": "firing" if any(e.firing for e in alerts) else "resolved",
        "group_key": group_key, "group_labels": dict(group_labels),
        "common_labels": dict(sorted(common.items())),
        # seq: a reminder repeats the same alerts, yet is a new notification.
        "dedup_key": notification_key(reason, group_key, seq,
                                      [f"{e.dedup_key}/{e.kind}" for e in alerts],
                                      installation),
        "escalation_level": level, "alerts": snapshots,
        "links": notification_links(config, common),
    }


def message_payload(
    config: Any, reason: str, title: str, text: str, html: str, labels: Mapping[str, str], *,
    status: str = "firing", key: str | None = None, installation: str = "",
    group: str | None = None,
) -> dict[str, Any]:
    """A ready-made message; ``key`` (else the content) identifies it. Messages with the
    same ``group`` share a group key, so the dispatcher delivers them in queue order
    (a receiver's "recovered" never overtakes its "failed")."""
    ident = key or _digest([title, text, sorted(labels.items())])
    group_key = f"{reason}:{group or ident}"
    return {
        "version": 1, "route": "", "reason": reason, "status": status,
        "group_key": group_key, "group_labels": dict(labels), "common_labels": dict(labels),
        "dedup_key": notification_key(reason, group_key, 0, [ident], installation),
        "escalation_level": 0,
        "alerts": [], "title": title, "text": text, "html": html,
        "links": notification_links(config, labels),
    }


def queue(db: Any, payload: Mapping[str, Any], receivers: Iterable[str], now: float) -> int:
    """Insert one outbox row per receiver (inside the caller's transaction)."""
    queued = 0
    for receiver in receivers:
        cursor = db.execute(
            "INSERT OR IGNORE INTO outbox (dedup_key, receiver, payload, created_at,"
            " next_attempt_at) VALUES (?,?,?,?,?)",
            (payload["dedup_key"], receiver, json.dumps(dict(payload, receiver=receiver)),
             now, now),
        )
        queued += cursor.rowcount
    return queued


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]
