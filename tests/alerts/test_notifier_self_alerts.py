"""Self-alerts end to end: a receiver fails permanently and later delivers again.

Real pieces: the state store (SQLite file), ReceiverHealth, Router.enqueue_message, the
Dispatcher and the PagerDuty, Alertmanager and webhook notifiers built from the config;
HTTP goes to a recording transport. What is checked is what each channel receives: the
"failed" and "recovered" messages must land on ONE incident (PagerDuty dedup_key,
Alertmanager label set, webhook groupKey), while each keeps its own outbox key.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from alerts.config import AlertingConfig
from alerts.dispatcher import Dispatcher
from alerts.messages import rfc3339
from alerts.notifiers import NotifierOptions, build_notifiers, refresh_notifiers
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.receiver_health import ReceiverHealth, failed_receivers, latest_self_alerts
from alerts.receiver_specs import RetrySettings
from alerts.router import Router
from monitor.app.store import StateStore
from tests.conftest import FakeClock

PD_KEY = "R0UT1NGKEY0000000000000000000000"
RETRY = RetrySettings(initial_backoff=5, max_backoff=600, jitter=0.0)
CONFIG = AlertingConfig.model_validate({"receivers": [
    # "chat" is the receiver that breaks: its endpoint answers 401 until "fixed".
    {"type": "webhook", "name": "chat", "url": "http://chat.test/hook"},
    {"type": "pagerduty", "name": "pd", "routing_key": PD_KEY,
     "url": "http://pd.test/v2/enqueue", "change_url": "http://pd.test/v2/change/enqueue"},
    {"type": "alertmanager", "name": "am", "url": "http://am.test:9093",
     "resend_interval": "1m"},
    {"type": "webhook", "name": "hook", "url": "http://hook.test/alerts"},
]})


class Endpoints:
    """Records every request per host; ``chat.test`` refuses while ``broken``."""

    def __init__(self) -> None:
        self.broken = True
        self.seen: dict[str, list[tuple[dict[str, str], Any]]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "chat.test" and self.broken:
            return httpx.Response(401)
        self.seen.setdefault(request.url.host, []).append(
            (dict(request.headers), json.loads(request.content)))
        return httpx.Response(202 if request.url.host == "pd.test" else 200)

    def bodies(self, host: str) -> list[Any]:
        return [body for _, body in self.seen.get(host, [])]


class Site:
    def __init__(self, store: StateStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        self.http = Endpoints()
        self.notifiers = build_notifiers(CONFIG, NotifierOptions(
            http_transport=httpx.MockTransport(self.http), clock=clock.time))
        self.health = ReceiverHealth(store, Router(store, CONFIG))
        self.health.sync([spec.name for spec in CONFIG.receivers], clock.time())
        self.dispatcher = Dispatcher(store, self.notifiers, RETRY, health=self.health)

    async def chat_gets(self, key: str) -> None:
        """Queue one notification for "chat", deliver it and the self-alerts it causes."""
        self.store.enqueue(key, "chat", {"group_key": key, "dedup_key": key, "title": key,
                                         "text": key, "html": key, "alerts": []},
                           self.clock.time())
        await self.dispatcher.step(self.clock.time())
        await self.dispatcher.step(self.clock.time())

    async def refresh(self) -> float | None:
        """What the daemon's refresh timer does (monitor/app/alerting_work.py refresh_receivers)."""
        return await refresh_notifiers(self.notifiers, self.clock.time(), set(),
                                       failed_receivers(self.store))

    async def aclose(self) -> None:
        await self.dispatcher.aclose()


@pytest.fixture
async def site(store: StateStore, clock: FakeClock) -> Any:
    made = Site(store, clock)
    yield made
    await made.aclose()


def self_keys(store: StateStore, receiver: str) -> list[str]:
    return [item.dedup_key for item in store.outbox_items()
            if item.receiver == receiver and item.payload.get("reason") == "self"]


async def test_pagerduty_resolves_the_incident_the_failure_opened(site: Site) -> None:
    await site.chat_gets("n-1")  # 401: chat is marked failed, the others are told
    site.clock.advance(300)
    site.http.broken = False
    await site.chat_gets("n-2")  # delivered: chat is up again, the others are told

    trigger, resolve = site.http.bodies("pd.test")
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", "vigil-self:chat")
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["summary"].startswith("[VIGIL] Receiver chat has FAILED")
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve",
                       "dedup_key": "vigil-self:chat"}
    # Two outbox rows, two keys: a later second failure is announced again.
    first, second = self_keys(site.store, "pd")
    assert first != second


async def test_a_second_failure_triggers_again_under_the_same_key(site: Site) -> None:
    await site.chat_gets("n-1")
    site.clock.advance(60)
    site.http.broken = False
    await site.chat_gets("n-2")
    site.clock.advance(60)
    site.http.broken = True
    await site.chat_gets("n-3")

    assert [(b["event_action"], b["dedup_key"]) for b in site.http.bodies("pd.test")] == [
        ("trigger", "vigil-self:chat"), ("resolve", "vigil-self:chat"),
        ("trigger", "vigil-self:chat")]
    assert len(set(self_keys(site.store, "pd"))) == 3


