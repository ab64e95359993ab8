"""The outbox dispatcher: retries, backoff, order, failures, and its thin loop."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import pytest

from alerts.dispatcher import Dispatcher, backoff_delay
from alerts.notifiers import NotifyError
from alerts.receiver_specs import RetrySettings
from monitor.app.store import StateStore

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


# -- receiver health and self-alerts ----------------------------------------------------
def _router_and_health(store: StateStore) -> tuple[Any, Any]:
    from alerts.receiver_health import ReceiverHealth
    from alerts.router import Router
    from tests.alerts.router_kit import config

    router = Router(store, config(receivers=[{"type": "log", "name": n}
                                             for n in ("pager", "mail", "chat")]))
    health = ReceiverHealth(store, router)
    health.sync(["pager", "mail", "chat"], 0.0)
    return router, health


async def test_a_permanent_error_marks_the_receiver_failed_and_tells_the_others(
    store: StateStore, recording_notifier: Any
) -> None:
    from alerts.receiver_health import receiver_states

    _, health = _router_and_health(store)
    pager = recording_notifier([NotifyError("HTTP 401 Unauthorized", permanent=True)] * 2)
    mail, chat = recording_notifier(), recording_notifier()
    dispatcher = Dispatcher(store, {"pager": pager, "mail": mail, "chat": chat}, RETRY,
                            health=health)
    queue(store, "a:1", receiver="pager")
    queue(store, "b:1", receiver="pager")

    await dispatcher.step(100.0)  # both fail; the receiver is announced once
    await dispatcher.step(100.0)  # the self-alerts were queued; deliver them

    state = receiver_states(store)
    assert not state["pager"].up and state["pager"].reason == "HTTP 401 Unauthorized"
    assert state["mail"].up and state["chat"].up
    for notifier in (mail, chat):
        [alert] = notifier.sent
        assert (alert["reason"], alert["status"]) == ("self", "firing")
        assert alert["title"] == "[VIGIL] Receiver pager has FAILED: notifications to it are " \
                                 "not delivered"
        assert "HTTP 401 Unauthorized" in alert["text"] and "HTTP 401" in alert["html"]
    assert not any(item.receiver == "pager" and item.payload.get("reason") == "self"
                   for item in store.outbox_items())


async def test_a_later_success_marks_it_up_again_and_says_so(
    store: StateStore, recording_notifier: Any
) -> None:
    from alerts.receiver_health import receiver_states

    router, health = _router_and_health(store)
    pager = recording_notifier([NotifyError("HTTP 403", permanent=True)])
    mail = recording_notifier()
    dispatcher = Dispatcher(store, {"pager": pager, "mail": mail, "chat": recording_notifier()},
                            RETRY, health=health)
    queue(store, "a:1", receiver="pager")
    await dispatcher.step(100.0)
    queue(store, "a:2", receiver="pager", now=200.0)  # e.g. after the admin fixed the token
    await dispatcher.step(200.0)
    await dispatcher.step(200.0)

    assert receiver_states(store)["pager"].up
    assert [n["status"] for n in mail.sent] == ["firing", "resolved"]
    assert mail.sent[1]["title"] == "[VIGIL] Receiver pager delivers again"
    assert [n["dedup_key"] for n in pager.sent][:1] == ["a:2"]


async def test_retryable_errors_do_not_mark_a_receiver_failed(
    store: StateStore, recording_notifier: Any
) -> None:
    from alerts.receiver_health import receiver_states

    _, health = _router_and_health(store)
    pager = recording_notifier([NotifyError("HTTP 503")] * 3)
    dispatcher = Dispatcher(store, {"pager": pager}, RETRY, health=health)
    queue(store, "a:1", receiver="pager")
    for now in (0.0, 5.0, 15.0, 35.0):
        await dispatcher.step(now)
    assert receiver_states(store)["pager"].up and keys(pager) == ["a:1"]


async def test_notifications_of_one_group_keep_their_order(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 502")])
    dispatcher = Dispatcher(store, {"r": notifier}, RETRY)
    store.enqueue("notify-1", "r", {"group_key": "g", "dedup_key": "notify-1"}, 0.0)
    await dispatcher.step(0.0)
    store.enqueue("notify-2", "r", {"group_key": "g", "dedup_key": "notify-2"}, 1.0)
    store.enqueue("notify-3", "r", {"group_key": "h", "dedup_key": "notify-3"}, 1.0)
    assert await dispatcher.step(1.0) == 1  # only the other group
    await dispatcher.step(5.0)
    assert keys(notifier) == ["notify-3", "notify-1", "notify-2"]


async def test_a_resolved_never_overtakes_an_escalation_of_its_alert_in_another_group(
    store: StateStore, recording_notifier: Any
) -> None:
    notifier = recording_notifier([NotifyError("HTTP 502")])
    dispatcher = Dispatcher(store, {"pd": notifier}, RETRY)

    def alert(status: str) -> dict[str, Any]:
        return {"fingerprint": "fp", "transition": 1 if status == "firing" else 2,
                "status": status}

    store.enqueue("esc-1", "pd", {"group_key": "escalation:pages:1", "dedup_key": "esc-1",
                                  "alerts": [alert("firing")]}, 0.0)
    await dispatcher.step(0.0)  # the escalation's trigger waits for its retry at t=5
    store.enqueue("notify-2", "pd", {"group_key": 'route:{lms="moodle"}',
                                     "dedup_key": "notify-2", "alerts": [alert("resolved")]},
                  1.0)
    store.enqueue("maint-1", "pd", {"group_key": "maintenance", "dedup_key": "maint-1",
                                    "alerts": []}, 1.0)
    assert await dispatcher.step(1.0) == 1  # only the notice without alerts goes now
    assert await dispatcher.step(5.0) == 2
    assert keys(notifier) == ["maint-1", "esc-1", "notify-2"]  # the incident ends resolved


def test_receiver_health_is_exported_as_vigil_receiver_up(store: StateStore) -> None:
    from monitor.app.metrics import build_registry

    _, health = _router_and_health(store)
    health.failed("pager", "HTTP 401", 10.0)
    registry, _ = build_registry(store)
    assert registry.get_sample_value("vigil_receiver_up", {"receiver": "pager"}) == 0.0
    assert registry.get_sample_value("vigil_receiver_up", {"receiver": "mail"}) == 1.0
    health.sync(["mail"], 20.0)  # a receiver removed from the config is no longer exported
    registry, _ = build_registry(store)
    assert registry.get_sample_value("vigil_receiver_up", {"receiver": "pager"}) is None


async def test_nothing_is_lost_while_a_receiver_is_down_for_hours(
    store: StateStore, recording_notifier: Any
) -> None:
    down_until = 6 * 3600.0
    now = 0.0

    class Flaky:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []

        async def send(self, notification: dict[str, Any]) -> None:
            if now < down_until:
                raise NotifyError("connection refused")
            self.sent.append(notification)

        async def aclose(self) -> None:
            return None

    notifier = Flaky()
    dispatcher = Dispatcher(store, {"r": notifier}, RetrySettings(jitter=0.2))
    for index in range(20):
        store.enqueue(f"n{index}", "r", {"group_key": f"g{index % 3}",
                                         "dedup_key": f"n{index}"}, index * 600.0)
    attempts = 0
    while store.outbox_items("pending") and attempts < 10_000:
        next_at = dispatcher.next_wake_at()
        now = max(now, next_at if next_at is not None else now)
        attempts += await dispatcher.step(now)
    assert sorted(keys(notifier)) == sorted(f"n{i}" for i in range(20))
    for group in ("g0", "g1", "g2"):  # and each group in its own order
        sent = [k for k in keys(notifier) if int(k[1:]) % 3 == int(group[1:])]
        assert sent == sorted(sent, key=lambda k: int(k[1:]))
    assert now - down_until <= 600  # backoff is capped: delivered within max_backoff
