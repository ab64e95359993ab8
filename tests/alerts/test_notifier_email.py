"""The e-mail notifier: the MIME message it builds, and how SMTP failures are judged,
table-driven and against a real aiosmtpd server on 127.0.0.1 (STARTTLS + AUTH)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import trustme

from alerts.dispatcher import Dispatcher
from alerts.notifiers import NotifierOptions, NotifyError, build_notifier
from alerts.notifiers.email import build_message, smtp_error
from alerts.receiver_specs import EmailReceiverSpec, RetrySettings
from monitor.app.store import StateStore
from tests.alerts.notification_samples import notification
from tests.alerts.smtp_server import PASSWORD, USER, SmtpServer, start_smtp, write_ca
from tests.helpers import free_port

NOW = 1_800_000_000.0


def spec(port: int, ca_file: Path | None = None, **fields: Any) -> EmailReceiverSpec:
    return EmailReceiverSpec.model_validate({
        "name": "mail", "host": "127.0.0.1", "port": port, "username": USER,
        "password": PASSWORD, "from": "Vigil <vigil@example.org>",
        "to": ["oncall@example.org", "lead@example.org"], "timeout": 5, "ca_file": ca_file,
        **fields})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[SmtpServer]:
    server = start_smtp(ca)
    yield server
    server.stop()


async def send(mail: EmailReceiverSpec, payload: dict[str, Any]) -> NotifyError | None:
    notifier = build_notifier(mail, NotifierOptions(clock=lambda: NOW))
    try:
        await notifier.send(payload)
    except NotifyError as exc:
        return exc
    finally:
        await notifier.aclose()
    return None


def test_the_message_is_multipart_alternative_text_then_html() -> None:
    message = build_message(notification(title="[CRITICAL] a\nBcc: x@evil.example"),
                            spec(25), NOW)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert "What to do" in text.get_content()
    assert "HTTP 503 &amp; more" in html.get_content()
    assert message["Subject"] == "[CRITICAL] a Bcc: x@evil.example"  # no header injection
    assert message["Bcc"] is None
    assert message["To"] == "oncall@example.org, lead@example.org"
    assert message["Date"] == "Fri, 15 Jan 2027 08:00:00 -0000"
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_retried_notification_keeps_its_message_id_and_a_group_threads() -> None:
    first = build_message(notification(dedup_key="g:1"), spec(25), NOW)
    again = build_message(notification(dedup_key="g:1"), spec(25), NOW + 60)
    other = build_message(notification(dedup_key="g:2"), spec(25), NOW)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@example.org>")
    assert first["References"] == other["References"]


@pytest.mark.parametrize(("exc", "permanent"), [
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"), True),
    (aiosmtplib.SMTPSenderRefused(553, "sender not allowed", "vigil@example.org"), True),
    (aiosmtplib.SMTPDataError(554, "5.7.1 message rejected as spam"), True),
    (aiosmtplib.SMTPDataError(451, "4.3.0 try again later"), False),
    (aiosmtplib.SMTPResponseException(421, "4.7.0 too busy"), False),
    (aiosmtplib.SMTPRecipientsRefused([
        aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@example.org")]), True),
    (aiosmtplib.SMTPRecipientsRefused([
        aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@example.org"),
        aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "b@example.org")]), False),
    (aiosmtplib.SMTPNotSupported("SMTP STARTTLS extension not supported by server."), True),
    (aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 587"), False),
    (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), False),
    (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), False),
    (aiosmtplib.SMTPServerDisconnected("Unexpected EOF"), False),
    (ConnectionRefusedError(111, "Connection refused"), False),
    (TimeoutError(), False),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_smtp_failures_are_judged_permanent_or_retryable(exc: Exception, permanent: bool) -> None:
    error = smtp_error(exc, "smtp relay:587")
    assert error.permanent is permanent and error.reason.startswith("smtp relay:587: ")


async def test_wrong_credentials_against_a_real_server_are_permanent_and_never_echoed(
    smtp: SmtpServer, ca: trustme.CA, tmp_path: Path, store: StateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wr0ng-pa55w0rd-value"
    notifier = build_notifier(spec(smtp.port, write_ca(ca, tmp_path), password=wrong))
    store.enqueue("g:1", "mail", notification(), 1.0)
    dispatcher = Dispatcher(store, {"mail": notifier}, RetrySettings())
    try:
        await dispatcher.step(1.0)
    finally:
        await dispatcher.aclose()

    [item] = store.outbox_items("failed")
    assert item.last_error is not None and "authentication failed (535" in item.last_error
    assert set(smtp.inbox.logins) == {USER} and smtp.inbox.messages == []  # each mechanism
    for text in (item.last_error, caplog.text, repr(notifier)):
        assert wrong not in text and PASSWORD not in text


async def test_a_4xx_reply_to_the_message_is_retryable(
    smtp: SmtpServer, ca: trustme.CA, tmp_path: Path
) -> None:
    smtp.inbox.reply = "451 4.3.0 queue full, try again later"
    error = await send(spec(smtp.port, write_ca(ca, tmp_path)), notification())
    assert error is not None and not error.permanent and "SMTP 451" in error.reason


async def test_a_5xx_reply_to_the_message_is_permanent(
    smtp: SmtpServer, ca: trustme.CA, tmp_path: Path
) -> None:
    smtp.inbox.reply = "554 5.7.1 rejected by policy"
    error = await send(spec(smtp.port, write_ca(ca, tmp_path)), notification())
    assert error is not None and error.permanent and "SMTP 554" in error.reason


async def test_a_refused_connection_is_retryable() -> None:
    error = await send(spec(free_port()), notification())
    assert error is not None and not error.permanent
    assert error.reason.startswith("smtp 127.0.0.1:")


async def test_a_certificate_from_an_unknown_ca_is_retryable_not_silently_accepted(
    smtp: SmtpServer
) -> None:
    error = await send(spec(smtp.port), notification())  # no ca_file: system store only
    assert error is not None and not error.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in error.reason or "certificate" in error.reason.lower()
    assert smtp.inbox.logins == []  # the password never left before TLS was verified
