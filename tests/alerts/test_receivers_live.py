"""Every receiver against a real counterpart on 127.0.0.1: an SMTP server (aiosmtpd, with
STARTTLS or TLS and AUTH), the Debian ``prometheus-alertmanager`` read back through its
own API, a local HTTP server for the webhook v4 and PagerDuty Events v2 bodies, and
apprise's ``json://`` service. Bodies are checked against the documented formats."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from alerts.notifiers import Notifier, NotifierOptions, build_notifier
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.receiver_specs import (
    AlertmanagerReceiverSpec,
    AppriseReceiverSpec,
    EmailReceiverSpec,
    PagerDutyReceiverSpec,
    WebhookReceiverSpec,
)
from tests.alerts.notification_samples import notification, snapshot
from tests.alerts.smtp_server import PASSWORD, USER, SmtpServer, start_smtp, write_ca
from tests.conftest import FakeClock
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


@pytest.fixture
async def notifiers() -> AsyncIterator[list[Notifier]]:
    built: list[Notifier] = []
    yield built
    for notifier in built:
        await notifier.aclose()


def build(built: list[Notifier], spec: Any, **options: Any) -> Notifier:
    notifier = build_notifier(spec, NotifierOptions(**options))
    built.append(notifier)
    return notifier


# -- e-mail -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=["starttls", "tls"])
def smtp(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[str, SmtpServer]]:
    server = start_smtp(ca, implicit_tls=request.param == "tls")
    yield request.param, server
    server.stop()


# aiosmtpd warns that AUTH does not require STARTTLS: with implicit TLS it cannot tell.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_smtp_server_receives_one_multipart_mail_over_tls_with_auth(
    smtp: tuple[str, SmtpServer], ca: trustme.CA, tmp_path: Path, notifiers: list[Notifier],
) -> None:
    security, server = smtp
    spec = EmailReceiverSpec.model_validate({
        "name": "mail", "host": "127.0.0.1", "port": server.port, "security": security,
        "username": USER, "password": PASSWORD, "from": "Vigil <vigil@example.org>",
        "to": ["oncall@example.org", "lead@example.org"], "timeout": 10,
        "ca_file": str(write_ca(ca, tmp_path))})

    await build(notifiers, spec, clock=lambda: 1_800_000_000.0).send(notification())

    [(envelope, message)] = server.inbox.messages
    assert envelope.mail_from == "vigil@example.org"
    assert envelope.rcpt_tos == ["oncall@example.org", "lead@example.org"]
    assert server.inbox.logins == [USER]
    assert message["Subject"] == "[CRITICAL] moodle-prod: homepage is failing"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain" and "What to do" in text.get_content()
    assert html.get_content_type() == "text/html" and "&amp;" in html.get_content()


# -- Alertmanager ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(ALERTMANAGER).exists():
        pytest.fail("prometheus-alertmanager not installed: run scripts/test.sh, which installs it",
                    pytrace=False)
    work = tmp_path_factory.mktemp("alertmanager")
    (work / "alertmanager.yml").write_text(
        'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    log = (work / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={work / 'alertmanager.yml'}",
         f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],  # no gossip port: one instance on loopback
        stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, 30,
                 "alertmanager ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def am_alerts(url: str, **params: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{url}/api/v2/alerts", params=params, timeout=5)
    response.raise_for_status()
    return {a["labels"]["check"]: a for a in response.json()}


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_alertmanager_lists_the_pushed_alerts_with_their_labels_until_resolved(
    alertmanager: str, notifiers: list[Notifier]
) -> None:
    # Alertmanager judges endsAt by its own clock: ours starts at the real time.
    clock = FakeClock(start=time.time())
    am = build(notifiers, AlertmanagerReceiverSpec(name="am", url=alertmanager),
               clock=clock.time)
    assert isinstance(am, AlertmanagerNotifier)
    started = clock.time() - 120
    homepage = snapshot(check="live-homepage", fingerprint="1" * 16, started_at=started,
                        labels={"team": "elearning", "check": "live-homepage"})
    cron = snapshot(check="live-cron", fingerprint="2" * 16, severity="warning",
                    started_at=started, labels={"check": "live-cron", "severity": "warning"})

    await am.send(notification(homepage, cron))

    listed = wait_for(lambda: (a := am_alerts(alertmanager)) and {
        "live-homepage", "live-cron"} <= set(a) and a, 10, "alerts in alertmanager")
    first = listed["live-homepage"]
    assert first["labels"] == {"alertname": "LmsCheckFailing", "lms": "moodle-prod",
                               "check": "live-homepage", "check_type": "http",
                               "severity": "critical", "team": "elearning"}
    assert first["status"]["state"] == "active"
    assert first["annotations"]["summary"] == "HTTP 503 after 1.2s"
    assert first["generatorURL"].endswith("1" * 16)
    assert parse_time(first["startsAt"]) == pytest.approx(started, abs=0.01)
    assert parse_time(first["endsAt"]) == pytest.approx(clock.time() + 240, abs=0.01)

    clock.advance(60)  # the re-send moves endsAt forward, as Prometheus' re-sends do
    assert await am.refresh(clock.time()) == 2
    refreshed = wait_for(lambda: (a := am_alerts(alertmanager)) and parse_time(
        a["live-homepage"]["endsAt"]) > clock.time() + 200 and a, 10, "refreshed endsAt")
    assert parse_time(refreshed["live-homepage"]["endsAt"]) == pytest.approx(
        clock.time() + 240, abs=0.01)

    resolved = snapshot("resolved", check="live-homepage", fingerprint="1" * 16,
                        transition=2, started_at=started, ended_at=time.time() - 1,
                        labels={"team": "elearning", "check": "live-homepage"})
    await am.send(notification(resolved))
    remaining = wait_for(lambda: "live-homepage" not in (a := am_alerts(
        alertmanager, active="true")) and a, 10, "resolved alert gone from active")
    assert set(remaining) >= {"live-cron"}


def self_alert(change: str, receiver: str) -> dict[str, Any]:
    """A receiver_health message as Router.enqueue_message queues it."""
    return notification(
        reason="self", status="firing" if change == "failed" else "resolved",
        group_labels={"receiver": receiver}, common_labels={"receiver": receiver},
        dedup_key=f"self-{receiver}-{change}", title=f"Receiver {receiver} {change}")


async def test_alertmanager_keeps_a_failed_receiver_alert_active_until_it_recovers(
    alertmanager: str, notifiers: list[Notifier]
) -> None:
    clock = FakeClock(start=time.time())
    am = build(notifiers, AlertmanagerReceiverSpec(name="am", url=alertmanager),
               clock=clock.time)
    assert isinstance(am, AlertmanagerNotifier)

    def listed(**params: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5, params={
            "filter": ['alertname="VigilNotice"', 'receiver="live-chat"'], **params})
        response.raise_for_status()
        return list(response.json())

    await am.send(self_alert("failed", "live-chat"))
    [failed] = wait_for(lambda: listed(active="true"), 10, "self-alert in alertmanager")
    assert failed["labels"] == {"alertname": "VigilNotice", "reason": "self",
                                "receiver": "live-chat"}
    assert parse_time(failed["endsAt"]) == pytest.approx(clock.time() + 240, abs=0.01)

    clock.advance(60)  # still failed: the refresh moves endsAt forward
    assert await am.refresh(clock.time(), set(), {"live-chat"}) == 1
    wait_for(lambda: (a := listed()) and parse_time(a[0]["endsAt"]) > clock.time() + 200,
             10, "refreshed self-alert")

    clock.now = time.time()  # back to Alertmanager's clock, which judges endsAt = now
    await am.send(self_alert("recovered", "live-chat"))
    wait_for(lambda: not listed(active="true"), 10, "self-alert resolved")
    # Ended, not fired anew (the old notice lived on for 4 resend intervals), and no
    # longer kept alive.
    assert listed() == [] and am.next_refresh_at() is None


# -- webhook and PagerDuty bodies at a local HTTP server ------------------------------
async def test_the_webhook_receiver_gets_alertmanager_v4_json_with_every_alert(
    http_receiver: Any, notifiers: list[Notifier]
) -> None:
    hook = build(notifiers, WebhookReceiverSpec(name="hook", url=http_receiver.url))
    await hook.send(notification(snapshot(), snapshot("resolved", fingerprint="f" * 16,
                                                      transition=2)))

    [request] = http_receiver.requests
    body = request["body"]
    # Types as in Alertmanager's notify/webhook.Message and template.Data/Alert.
    for key, kind in {"version": str, "groupKey": str, "truncatedAlerts": int, "status": str,
                      "receiver": str, "groupLabels": dict, "commonLabels": dict,
                      "commonAnnotations": dict, "externalURL": str, "alerts": list}.items():
        assert isinstance(body[key], kind), key
    assert body["version"] == "4" and body["status"] == "firing"
    assert [a["status"] for a in body["alerts"]] == ["firing", "resolved"]
    for alert in body["alerts"]:
        assert all(isinstance(v, str) for v in [*alert["labels"].values(),
                                                *alert["annotations"].values()])
        assert parse_time(alert["startsAt"]) == 1_700_000_000.0
        zero = alert["endsAt"] == "0001-01-01T00:00:00Z"  # Go's zero time: still firing
        assert zero == (alert["status"] == "firing") or parse_time(alert["endsAt"]) > 0
        assert alert["dedupKey"].startswith(alert["fingerprint"] + ":")
    assert request["headers"]["Idempotency-Key"] == "grp-0001:1"


async def test_the_pagerduty_endpoint_gets_documented_events_v2_bodies(
    http_receiver: Any, notifiers: list[Notifier]
) -> None:
    key = "0123456789abcdef0123456789abcdef"  # the documented 32-character integration key
    pager = build(notifiers, PagerDutyReceiverSpec(
        name="pd", routing_key=key, url=http_receiver.url))  # type: ignore[arg-type]
    http_receiver.statuses = [202, 202, 202]

    await pager.send(notification(snapshot()))
    await pager.send(notification(snapshot(kind="acknowledged")))
    await pager.send(notification(snapshot("resolved", transition=2)))

    trigger, ack, resolve = (r["body"] for r in http_receiver.requests)
    for event, action in ((trigger, "trigger"), (ack, "acknowledge"), (resolve, "resolve")):
        assert (event["routing_key"], event["event_action"]) == (key, action)
        assert event["dedup_key"] == "0123456789abcdef" and len(event["dedup_key"]) <= 255
    payload = trigger["payload"]
    assert {"summary", "source", "severity"} <= set(payload)  # required by the docs
    assert 0 < len(payload["summary"]) <= 1024 and payload["source"]
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    assert parse_time(payload["timestamp"]) == 1_700_000_000.0  # ISO 8601
    assert isinstance(payload["custom_details"], dict)
    assert all("href" in link for link in trigger["links"])
    assert "payload" not in ack and "payload" not in resolve

    http_receiver.statuses = [202, 202]
    await pager.send(self_alert("failed", "mail"))
    await pager.send(self_alert("recovered", "mail"))
    opened, closed = (r["body"] for r in http_receiver.requests[3:])
    assert (opened["event_action"], closed["event_action"]) == ("trigger", "resolve")
    assert opened["dedup_key"] == closed["dedup_key"] == "vigil-self:mail"
    assert {"summary", "source", "severity"} <= set(opened["payload"])
    assert set(closed) == {"routing_key", "event_action", "dedup_key"}


# -- apprise --------------------------------------------------------------------------
async def test_an_apprise_json_url_delivers_title_and_text_to_a_local_endpoint(
    http_receiver: Any, notifiers: list[Notifier]
) -> None:
    port = http_receiver.url.split(":")[2].split("/")[0]
    chat = build(notifiers, AppriseReceiverSpec.model_validate(
        {"name": "chat", "urls": [f"json://127.0.0.1:{port}/apprise-hook"]}))

    await chat.send(notification(snapshot("resolved", transition=2), status="resolved"))

    [request] = http_receiver.requests
    assert request["path"] == "/apprise-hook"
    body = request["body"]
    assert body["title"] == "[CRITICAL] moodle-prod: homepage is failing"
    assert body["message"].startswith("moodle-prod homepage")
    assert body["type"] == "success"
