"""Receiver health: a permanent delivery error marks a receiver failed, a success heals it.

The Dispatcher reports each outcome here. On a change this module records it (table
receiver_health, read by the metrics collector as ``vigil_receiver_up{receiver}``)
and tells the OTHER receivers through the router's ``enqueue_message`` (reason
'self'), with text from the receiver_*.j2 templates. Retryable errors do not count:
a receiver that is down for a while keeps its queue and is retried with backoff.

Both messages about one receiver carry the group label ``receiver`` (its stable
identity, alerts/notifiers/base.py ``self_alert_key``): PagerDuty resolves with
"recovered" the incident "failed" opened, Alertmanager ends the alert it kept alive.
Each message keeps its own outbox key, so a second failure is announced again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.messages import Renderer
from alerts.notifiers.base import SELF_ALERT_LABEL
from alerts.store import AlertingState, AlertStore

UP, FAILED = "up", "failed"


@dataclass(frozen=True, slots=True)
class ReceiverState:
    receiver: str
    up: bool
    reason: str | None
    since: float


def receiver_states(store: AlertStore) -> dict[str, ReceiverState]:
    rows = store.db.execute("SELECT receiver, state, reason, since FROM receiver_health")
    return {r[0]: ReceiverState(r[0], r[1] == UP, r[2], r[3]) for r in rows}


def failed_receivers(store: AlertStore) -> set[str]:
    """Receivers marked failed: whose self-alert a re-sending notifier keeps alive."""
    return {name for name, state in receiver_states(store).items() if not state.up}


def latest_self_alerts(
    store: AlertStore, receivers: Collection[str] | None = None
) -> list[tuple[int, str, dict[str, Any]]]:
    """The newest delivered self-alert about each still-failed receiver, per receiver
    that got it (all when None), as (outbox id, receiver, payload), oldest row first.

    After a restart an Alertmanager receiver adopts these (``adopt_self_alerts``); the
    outbox pruning must keep them. A newest one that says "recovered" is left out.
    """
    if receivers is not None and not receivers:
        return []
    subject = f"json_extract(o.payload, '$.group_labels.{SELF_ALERT_LABEL}')"
    rows = store.db.execute(
        "SELECT id, receiver, payload FROM ("
        " SELECT o.id, o.receiver, o.payload, json_extract(o.payload, '$.status') AS status,"
        f"  {subject} AS subject, ROW_NUMBER() OVER ("
        f"  PARTITION BY o.receiver, {subject} ORDER BY o.id DESC) AS age"
        " FROM outbox AS o WHERE o.state = 'sent'"
        "  AND json_extract(o.payload, '$.reason') = 'self'"
        "  AND (?1 IS NULL OR o.receiver IN (SELECT value FROM json_each(?1)))"
        ") WHERE age = 1 AND status = 'firing'"
        f" AND subject IN (SELECT receiver FROM receiver_health WHERE state = '{FAILED}')"
        " ORDER BY id",
        (None if receivers is None else json.dumps(sorted(receivers)),),
    )
    return [(row[0], row[1], json.loads(row[2])) for row in rows]


class Messenger(Protocol):
    """What the router offers (alerts/router.py ``Router.enqueue_message``)."""

    def enqueue_message(
        self, reason: str, title: str, text: str, html: str, receivers: list[str] | None = None,
        labels: dict[str, str] | None = None, now: float = 0.0, *, status: str = "firing",
        key: str | None = None, group: str | None = None,
    ) -> int: ...


class ReceiverHealth:
    def __init__(
        self, store: AlertingState, messenger: Messenger | None = None, *,
        renderer: Renderer | None = None, logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.messenger = messenger
        self.renderer = renderer or Renderer()
        self.logger = logger or logging.getLogger("vigil.alerts.receivers")
        # Successful deliveries are the common case: answer them from memory.
        self._up = {name: state.up for name, state in receiver_states(store).items()}

    def sync(self, receivers: Iterable[str], now: float) -> None:
        """Track exactly the configured receivers (new ones start up)."""
        names = list(receivers)
        with self.store.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO receiver_health (receiver, state, since)"
                           " VALUES (?,?,?)", [(name, UP, now) for name in names])
            marks = ",".join("?" * len(names))
            db.execute(f"DELETE FROM receiver_health WHERE receiver NOT IN ({marks})", names)
        self._up = {name: state.up for name, state in receiver_states(self.store).items()}

    def failed(self, receiver: str, reason: str, now: float) -> None:
        if self._up.get(receiver) is False:
            return  # already failed and announced
        self.logger.error("receiver %r marked FAILED after a permanent error: %s", receiver, reason)
        # Tell first, then record: a crash in between repeats the message after the
        # restart (the receiver still looks up), rather than losing it for good.
        self._tell(receiver, "failed", reason, now)
        self._set(receiver, FAILED, reason, now)

    def delivered(self, receiver: str, now: float) -> None:
        if self._up.get(receiver) is not False:
            return  # the common case: nothing changed, no database write
        self.logger.warning("receiver %r delivers again; marked up", receiver)
        self._tell(receiver, "recovered", None, now)
        self._set(receiver, UP, None, now)

    def _set(self, receiver: str, state: str, reason: str | None, now: float) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT OR REPLACE INTO receiver_health (receiver, state, reason, since)"
                       " VALUES (?,?,?,?)", (receiver, state, reason, now))
        self._up[receiver] = state == UP

    def _tell(self, receiver: str, change: str, reason: str | None, now: float) -> None:
        if self.messenger is None:
            return
        text = self.renderer.render_receiver_health(
            {"receiver": receiver, "change": change, "reason": reason, "since": now})
        queued = self.messenger.enqueue_message(
            "self", text["title"], text["text"], text["html"],
            [name for name, up in self._up.items() if up and name != receiver],
            {SELF_ALERT_LABEL: receiver},
            now, status="firing" if change == "failed" else "resolved",
            # Unique per change (the outbox key); the label above is the stable identity.
            key=f"receiver:{receiver}:{change}:{now:.3f}", group=f"receiver:{receiver}",
        )
        if not queued:
            self.logger.error("no other healthy receiver to tell that receiver %r %s",
                              receiver, change)
