"""The apprise notifier against real local HTTP endpoints (apprise's ``json://`` service):
what a failure means, that a retry spares services that already have the message, and
that service URLs (tokens) stay out of errors and logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from alerts.dispatcher import Dispatcher
from alerts.notifiers import NotifyError, build_notifier
from alerts.notifiers.apprise import notify_type
from alerts.receiver_specs import AppriseReceiverSpec, RetrySettings
from monitor.app.store import StateStore
from tests.alerts.notification_samples import notification, snapshot
from tests.helpers import TargetServer

TOKEN = "T0K3N-1n-the-apprise-url"


@pytest.fixture
def servers() -> Iterator[tuple[TargetServer, TargetServer]]:
    first, second = TargetServer(), TargetServer()
    yield first, second
    first.close()
    second.close()


def url(server: TargetServer, path: str = "/hook") -> str:
    return f"json://127.0.0.1:{server.port}{path}"


@pytest.mark.parametrize(("alerts", "status", "reason", "expected"), [
    ([snapshot(severity="page")], "firing", "notify", "failure"),
    ([snapshot(severity="critical"), snapshot(severity="info")], "firing", "notify", "failure"),
    ([snapshot(severity="warning")], "firing", "reminder", "warning"),
    ([snapshot(severity="info")], "firing", "notify", "info"),
    ([snapshot("resolved", severity="page")], "resolved", "notify", "success"),
    ([], "firing", "maintenance", "info"),
])
def test_the_apprise_message_type_follows_status_and_severity(
    alerts: list, status: str, reason: str, expected: str
) -> None:
    assert notify_type(notification(*alerts, status=status, reason=reason)) == expected


def test_a_url_apprise_cannot_parse_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        AppriseReceiverSpec.model_validate(
            {"name": "chat", "urls": ["json://127.0.0.1/ok", f"nosuchservice://{TOKEN}"]})
    [error] = info.value.errors()
    assert error["loc"] == ("urls", 1) and "not a URL apprise supports" in error["msg"]
    assert TOKEN not in str(info.value).replace(repr(error["input"]), "")


async def test_title_and_text_reach_the_service(servers: tuple[TargetServer, TargetServer]) -> None:
    first, _ = servers
    notifier = build_notifier(AppriseReceiverSpec.model_validate(
        {"name": "chat", "urls": [url(first)]}))
    try:
        await notifier.send(notification())
    finally:
        await notifier.aclose()
    [body] = first.json_bodies()
    assert body["title"] == "[CRITICAL] moodle-prod: homepage is failing"
    assert body["message"].startswith("moodle-prod homepage: HTTP 503")
    assert body["type"] == "failure"


async def test_a_retry_goes_only_to_the_service_that_failed(
    servers: tuple[TargetServer, TargetServer]
) -> None:
    working, failing = servers
    failing.status = 500
    notifier = build_notifier(AppriseReceiverSpec.model_validate(
        {"name": "chat", "urls": [url(working), url(failing)], "timeout": 10}))
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(notification(dedup_key="g:1"))
        assert not info.value.permanent and "urls[1]" in info.value.reason
        failing.status = 200
        await notifier.send(notification(dedup_key="g:1"))
        await notifier.send(notification(dedup_key="g:2"))  # a new one goes to both
    finally:
        await notifier.aclose()
    assert len(working.json_bodies()) == 2
    assert [r["answered"] for r in failing.requests] == [500, 200, 200]


async def test_service_tokens_stay_out_of_errors_and_logs(
    servers: tuple[TargetServer, TargetServer], store: StateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, failing = servers
    failing.status = 403
    notifier = build_notifier(AppriseReceiverSpec.model_validate(
        {"name": "chat", "urls": [f"json://user:{TOKEN}@127.0.0.1:{failing.port}/{TOKEN}x"]}))
    store.enqueue("g:1", "chat", notification(), 1.0)
    dispatcher = Dispatcher(store, {"chat": notifier}, RetrySettings())
    try:
        await dispatcher.step(1.0)
    finally:
        await dispatcher.aclose()
    [item] = store.outbox_items("pending")  # apprise cannot say why: retry
    assert item.last_error is not None and "1 of 1 service(s) failed" in item.last_error
    assert any(r.name.startswith("apprise") for r in caplog.records)
    assert len(failing.requests) == 1 and json.loads(failing.requests[0]["body"])
    for text in (item.last_error, caplog.text, repr(notifier)):
        assert TOKEN not in text
