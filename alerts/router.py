"""The router: alert events in, grouped notifications out to the outbox.

Sits between AlertService (which writes every alert event as a 'pending' row of
alert_transitions, with a snapshot of the alert) and the outbox Dispatcher.
``step(now)`` is one pass, driven after each check result and on a ~1 s tick:

1. ingest: each pending event is routed through the route tree (alerts/routing.py)
   into notification groups per (route, group labels, receiver), in one transaction
   that also marks it 'routed' (or 'suppressed:maintenance:<uid>' while a maintenance
   window covers it): alerts/router_ingest.py;
2. flush: a group with news is sent group_wait after it was created, later ones
   group_interval after its previous notification, as ONE outbox row per receiver,
   in one transaction with the group's bookkeeping: a crash leaves each event either
   waiting in its group or queued, never lost or queued twice;
3. reminders every repeat_interval for firing, unacknowledged alerts; escalation
   levels (alerts/escalation.py); events held by a maintenance window are released
   when it ends if their alert still fires and nobody acknowledged it.

Resolved (and acknowledgement) news goes only to receivers that were told of the
problem. Time intervals follow Alertmanager, with one deliberate difference: a
notification muted by a mute/active interval is not dropped but held, and sent when
the interval allows if it is still news (a still-firing alert, or the end of a problem
the receiver was told of); one that fired and resolved while muted is never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts import outbound
from alerts import router_store as rs
from alerts.config import AlertingConfig
from alerts.escalation import Escalations
from alerts.messages import Renderer
from alerts.receiver_health import receiver_states
from alerts.router_ingest import Ingest
from alerts.router_store import Event, Group
from alerts.routing import Route, compile_route
from alerts.store import AlertingState

Covering = Callable[[Mapping[str, str], float], Any]
_ERROR_PAUSE = 5.0


class Router:
    def __init__(
        self,
        store: AlertingState,
        config: AlertingConfig,
        *,
        renderer: Renderer | None = None,
        covering: Covering | None = None,
        wake_dispatcher: Callable[[], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.covering = covering
        self.wake_dispatcher = wake_dispatcher
        self.logger = logger or logging.getLogger("vigil.alerts.router")
        self._wake = asyncio.Event()
        self.ingest = Ingest(self)
        self.reconfigure(config, renderer)

    def reconfigure(self, config: AlertingConfig, renderer: Renderer | None = None) -> None:
        """Apply a reloaded [alerts] config; groups already waiting keep their keys and
        stay on their route as long as it exists with the same definition (route ids are
        digests of it, alerts/routing.py); others use the root's settings."""
        self.config = config
        self.renderer = renderer or Renderer(config.templates_dir)
        self.root = compile_route(config.route)
        self.routes = {route.id: route for route in self.root.walk()}
        self.intervals = {named.name: named for named in config.time_intervals}
        self.escalations = Escalations(self, config.escalations)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- one pass -----------------------------------------------------------------------
    def step(self, now: float) -> int:
        """Route pending events and send what is due; return outbox rows queued."""
        self.ingest.step(now)
        queued = 0
        for group in rs.groups(self.store.db):
            queued += self._flush(group, now)
        queued += self.escalations.step(now)
        if queued and self.wake_dispatcher is not None:
            self.wake_dispatcher()
        return queued

    def receivers(self, route: Route) -> list[str]:
        if route.receiver is not None:
            return [route.receiver]
        return [spec.name for spec in self.config.receivers]

    def covered_by(self, labels: Mapping[str, str], now: float) -> Any:
        return self.covering(labels, now) if self.covering is not None else None

    # -- flush ----------------------------------------------------------------------------
    def route_of(self, route_id: str) -> Route:
        # After a reload a route may be gone: its waiting groups use the root's settings.
        return self.routes.get(route_id, self.root)

    def allowed(self, route: Route, now: float) -> bool:
        """Active and mute time intervals (unknown names after a reload are ignored)."""
        active = [self.intervals[n] for n in route.active_time_intervals if n in self.intervals]
        if active and not any(interval.contains(now) for interval in active):
            return False
        return not any(self.intervals[n].contains(now)
                       for n in route.mute_time_intervals if n in self.intervals)

    def sends_resolved(self, route: Route, receiver: str) -> bool:
        if route.send_resolved is not None:
            return route.send_resolved
        spec = self.config.receiver(receiver)
        return True if spec is None else self.config.sends_resolved(spec)

    def _flush(self, group: Group, now: float) -> int:
        route = self.route_of(group.route)
        members = rs.members(self.store.db, group)
        if not any(m.changed for m in members):
            return self._remind(group, route, members, now)
        since = group.created_at if group.last_flushed_at is None else group.last_flushed_at
        wait = since + (route.group_wait if group.last_flushed_at is None
                        else route.group_interval)
        # ``since`` in the future: the clock was stepped back. Waiting for it would hold
        # this news back for as long as the clock jumped; send it now instead.
        if since > now:
            wait = now
        if now < wait or not self.allowed(route, now):
            return 0
        found = rs.events(self.store.db, [m.event_id for m in members])
        told = {m.fingerprint: rs.told_open(self.store.db, m.fingerprint) for m in members}
        live = rs.alerts_now(self.store.db, (m.fingerprint for m in members))
        alerts: list[Event] = []
        news = False
        settled: dict[tuple[str, int], bool] = {}
        for member in members:
            event = found[member.event_id]
            # A firing whose end will never come through here (held back, or the alert
            # was removed) must not be listed as still failing.
            stale = event.firing and member.fingerprint in live and not (
                live[member.fingerprint].firing)
            settled[(member.fingerprint, member.instance)] = not event.firing or stale
            if stale:
                continue
            if event.firing:
                alerts.append(event)
                news = news or member.changed
            elif member.changed and self._tell_end(route, group.receiver, event, told):
                alerts.append(event)
                news = True
        with self.store.transaction() as db:
            queued = 0
            if news:
                queued = self._queue(db, group, "notify", alerts, now, seq=group.flushes)
                rs.mark_flushed(db, group, now, reminder=False)
                for event in alerts:
                    rs.log_told(db, event, group.receiver, now)
                self.escalations.notified(db, alerts, now)
            for member in members:
                ended = found[member.event_id]
                if member.changed and not ended.firing and ended not in alerts:
                    # Not told of the end (opted out): the problem is over all the same.
                    rs.close_told(db, ended, group.receiver)
            rs.settle_members(db, group, settled)
        return queued

    def _tell_end(self, route: Route, receiver: str, event: Event,
                  told: Mapping[str, Mapping[str, int]]) -> bool:
        fired = told.get(event.fingerprint, {}).get(receiver)
        # Equal transitions: the end of a flapping that never fired (no transition between).
        if fired is None or fired > event.transition:
            return False  # this receiver never heard of the problem (or of this one)
        return self.sends_resolved(route, receiver)

    def _remind(self, group: Group, route: Route, members: list[rs.Member], now: float) -> int:
        if group.last_flushed_at is None or now < group.last_flushed_at + route.repeat_interval:
            return 0
        if not self.allowed(route, now):
            return 0
        found = rs.events(self.store.db, [m.event_id for m in members])
        live = rs.alerts_now(self.store.db, (m.fingerprint for m in members))
        alerts = []
        for member in members:
            event, state = found[member.event_id], live.get(member.fingerprint)
            if (event.firing and state is not None and state.firing and not state.acknowledged
                    and self.covered_by(event.labels, now) is None):
                alerts.append(event)
        if not alerts:
            return 0
        with self.store.transaction() as db:
            queued = self._queue(db, group, "reminder", alerts, now, seq=group.reminders + 1)
            rs.mark_flushed(db, group, now, reminder=True)
        return queued

    # -- building notifications -----------------------------------------------------------
    def _queue(self, db: Any, group: Group, reason: str, alerts: list[Event], now: float,
               *, seq: int, level: int = 0) -> int:
        # Notifications name the route by its readable config path, not its digest id.
        known = self.routes.get(group.route)
        payload = self.build(group.receiver, known.path if known else group.route, group.key,
                             group.labels, reason, alerts, seq=seq, level=level)
        queued = outbound.queue(db, payload, [group.receiver], now)
        self.logger.info("queued %s notification %s for receiver %r (%d alert(s), group %s)",
                         reason, payload["dedup_key"], group.receiver, len(alerts), group.key)
        return queued

    def build(self, receiver: str, route: str, group_key: str, group_labels: Mapping[str, str],
              reason: str, alerts: list[Event], *, seq: int, level: int = 0) -> dict[str, Any]:
        """The outbox payload (contract with the notifiers), text rendered from templates."""
        payload = outbound.group_payload(self.config, receiver, route, group_key, group_labels,
                                         reason, alerts, seq=seq, level=level,
                                         installation=self.store.installation_id)
        payload.update(self.renderer.render_notification_safely(payload, self.logger))
        return payload

    def enqueue_message(
        self, reason: str, title: str, text: str, html: str,
        receivers: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
        now: float = 0.0, *, status: str = "firing", key: str | None = None,
        group: str | None = None,
    ) -> int:
        """Queue an already-written message (maintenance notice, report, self-alert).

        ``receivers`` None means every receiver not marked failed. ``key`` makes the
        dedup key; by default it is derived from the content, so queuing the same
        message twice (e.g. after a crash) sends it once.
        """
        if receivers is None:
            health = receiver_states(self.store)
            receivers = [spec.name for spec in self.config.receivers
                         if spec.name not in health or health[spec.name].up]
        payload = outbound.message_payload(self.config, reason, title, text, html, labels or {},
                                           status=status, key=key, group=group,
                                           installation=self.store.installation_id)
        with self.store.transaction() as db:
            queued = outbound.queue(db, payload, receivers, now)
        if queued and self.wake_dispatcher is not None:
            self.wake_dispatcher()
        return queued

    # -- the loop -------------------------------------------------------------------------
    async def run_forever(
        self, clock: Callable[[], float], stop_event: asyncio.Event, *, tick: float = 1.0
    ) -> None:
        """Step after every wake-up and at least every ``tick`` seconds; never raises."""
        while not stop_event.is_set():
            self._wake.clear()
            delay = tick
            try:
                self.step(clock())
            except Exception:
                self.logger.exception("alert router step failed; trying again shortly")
                delay = _ERROR_PAUSE
            wake = asyncio.ensure_future(self._wake.wait())
            stop = asyncio.ensure_future(stop_event.wait())
            try:
                await asyncio.wait([wake, stop], timeout=delay,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (wake, stop):
                    waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(wake, stop, return_exceptions=True)

