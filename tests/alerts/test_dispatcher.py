"""The outbox dispatcher: retries, backoff, order, failures, and its thin loop."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import pytest

from alerts.config import RetrySettings
from alerts.dispatcher import Dispatcher, backoff_delay
from alerts.notifiers import NotifyError
from monitor.store import StateStore

RETRY = RetrySettings(initial_backoff=5, max_backoff=600, jitter=0.0)


def queue(store: StateStore, key: str, receiver: str = "r", now: float = 0.0) -> None:
    store.enqueue(key, receiver, {"fingerprint": key.split(":")[0], "dedup_key": key}, now)


def keys(notifier: Any) -> list[str]:
    return [n["dedup_key"] for n in notifier.sent]


@pytest.mark.parametrize(("attempts", "rng", "expected"), [
    (1, 0.0, 5.0), (2, 0.0, 10.0), (3, 0.0, 20.0), (7, 0.0, 320.0), (8, 0.0, 600.0),
    (10_000, 0.0, 600.0),  # weeks of retries neither overflow nor exceed the cap
    (1, 0.999, 5.0 * (1 - 0.2 * 0.999)), (8, 0.5, 600.0 * 0.9),
])
def test_backoff_doubles_from_the_initial_delay_up_to_the_cap_and_jitter_only_shortens(
    attempts: int, rng: float, expected: float
) -> None:
    assert backoff_delay(RetrySettings(), attempts, lambda: rng) == pytest.approx(expected)


async def test_a_retryable_error_schedules_the_next_try_and_counts_it(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 503")])
    seen: list[tuple[str, str]] = []
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY, on_attempt=lambda *a: seen.append(a))
    queue(store, "a:1")

    assert await dispatcher.step(0.0) == 1
    [item] = store.outbox_items("pending")
    assert (item.attempts, item.next_attempt_at, item.last_error) == (1, 5.0, "HTTP 503")
    assert await dispatcher.step(4.9) == 0  # not due yet
    assert await dispatcher.step(5.0) == 1
    assert keys(notifier) == ["a:1"] and seen == [("r", "retry"), ("r", "sent")]


async def test_a_permanent_error_fails_at_once_and_is_logged_loudly(
    store: StateStore, recording_notifier: Any, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 401 Unauthorized", permanent=True)])
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY)
    queue(store, "a:1")

    await dispatcher.step(0.0)

    [item] = store.outbox_items("failed")
    assert item.last_error == "HTTP 401 Unauthorized" and dispatcher.next_wake_at() is None
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "FAILED" in record.getMessage() and "a:1" in record.getMessage()


async def test_an_item_for_a_receiver_that_is_no_longer_configured_fails_clearly(
    store: StateStore, recording_notifier: Any
) -> None:
    seen: list[tuple[str, str]] = []
    dispatcher = Dispatcher(store, {"r": recording_notifier()}, RETRY,
                            on_attempt=lambda *a: seen.append(a))
    queue(store, "a:1", receiver="pager")

    await dispatcher.step(0.0)

    [item] = store.outbox_items("failed")
    assert item.last_error == "receiver 'pager' is no longer configured"
    assert seen == [("pager", "failed")]


async def test_a_notifier_that_raises_unexpectedly_is_retried_not_fatal(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([KeyError("labels")])
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY)
    queue(store, "a:1")

    await dispatcher.step(0.0)
    [item] = store.outbox_items("pending")
    assert item.last_error == "notifier raised KeyError"
    await dispatcher.step(5.0)
    assert keys(notifier) == ["a:1"]


async def test_a_resolved_never_overtakes_its_firing_waiting_for_a_retry(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 502")])
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY)
    queue(store, "a:1", now=0.0)
    await dispatcher.step(0.0)  # firing waits until t=5
    queue(store, "a:2", now=1.0)  # resolved, due at once

    assert await dispatcher.step(1.0) == 0
    assert dispatcher.next_wake_at() == 5.0
    assert await dispatcher.step(5.0) == 2
    assert keys(notifier) == ["a:1", "a:2"]


async def test_a_failing_alert_or_receiver_does_not_hold_back_the_others(
    store: StateStore, recording_notifier: Any
) -> None:
    stuck = recording_notifier([NotifyError("down")])
    fine = recording_notifier()
    dispatcher = Dispatcher(store, {"stuck": stuck, "fine": fine}, RETRY)
    queue(store, "a:1", receiver="stuck")
    queue(store, "b:1", receiver="stuck")
    queue(store, "a:1", receiver="fine")

    assert await dispatcher.step(0.0) == 3
    assert keys(stuck) == ["b:1"] and keys(fine) == ["a:1"]


async def test_with_max_age_an_old_notification_is_given_up_with_the_reason(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 503")] * 2)
    retry = RetrySettings(initial_backoff=5, jitter=0, max_age=60)
    dispatcher = Dispatcher(store, {"r": notifier}, retry)
    queue(store, "a:1")

    await dispatcher.step(0.0)
    await dispatcher.step(60.0)

    [item] = store.outbox_items("failed")
    assert item.last_error == "gave up after 2 attempts over 60s: HTTP 503"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now


async def test_the_loop_waits_until_the_next_retry_is_due(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("503"), NotifyError("503")])
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY, poll_interval=30)
    clock, stop = FakeClock(), asyncio.Event()
    queue(store, "a:1")

    async def sleep(delay: float) -> None:
        clock.waits.append(delay)
        clock.now += delay
        if notifier.sent:
            stop.set()

    await asyncio.wait_for(dispatcher.run_forever(clock, stop, sleep=sleep), 2)

    assert clock.waits == [5.0, 10.0, 30.0] and keys(notifier) == ["a:1"]


async def test_the_loop_survives_a_failing_step_and_pauses_briefly(
    store: StateStore, recording_notifier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = Dispatcher(store, {"r": recording_notifier()}, RETRY)
    clock, stop = FakeClock(), asyncio.Event()
    real = store.outbox_items
    calls = iter([sqlite3.OperationalError("database is locked")])

    def flaky(state: str | None = None) -> Any:
        error = next(calls, None)
        if error:
            raise error
        return real(state)

    monkeypatch.setattr(store, "outbox_items", flaky)

    async def sleep(delay: float) -> None:
        clock.waits.append(delay)
        if len(clock.waits) == 2:
            stop.set()

    await asyncio.wait_for(dispatcher.run_forever(clock, stop, sleep=sleep), 2)
    assert clock.waits == [1.0, 30.0]


async def test_wake_interrupts_a_long_wait(store: StateStore, recording_notifier: Any) -> None:
    delivered = asyncio.Event()
    notifier = recording_notifier()
    original = notifier.send

    async def send(notification: dict[str, Any]) -> None:
        await original(notification)
        delivered.set()

    notifier.send = send
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY, poll_interval=3600)
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher.run_forever(lambda: 0.0, stop))
    await asyncio.sleep(0)  # let it step (nothing queued) and start waiting

    queue(store, "a:1")
    dispatcher.wake()
    await asyncio.wait_for(delivered.wait(), 2)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert keys(notifier) == ["a:1"]


async def test_reconfigure_swaps_receivers(store: StateStore, recording_notifier: Any) -> None:
    old, new = recording_notifier(), recording_notifier()
    dispatcher = Dispatcher(store, {"r": old}, RETRY)
    dispatcher.reconfigure({"r": new}, RetrySettings())
    queue(store, "a:1")
    await dispatcher.step(0.0)
    await dispatcher.aclose()
    assert keys(new) == ["a:1"] and not old.sent and new.closed
