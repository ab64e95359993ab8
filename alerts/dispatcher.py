"""The outbox dispatcher: delivers queued notifications, retrying until they get through.

Sits after the state store's outbox (filled by ``AlertService`` in the same
transaction as each alert transition) and before the notifiers. ``step(now)`` is one
pass; ``run_forever`` is a thin loop around it. The dispatcher owns retries, backoff
and the record of every attempt; notifiers only say "sent", "retry" or "permanent".

Order: every notification carrying alerts reaches a receiver in the order it was
queued, whatever its group (a "resolved" on the route's group never overtakes the
escalation "firing" of the same alert waiting for a retry); messages without alerts
(maintenance notices, reports, self-alerts) keep their own order per group and are not
held back by them.
Receiver health: a permanent error marks the receiver failed and a later success marks
it up again (alerts/receiver_health.py tells the other receivers both times).
Delivery is at-least-once: a crash between a successful send and ``mark_sent``
repeats that one send after restart (webhooks carry the dedup key in an
``Idempotency-Key`` header so a receiver can drop it).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from alerts.notifiers.base import Notifier, NotifyError
from alerts.outbox_store import OutboxItem
from alerts.receiver_health import ReceiverHealth
from alerts.receiver_specs import RetrySettings
from alerts.store import AlertingState
from monitor.kernel.redact import SecretRegistry

Outcome = Literal["sent", "retry", "failed"]
OnAttempt = Callable[[str, Outcome], None]
Sleep = Callable[[float], Awaitable[None]]
Chain = list[OutboxItem]

# After an unexpected error in a whole step (e.g. the database is locked), pause a little
# instead of spinning on the same failure.
_ERROR_PAUSE = 1.0


def backoff_delay(
    retry: RetrySettings, attempts: int, rng: Callable[[], float] = random.random
) -> float:
    """Delay before the next try after ``attempts`` failed ones (>= 1)."""
    # Cap the exponent: an item retried for weeks must not overflow the float.
    exponent = min(max(attempts - 1, 0), 64)
    base = min(retry.max_backoff, retry.initial_backoff * retry.multiplier**exponent)
    # Jitter only shortens the delay, so the cap holds and retries spread out.
    return base * (1.0 - retry.jitter * rng())


class Dispatcher:
    def __init__(
        self,
        store: AlertingState,
        notifiers: Mapping[str, Notifier],
        retry: RetrySettings,
        *,
        on_attempt: OnAttempt | None = None,
        rng: Callable[[], float] = random.random,
        logger: logging.Logger | None = None,
        poll_interval: float = 30.0,
        health: ReceiverHealth | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.store = store
        # The config's secrets: no delivery error is stored or logged with one.
        self.secrets = SecretRegistry() if secrets is None else secrets
        self.notifiers = dict(notifiers)
        self.retry = retry
        self.on_attempt = on_attempt
        self.rng = rng
        self.logger = logger or logging.getLogger("vigil.alerts.dispatcher")
        # Another process (the CLI) may queue into the same file without waking us.
        self.poll_interval = poll_interval
        self.health = health
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: stop waiting and run a step now."""
        self._wake.set()

    def reconfigure(self, notifiers: Mapping[str, Notifier], retry: RetrySettings) -> None:
        """Swap receivers after a config reload; the caller closes the old notifiers."""
        self.notifiers = dict(notifiers)
        self.retry = retry
        self.wake()

    async def aclose(self) -> None:
        for notifier in self.notifiers.values():
            await notifier.aclose()

    # -- one pass ---------------------------------------------------------------
    async def step(self, now: float) -> int:
        """Attempt every due notification once; return how many were attempted."""
        by_receiver: dict[str, list[Chain]] = {}
        for chain in self._chains():
            by_receiver.setdefault(chain[0].receiver, []).append(chain)
        # Receivers in parallel (a dead endpoint must not delay the others); the chains
        # of one receiver one after another, to keep its load and its order simple.
        results = await asyncio.gather(
            *(self._deliver_chains(chains, now) for chains in by_receiver.values()),
            return_exceptions=True,
        )
        attempted = 0
        for result in results:
            if isinstance(result, BaseException):
                self.logger.error("outbox delivery failed unexpectedly", exc_info=result)
            else:
                attempted += result
        return attempted

    def next_wake_at(self) -> float | None:
        """When the earliest deliverable notification is due (None: nothing pending)."""
        heads = [chain[0].next_attempt_at for chain in self._chains()]
        return min(heads, default=None)

    def _chains(self) -> list[Chain]:
        """Pending items per receiver: one chain of its alert notifications, and one per
        group (or single alert, for older rows) of the rest; oldest first."""
        chains: dict[tuple[str, bool, str], Chain] = {}
        for item in self.store.outbox_items("pending"):
            payload = item.payload
            if payload.get("alerts"):
                # One alert can be in several groups (route, escalation): only a single
                # chain per receiver keeps its firing ahead of its resolved.
                key = (item.receiver, True, "")
            else:
                key = (item.receiver, False, str(payload.get("group_key")
                       or payload.get("fingerprint") or item.dedup_key.rsplit(":", 1)[0]))
            chains.setdefault(key, []).append(item)
        return list(chains.values())

    async def _deliver_chains(self, chains: list[Chain], now: float) -> int:
        attempted = 0
        for chain in chains:
            for item in chain:
                if not self._due(item, now):
                    break
                attempted += 1
                if await self._deliver(item, now) == "retry":
                    break  # later items of this alert wait for this one
        return attempted

    def _due(self, item: OutboxItem, now: float) -> bool:
        # No retry is ever set further ahead than max_backoff: one that is must have been
        # set before the clock was stepped back, and would otherwise wait that jump too.
        return not now < item.next_attempt_at <= now + self.retry.max_backoff

    async def _deliver(self, item: OutboxItem, now: float) -> Outcome:
        notifier = self.notifiers.get(item.receiver)
        if notifier is None:
            return self._fail(item, f"receiver {item.receiver!r} is no longer configured")
        try:
            await notifier.send(item.payload)
        except NotifyError as exc:
            if exc.permanent:
                if self.health is not None:
                    self.health.failed(item.receiver, self.secrets.redact(exc.reason), now)
                return self._fail(item, exc.reason)
            return self._retry(item, now, exc.reason)
        except Exception as exc:  # a notifier bug must not stop delivery: retry later
            self.logger.error(
                "notifier for receiver %r raised instead of NotifyError", item.receiver,
                exc_info=exc,
            )
            return self._retry(item, now, f"notifier raised {type(exc).__name__}")
        self.store.mark_sent(item.id, now)
        if self.health is not None:
            self.health.delivered(item.receiver, now)
        self._count(item.receiver, "sent")
        return "sent"

    def _retry(self, item: OutboxItem, now: float, reason: str) -> Outcome:
        reason = self.secrets.redact(reason)
        attempts = item.attempts + 1
        max_age = self.retry.max_age
        if max_age is not None and now - item.created_at >= max_age:
            return self._fail(
                item, f"gave up after {attempts} attempts over {now - item.created_at:.0f}s:"
                f" {reason}"
            )
        delay = backoff_delay(self.retry, attempts, self.rng)
        self.store.mark_retry(item.id, now + delay, reason)
        self.logger.warning(
            "notification %s to receiver %r not delivered (attempt %d), retrying in %.0fs: %s",
            item.dedup_key, item.receiver, attempts, delay, reason,
        )
        self._count(item.receiver, "retry")
        return "retry"

    def _fail(self, item: OutboxItem, reason: str) -> Outcome:
        reason = self.secrets.redact(reason)
        self.store.mark_failed(item.id, reason)
        # Loud on purpose: an on-call page was dropped (receiver_health tells the others).
        self.logger.error(
            "notification %s to receiver %r FAILED and will not be retried: %s",
            item.dedup_key, item.receiver, reason,
        )
        self._count(item.receiver, "failed")
        return "failed"

    def _count(self, receiver: str, outcome: Outcome) -> None:
        if self.on_attempt is not None:
            self.on_attempt(receiver, outcome)

    # -- the loop ---------------------------------------------------------------
    async def run_forever(
        self, clock: Callable[[], float], stop_event: asyncio.Event, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        """Step, then wait for the next due time, a wake-up or the stop event."""
        while not stop_event.is_set():
            self._wake.clear()
            try:
                await self.step(clock())
                next_at = self.next_wake_at()
                delay = self.poll_interval if next_at is None else next_at - clock()
            except Exception:
                self.logger.exception("outbox dispatcher step failed; trying again shortly")
                delay = _ERROR_PAUSE
            await self._wait(min(delay, self.poll_interval), stop_event, sleep)

    async def _wait(self, delay: float, stop_event: asyncio.Event, sleep: Sleep) -> None:
        if delay <= 0 or self._wake.is_set():
            return
        waiters = [asyncio.ensure_future(self._wake.wait()),
                   asyncio.ensure_future(stop_event.wait()),
                   asyncio.ensure_future(sleep(delay))]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