async def test_alertmanager_keeps_the_failure_alive_until_the_receiver_recovers(
    site: Site, clock: FakeClock
) -> None:
    t0 = clock.time()
    await site.chat_gets("n-1")
    [[failed]] = site.http.bodies("am.test")
    labels = {"alertname": "VigilNotice", "reason": "self", "receiver": "chat"}
    assert failed["labels"] == labels
    assert (failed["startsAt"], failed["endsAt"]) == (rfc3339(t0), rfc3339(t0 + 240))

    # Far past the first endsAt: the refresh timer must have kept it firing.
    for _ in range(10):
        clock.advance(60)
        assert await site.refresh() == clock.time() + 60
    kept = site.http.bodies("am.test")[-1][0]
    assert kept["labels"] == labels and kept["startsAt"] == rfc3339(t0)
    assert kept["endsAt"] == rfc3339(clock.time() + 240)

    clock.advance(30)
    site.http.broken = False
    await site.chat_gets("n-2")
    ended = site.http.bodies("am.test")[-1][0]
    # Same labels, so the same Alertmanager alert: it ends now, and is not fired anew.
    assert ended["labels"] == labels and ended["startsAt"] == rfc3339(t0)
    assert ended["endsAt"] == rfc3339(clock.time())
    assert ended["annotations"]["summary"] == "[VIGIL] Receiver chat delivers again"
    pushes = len(site.http.bodies("am.test"))
    clock.advance(600)
    assert await site.refresh() is None and len(site.http.bodies("am.test")) == pushes


async def test_a_webhook_consumer_sees_one_group_from_failure_to_recovery(site: Site) -> None:
    await site.chat_gets("n-1")
    site.http.broken = False
    await site.chat_gets("n-2")

    (failed_headers, failed), (recovered_headers, recovered) = site.http.seen["hook.test"]
    assert (failed["status"], recovered["status"]) == ("firing", "resolved")
    assert failed["groupKey"] == recovered["groupKey"] == "vigil-self:chat"
    assert failed["groupLabels"] == recovered["groupLabels"] == {"receiver": "chat"}
    # ...while the retry-safety key stays the notification's own.
    assert failed_headers["idempotency-key"] != recovered_headers["idempotency-key"]


async def test_after_a_restart_alertmanager_adopts_the_failure_of_a_still_failed_receiver(
    site: Site, clock: FakeClock
) -> None:
    await site.chat_gets("n-1")
    pushed = len(site.http.bodies("am.test"))
    clock.advance(100)
    # The restart: fresh notifiers, and what monitor/app/daemon.py's adoption would do.
    restarted = build_notifiers(CONFIG, NotifierOptions(
        http_transport=httpx.MockTransport(site.http), clock=clock.time))
    am = restarted["am"]
    assert isinstance(am, AlertmanagerNotifier)
    rows = latest_self_alerts(site.store, ["am"])
    am.adopt_self_alerts([payload for _, _, payload in rows], failed_receivers(site.store),
                         clock.time())
    try:
        assert await refresh_notifiers(restarted, clock.time(), set(),
                                       failed_receivers(site.store)) == clock.time() + 60
    finally:
        for notifier in restarted.values():
            await notifier.aclose()
    [[adopted]] = site.http.bodies("am.test")[pushed:]
    assert adopted["labels"]["receiver"] == "chat"
    assert adopted["endsAt"] == rfc3339(clock.time() + 240)


def test_the_newest_delivered_self_alert_of_each_failed_receiver_is_found_in_sql(
    store: StateStore
) -> None:
    def sent(key: str, receiver: str, subject: str | None, status: str = "firing",
             reason: str = "self") -> int:
        labels = {"receiver": subject} if subject else {"lms": "moodle-prod"}
        store.enqueue(key, receiver, {"reason": reason, "status": status,
                                      "group_labels": labels, "dedup_key": key}, 0.0)
        [item] = [i for i in store.outbox_items("pending") if i.dedup_key == key]
        store.mark_sent(item.id, 0.0)
        return item.id

    health = ReceiverHealth(store)
    health.sync(["am", "am2", "chat", "mail", "sms"], 0.0)
    for name in ("chat", "sms"):
        health.failed(name, "HTTP 401", 1.0)
    sent("c1", "am", "chat")
    sent("c2", "am", "chat", "resolved")
    newest_chat = sent("c3", "am", "chat")  # failed again: the newest counts
    sent("m1", "am", "mail")                # mail is up again: left out
    sent("s1", "am", "sms")
    sent("s2", "am", "sms", "resolved")     # newest says recovered: left out
    other = sent("c3", "am2", "chat")
    sent("x1", "am", None)                  # a self message without a subject
    sent("r1", "am", "chat", reason="report")
    store.enqueue("c4", "am", {"reason": "self", "status": "firing",
                               "group_labels": {"receiver": "chat"}}, 0.0)  # not delivered

    def found(receivers: list[str] | None) -> list[tuple[int, str, str]]:
        return [(row_id, receiver, payload["dedup_key"])
                for row_id, receiver, payload in latest_self_alerts(store, receivers)]

    assert found(["am"]) == [(newest_chat, "am", "c3")]
    assert found(None) == [(newest_chat, "am", "c3"), (other, "am2", "c3")]
    assert found([]) == []
