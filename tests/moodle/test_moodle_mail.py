"""moodle_mail against a real SMTP server (aiosmtpd on loopback) and a closed port, with
Moodle's settings and email_failed events in a Moodle-shaped PostgreSQL/MariaDB database."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.mail import EMAIL_FAILED, METRICS, MailCheck, MailSpec, parse_smtphosts
from checks.moodle.settings import MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.sitedir import make_site


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Recorder:
    """An aiosmtpd handler that records EHLO names and any attempt to send."""

    def __init__(self) -> None:
        self.ehlo: list[str] = []
        self.mail_from: list[str] = []

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        self.ehlo.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        self.mail_from.append(address)
        return "250 OK"


class Smtp:
    def __init__(self, recorder: Recorder, port: int) -> None:
        self.recorder, self.port = recorder, port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def start(tls_context: ssl.SSLContext | None = None) -> tuple[Controller, Smtp]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=tls_context,
                            require_starttls=False)
    controller.start()
    return controller, Smtp(recorder, port)


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    controller, server = start()
    yield server
    controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_tls(ca: trustme.CA) -> Iterator[Smtp]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    controller, server = start(context)
    yield server
    controller.stop()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


async def run(ctx: CheckContext, **fields: Any) -> Result:
    spec = MailSpec.model_validate({"type": "moodle_mail", "timeout": 5, "helo_name": "vigil.test",
                                    **fields})
    result = await MailCheck(spec).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and sample.name in METRICS, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def value(result: Result, name: str, **labels: str) -> float | None:
    found = [s.value for s in result.samples if s.name == name and dict(s.labels) == labels]
    return found[0] if found else None


def site(db: MoodleDouble, smtphosts: str, **config: Any) -> MoodleDouble:
    db.scenario.healthy_site().set_config("smtphosts", smtphosts)
    for name, setting in config.items():
        db.scenario.set_config(name, setting)
    return db


# ------------------------------------------------------------------ SMTP
async def test_healthy_smtp_answers_ehlo_and_nothing_is_sent(
    moodle_db: MoodleDouble, moodle_ctx: CheckContext, smtp: Smtp
) -> None:
    site(moodle_db, smtp.host)

    result = await run(moodle_ctx)

    assert result.status is Status.OK, result.summary
    assert result.summary.startswith(f"SMTP {smtp.host} answers EHLO in ")
    assert value(result, "lms_moodle_smtp_up", host=smtp.host) == 1.0
    assert value(result, "lms_moodle_smtp_starttls", host=smtp.host) == 0.0
    assert value(result, "lms_moodle_noemailever") == 0.0
    assert value(result, "lms_moodle_email_failed_events") == 0.0
    assert smtp.recorder.ehlo == ["vigil.test"] and smtp.recorder.mail_from == []


async def test_closed_port_is_critical_with_the_cause(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    site(moodle_db_fast, closed)

    result = await run(moodle_ctx_fast)

    assert result.status is Status.CRITICAL
    assert result.summary == f"no SMTP host answers: {closed} connection refused"
    assert value(result, "lms_moodle_smtp_up", host=closed) == 0.0


async def test_a_dead_primary_with_a_live_backup_is_a_warning(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp: Smtp
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    site(moodle_db_fast, f"{closed};{smtp.host}")

    result = await run(moodle_ctx_fast)

    assert result.status is Status.WARNING
    assert f"SMTP host down: {closed} connection refused (mail goes through {smtp.host})" \
        in result.summary


async def test_smtpsecure_tls_without_starttls_offered_is_critical(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp: Smtp
) -> None:
    site(moodle_db_fast, smtp.host, smtpsecure="tls")

    result = await run(moodle_ctx_fast)

    assert result.status is Status.CRITICAL
    assert "no STARTTLS offered but smtpsecure is 'tls'" in result.summary


async def test_starttls_is_used_when_offered_and_the_certificate_checked(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp_tls: Smtp, ca_file: Path
) -> None:
    site(moodle_db_fast, smtp_tls.host)  # smtpsecure '': PHPMailer's SMTPAutoTLS

    trusted = await run(moodle_ctx_fast, ca_file=ca_file)
    untrusted = await run(moodle_ctx_fast)

    assert trusted.status is Status.OK, trusted.summary
    assert trusted.summary.endswith(", STARTTLS")
    assert value(trusted, "lms_moodle_smtp_starttls", host=smtp_tls.host) == 1.0
    assert untrusted.status is Status.CRITICAL
    assert "certificate verify failed" in untrusted.summary
    # Trusted: EHLO before and after STARTTLS; untrusted: EHLO, then the handshake fails.
    assert smtp_tls.recorder.ehlo.count("vigil.test") == 3


async def test_php_mail_needs_no_smtp_probe(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext
) -> None:
    site(moodle_db_fast, "")

    result = await run(moodle_ctx_fast)

    assert result.status is Status.OK
    assert result.summary == ("mail goes through PHP mail() (smtphosts empty): no SMTP host "
                              "to probe")


# ------------------------------------------------------------------ noemailever
async def test_noemailever_in_the_config_table_warns(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp: Smtp
) -> None:
    site(moodle_db_fast, smtp.host, noemailever=1)

    result = await run(moodle_ctx_fast)

    assert result.status is Status.WARNING
    assert result.summary == "noemailever is on: Moodle sends no e-mail at all"
    assert value(result, "lms_moodle_noemailever") == 1.0


async def test_config_php_overrides_the_table_for_noemailever_and_smtphosts(
    moodle_db_fast: MoodleDouble, now: float, tmp_path: Path, smtp: Smtp
) -> None:
    site(moodle_db_fast, f"127.0.0.1:{free_port()}", noemailever=0)  # both overridden
    fake = make_site(tmp_path, config_extra=f"$CFG->noemailever = true;\n"
                                            f"$CFG->smtphosts = '{smtp.host}';")
    ctx = make_moodle_ctx(moodle_db_fast.settings, now, fake.root, None)
    try:
        result = await run(ctx)
    finally:
        ctx.site.close()

    assert result.status is Status.WARNING
    assert result.summary == "noemailever is on: Moodle sends no e-mail at all"
    assert value(result, "lms_moodle_smtp_up", host=smtp.host) == 1.0


# ------------------------------------------------------------------ email_failed
async def test_email_failed_events_in_the_window_are_counted_and_warn(
    moodle_db: MoodleDouble, moodle_ctx: CheckContext, now: float, smtp: Smtp
) -> None:
    site(moodle_db, smtp.host)
    for i in range(6):
        moodle_db.scenario.log_event(EMAIL_FAILED, userid=3, at=int(now) - 60 + i, other={
            "subject": "Forum digest", "message": "...",
            "errorinfo": f"SMTP Error: data not accepted ({i})"})
    moodle_db.scenario.log_event(EMAIL_FAILED, at=int(now) - 3600, other={"errorinfo": "old"})

    result = await run(moodle_ctx)

    assert result.status is Status.WARNING
    assert result.summary == ("6 email_failed events in the last 5m (last: SMTP Error: data "
                              "not accepted (5))")
    assert value(result, "lms_moodle_email_failed_events") == 6.0


async def test_php_serialised_other_is_read_and_a_few_failures_pass(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, now: float, smtp: Smtp
) -> None:
    site(moodle_db_fast, smtp.host)
    moodle_db_fast.scenario.log_event(EMAIL_FAILED, at=int(now) - 10, serialized=True,
                                      other={"errorinfo": "Could not instantiate mail"})

    result = await run(moodle_ctx_fast, failed_window="1h")

    assert result.status is Status.OK
    assert result.details["email_failed"] == {
        "count": 1, "window_seconds": 3600.0, "last_errorinfo": "Could not instantiate mail"}


async def test_without_the_standard_log_store_failures_are_not_visible(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp: Smtp
) -> None:
    site(moodle_db_fast, smtp.host)
    moodle_db_fast.scenario.set_plugin_config("tool_log", "enabled_stores", "")

    result = await run(moodle_ctx_fast)

    assert result.status is Status.OK
    assert value(result, "lms_moodle_email_failed_events") is None
    assert "not visible" in result.details["email_failed"]


async def test_a_missing_log_table_is_unknown_with_the_cause(
    moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, smtp: Smtp
) -> None:
    site(moodle_db_fast, smtp.host)
    moodle_db_fast.drop_table("logstore_standard_log")

    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)


async def test_no_database_configured_is_unknown() -> None:
    ctx = make_moodle_ctx(None, 0.0, None, None)
    ctx.site = MoodleSite(MoodleSettings())

    with pytest.raises(CheckUnavailable, match="no database configured"):
        await run(ctx)


# ------------------------------------------------------------------ smtphosts syntax
@pytest.mark.parametrize(("value", "secure", "expected"), [
    ("smtp.example.com", "", [("smtp.example.com", 25, "")]),
    ("a.example:587;tls://b.example:2525; ssl://c.example ", "",
     [("a.example", 587, ""), ("b.example", 2525, "tls"), ("c.example", 25, "ssl")]),
    ("mail.example:465", "ssl", [("mail.example", 465, "ssl")]),
    ("[::1]:2525;;", "TLS", [("::1", 2525, "tls")]),
    ("", "", []),
])
def test_smtphosts_are_read_as_phpmailer_reads_them(
    value: str, secure: str, expected: list[tuple[str, int, str]]
) -> None:
    assert [(h.host, h.port, h.secure) for h in parse_smtphosts(value, secure)] == expected
