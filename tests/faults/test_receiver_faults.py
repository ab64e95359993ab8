"""The fault matrix on the way out: the SMTP relay is down, a webhook receiver is down for
half an hour. The whole alert path is real (AlertService -> Router -> outbox ->
Dispatcher -> the real e-mail and webhook notifiers) and so are the receivers (aiosmtpd,
an HTTP server on loopback); only time is injected, so 30 minutes pass in a moment.
What was queued is delivered afterwards, each notification exactly once.
"""

from __future__ import annotations

from collections import Counter

from aiosmtpd.controller import Controller

from monitor.app.store import StateStore
from tests.alerts.smtp_server import Inbox
from tests.faults.alert_path import T0, AlertPath, fire, resolve
from tests.helpers import TargetServer, free_port


async def test_mail_queued_while_the_smtp_relay_is_down_goes_out_once_it_is_back(
    store: StateStore
) -> None:
    port = free_port()  # nothing listens yet: connection refused
    path = AlertPath(store, [{"type": "email", "name": "mail", "host": "127.0.0.1",
                              "port": port, "security": "none", "timeout": 5,
                              "from": "vigil@example.org", "to": ["oncall@example.org"]}])
    await fire(path, "moodle-prod", T0)
    [item] = store.outbox_items("pending")
    assert item.attempts == 1
    assert (item.last_error or "").startswith(f"smtp 127.0.0.1:{port}: SMTPConnectError"), \
        item.last_error
    await path.drain(until=T0 + 300)  # five minutes of retries against a dead relay
    assert path.pending() == 1 and store.outbox_items("pending")[0].attempts > 3

    inbox = Inbox()
    relay = Controller(inbox, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        await path.drain(until=T0 + 3600)
    finally:
        relay.stop()
        await path.aclose()

    assert path.pending() == 0
    [(envelope, message)] = inbox.messages
    assert envelope.rcpt_tos == ["oncall@example.org"]
    assert "moodle-prod" in str(message["Subject"]) and "CRITICAL" in str(message["Subject"])
    [sent] = store.outbox_items("sent")  # one notification, one mail, after many tries
    assert sent.attempts > 3 and sent.last_error is None


def delivered(hook: TargetServer) -> Counter[str]:
    """Notifications the receiver accepted (2xx), counted by their key (= Idempotency-Key)."""
    return Counter(body["vigil"]["dedupKey"] for body in hook.json_bodies(answered=200))


async def test_everything_queued_during_a_30_minute_receiver_outage_arrives_exactly_once(
    store: StateStore
) -> None:
    hook = TargetServer()
    hook.status = 503
    path = AlertPath(store, [{"type": "webhook", "name": "hook", "url": hook.url + "/hook",
                              "timeout": 5}])
    outage_end = T0 + 30 * 60
    try:
        # During the outage: five sites fire, two of them resolve again, one flaps twice.
        for index, lms in enumerate(["a", "b", "c", "d", "e"]):
            await fire(path, lms, T0 + index * 120)
        await resolve(path, "b", T0 + 900)
        await resolve(path, "d", T0 + 1000)
        await fire(path, "d", T0 + 1300)
        await path.drain(until=outage_end - 1)
        queued = {item.dedup_key for item in store.outbox_items("pending")}
        assert len(queued) >= 8, queued
        assert not delivered(hook) and len(hook.requests) > 30  # it kept trying

        hook.status = 200
        await path.drain(until=outage_end + 3600)
    finally:
        await path.aclose()
        hook.close()

    assert path.pending() == 0 and not store.outbox_items("failed")
    counts = delivered(hook)
    assert set(counts) == {item.dedup_key for item in store.outbox_items("sent")}
    assert set(counts) >= queued
    assert all(n == 1 for n in counts.values()), counts  # exactly once, by idempotency key
    assert path.now - outage_end <= 60  # max_backoff: nobody waits longer after the outage
    # Each site's story arrives in order: firing before resolved before firing again.
    by_site: dict[str, list[str]] = {}
    for body in hook.json_bodies(answered=200):
        by_site.setdefault(body["groupLabels"]["lms"], []).append(body["status"])
    assert by_site["d"] == ["firing", "resolved", "firing"]
    assert by_site["b"] == ["firing", "resolved"]
    assert by_site["a"] == by_site["c"] == by_site["e"] == ["firing"]
