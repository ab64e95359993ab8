"""The Alertmanager notifier's bookkeeping, against a recording HTTP transport and a fake
clock: what it pushes, with which endsAt, and what it keeps re-sending."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alerts.messages import rfc3339
from alerts.notifiers import NotifierOptions, NotifyError, build_notifier, refresh_notifiers
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.receiver_specs import AlertmanagerReceiverSpec
from tests.alerts.notification_samples import notification, snapshot
from tests.conftest import FakeClock

T0 = 1_800_000_000.0


class Recorder:
    """Records each POST; answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, list[dict[str, Any]]]] = []
        self.statuses: dict[str, list[int]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.posts.append((f"{host}{request.url.path}", json.loads(request.content)))
        queued = self.statuses.get(host) or []
        return httpx.Response(queued.pop(0) if queued else 200)

    def alerts(self) -> list[dict[str, Any]]:
        return [alert for _, batch in self.posts for alert in batch]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def am(recorder: Recorder, clock: FakeClock) -> AsyncIterator[AlertmanagerNotifier]:
    notifier = make(recorder, clock)
    yield notifier
    await notifier.aclose()


def make(recorder: Recorder, clock: FakeClock, **fields: Any) -> AlertmanagerNotifier:
    spec = AlertmanagerReceiverSpec.model_validate(
        {"name": "am", "resend_interval": "1m", "url": "http://am1:9093", **fields})
    notifier = build_notifier(spec, NotifierOptions(
        http_transport=httpx.MockTransport(recorder), clock=clock.time))
    assert isinstance(notifier, AlertmanagerNotifier)
    return notifier


async def test_a_firing_alert_is_posted_valid_for_four_resend_intervals(
    am: AlertmanagerNotifier, recorder: Recorder
) -> None:
    await am.send(notification(snapshot()))

    [(path, [alert])] = recorder.posts
    assert path == "am1/api/v2/alerts"
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert alert["labels"]["alertname"] == "LmsCheckFailing"
    assert alert["labels"]["lms"] == "moodle-prod" and alert["labels"]["team"] == "elearning"
    assert alert["endsAt"] == rfc3339(T0 + 240)
    assert alert["startsAt"] == rfc3339(1_700_000_000.0)


async def test_refresh_resends_only_what_is_due_and_extends_ends_at(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(notification(snapshot()))
    clock.advance(30)
    assert await am.refresh(clock.time()) == 0  # not due yet
    assert am.next_refresh_at() == T0 + 60
    clock.advance(30)

    assert await am.refresh(clock.time()) == 1

    assert recorder.alerts()[-1]["endsAt"] == rfc3339(T0 + 60 + 240)
    assert am.next_refresh_at() == T0 + 120


async def test_a_resolved_alert_is_posted_with_its_end_and_no_longer_refreshed(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(notification(snapshot()))
    await am.send(notification(snapshot("resolved", transition=2)))

    assert recorder.alerts()[-1]["endsAt"] == rfc3339(1_700_000_900.0)
    clock.advance(600)
    assert await am.refresh(clock.time()) == 0 and am.next_refresh_at() is None


async def test_a_stale_reminder_after_the_resolve_does_not_revive_the_alert(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(notification(snapshot("resolved", transition=2)))
    await am.send(notification(snapshot(transition=1), reason="reminder"))  # retried late

    assert len(recorder.alerts()) == 1
    assert am.next_refresh_at() is None


async def test_a_raised_severity_ends_the_alert_under_its_old_labels(
    am: AlertmanagerNotifier, recorder: Recorder
) -> None:
    await am.send(notification(snapshot(severity="critical")))
    raised = snapshot(kind="severity", severity="page")
    raised["labels"] = {**raised["labels"], "severity": "page"}
    await am.send(notification(raised))

    old, new = recorder.posts[-1][1]
    assert (old["labels"]["severity"], old["endsAt"]) == ("critical", rfc3339(T0))
    assert (new["labels"]["severity"], new["endsAt"]) == ("page", rfc3339(T0 + 240))


async def test_refresh_ends_tracked_alerts_that_are_no_longer_firing_in_the_store(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(notification(snapshot(fingerprint="a" * 16), snapshot(fingerprint="b" * 16)))
    clock.advance(5)

    assert await am.refresh(clock.time(), active={"a" * 16}) == 1

    [ended] = recorder.posts[-1][1]
    assert ended["generatorURL"].endswith("b" * 16) and ended["endsAt"] == rfc3339(T0 + 5)
    clock.advance(60)
    assert await am.refresh(clock.time(), active={"a" * 16}) == 1  # only "a" is kept alive


async def test_a_failed_refresh_is_logged_and_tried_again_next_time(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock,
    caplog: pytest.LogCaptureFixture
) -> None:
    await am.send(notification(snapshot()))
    recorder.statuses["am1"] = [503]
    clock.advance(60)

    assert await am.refresh(clock.time()) == 0
    assert "re-sending 1 firing alert(s) failed" in caplog.text
    assert await am.refresh(clock.time()) == 1


async def test_every_cluster_member_gets_the_alert_and_one_acceptance_is_enough(
    recorder: Recorder, clock: FakeClock
) -> None:
    notifier = make(recorder, clock, url=None, urls=["http://am1:9093", "http://am2:9093/"])
    recorder.statuses["am1"] = [503]
    try:
        await notifier.send(notification())
        assert [path for path, _ in recorder.posts] == ["am1/api/v2/alerts",
                                                        "am2/api/v2/alerts"]
        recorder.statuses = {"am1": [503], "am2": [400]}
        with pytest.raises(NotifyError) as info:
            await notifier.send(notification())
        assert not info.value.permanent  # one member may come back
        assert "HTTP 503" in info.value.reason and "HTTP 400" in info.value.reason
    finally:
        await notifier.aclose()


async def test_a_notice_without_alerts_becomes_an_alert_that_expires_by_itself(
    am: AlertmanagerNotifier, recorder: Recorder
) -> None:
    await am.send(notification(reason="maintenance", title="Maintenance at 22:00",
                               text="Moodle 4.5 upgrade"))

    [alert] = recorder.alerts()
    assert alert["labels"] == {"alertname": "VigilNotice", "reason": "maintenance",
                               "lms": "moodle-prod"}
    assert alert["annotations"]["summary"] == "Maintenance at 22:00"
    assert alert["endsAt"] == rfc3339(T0 + 240) and am.next_refresh_at() is None


async def test_adopted_alerts_are_refreshed_at_the_next_call(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    am.adopt([snapshot(), snapshot("resolved", fingerprint="c" * 16, transition=2)], T0)

    assert await refresh_notifiers({"am": am}, clock.time()) == T0 + 60
    assert [a["labels"]["check"] for a in recorder.alerts()] == ["homepage"]


# -- self-alerts: a state kept alive while the receiver is failed ---------------------
SELF_LABELS = {"alertname": "VigilNotice", "reason": "self", "receiver": "mail"}


def self_alert(change: str, receiver: str = "mail") -> dict[str, Any]:
    """A receiver_health message as Router.enqueue_message queues it."""
    return notification(
        reason="self", status="firing" if change == "failed" else "resolved",
        group_labels={"receiver": receiver}, common_labels={"receiver": receiver},
        dedup_key=f"self-{receiver}-{change}", title=f"Receiver {receiver} {change}")


async def test_a_failed_receiver_self_alert_is_refreshed_like_a_firing_alert(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(self_alert("failed"))
    [first] = recorder.alerts()
    assert first["labels"] == SELF_LABELS
    assert (first["startsAt"], first["endsAt"]) == (rfc3339(T0), rfc3339(T0 + 240))
    assert am.next_refresh_at() == T0 + 60

    clock.advance(60)
    assert await am.refresh(clock.time(), active=set(), failed_receivers={"mail"}) == 1

    refreshed = recorder.alerts()[-1]
    assert refreshed["labels"] == SELF_LABELS and refreshed["startsAt"] == rfc3339(T0)
    assert refreshed["endsAt"] == rfc3339(T0 + 60 + 240)


async def test_recovered_ends_the_same_alert_and_stops_the_refresh(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(self_alert("failed"))
    clock.advance(500)
    await am.send(self_alert("recovered"))

    ended = recorder.alerts()[-1]
    assert ended["labels"] == SELF_LABELS  # same labels: the same Alertmanager alert
    assert (ended["startsAt"], ended["endsAt"]) == (rfc3339(T0), rfc3339(T0 + 500))
    assert ended["annotations"]["summary"] == "Receiver mail recovered"
    assert am.next_refresh_at() is None
    clock.advance(600)
    assert await am.refresh(clock.time(), failed_receivers={"mail"}) == 0


async def test_recovered_without_a_tracked_failure_still_ends_it_in_alertmanager(
    am: AlertmanagerNotifier, recorder: Recorder
) -> None:
    await am.send(self_alert("recovered"))  # e.g. the failure was pushed before a restart

    [ended] = recorder.alerts()
    assert ended["labels"] == SELF_LABELS and ended["endsAt"] == rfc3339(T0)
    assert am.next_refresh_at() is None


@pytest.mark.parametrize(("failed", "pushed", "ends_at"), [
    ({"mail"}, 1, T0 + 60 + 240),  # still failed: kept alive
    (set(), 1, T0 + 60),            # no longer failed, "recovered" never came here: ended
    (None, 1, T0 + 60 + 240),       # caller does not know: kept until "recovered" comes
])
async def test_refresh_ends_a_self_alert_once_its_receiver_is_no_longer_failed(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock,
    failed: set[str] | None, pushed: int, ends_at: float
) -> None:
    await am.send(self_alert("failed"))
    clock.advance(60)

    # ``active`` holds alert fingerprints: it must not end self-alerts.
    assert await am.refresh(clock.time(), active=set(), failed_receivers=failed) == pushed

    assert recorder.alerts()[-1]["endsAt"] == rfc3339(ends_at)
    assert (am.next_refresh_at() is None) == (failed == set())


async def test_refresh_notifiers_passes_the_failed_receivers_on(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(self_alert("failed"))
    await am.send(self_alert("failed", "chat"))
    clock.advance(60)

    assert await refresh_notifiers({"am": am}, clock.time(), set(), {"chat"}) == T0 + 120

    mail, chat = recorder.posts[-1][1]
    assert (mail["labels"]["receiver"], mail["endsAt"]) == ("mail", rfc3339(T0 + 60))
    assert (chat["labels"]["receiver"], chat["endsAt"]) == ("chat", rfc3339(T0 + 300))


async def test_maintenance_notices_and_reports_are_never_kept_alive(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    await am.send(notification(reason="maintenance", status="resolved"))
    await am.send(notification(reason="report", status="firing"))  # a "worse" report

    assert [a["endsAt"] for a in recorder.alerts()] == [rfc3339(T0 + 240)] * 2
    assert am.next_refresh_at() is None


async def test_after_a_restart_self_alerts_of_still_failed_receivers_are_adopted(
    am: AlertmanagerNotifier, recorder: Recorder, clock: FakeClock
) -> None:
    sent = [self_alert("failed"), self_alert("failed", "chat"), self_alert("recovered", "chat"),
            self_alert("failed", "sms"), notification(reason="maintenance")]

    am.adopt_self_alerts(sent, failed_receivers={"mail", "chat"}, now=T0)  # sms: removed

    assert await am.refresh(clock.time(), failed_receivers={"mail", "chat"}) == 1
    [adopted] = recorder.alerts()
    assert adopted["labels"] == SELF_LABELS and adopted["endsAt"] == rfc3339(T0 + 240)
