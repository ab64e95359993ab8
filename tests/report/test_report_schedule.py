"""The scheduled report: ``[report]`` validation, the period boundaries, and a report
mailed through the real dispatcher and e-mail notifier to a real SMTP server (aiosmtpd,
STARTTLS + AUTH) and written as a PDF by real Chromium, once only across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from alerts.dispatcher import Dispatcher
from alerts.notifiers import NotifierOptions, build_notifiers
from monitor.app.config import ConfigError, load_config
from monitor.app.report.schedule import ReportSchedule, last_period
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.redact import SecretRegistry
from tests.alerts.smtp_server import SmtpServer, start_smtp, write_ca
from tests.report.seed import DAY, SECRET, T0, UNTIL, seed, write_config


def test_weekly_periods_run_monday_to_monday_utc():
    wednesday = datetime(2026, 12, 9, 15, 30, tzinfo=UTC).timestamp()
    since, until = last_period(7 * DAY, wednesday)
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 11, 30, tzinfo=UTC)
    assert datetime.fromtimestamp(until, UTC) == datetime(2026, 12, 7, tzinfo=UTC)
    assert last_period(DAY, wednesday)[1] == datetime(2026, 12, 9, tzinfo=UTC).timestamp()
    assert last_period(7 * DAY, UNTIL) == (T0, UNTIL)  # a boundary belongs to the period it ends


@pytest.mark.parametrize(("table", "problem"), [
    ('receivers = ["nobody"]', "report.receivers[0]: no receiver named 'nobody'"),
    ('receivers = ["hook"]', "report.receivers[0]: receiver 'hook' is of type 'webhook'"),
    ('receivers = ["mail"]\nlms = ["prod", "ghost"]', "report.lms[1]: no LMS named 'ghost'"),
    ('every = "7d"', "report: set receivers (e-mail receivers of [alerts]) or directory"),
    ('receivers = ["mail"]\nevery = "10m"', "report.every: must be at least 1h"),
    ('receivers = ["mail"]\ntimezone = "Mars/Olympus"',
     "report.timezone: 'Mars/Olympus' is not an IANA timezone"),
    ('directory = "reports"', "report.directory: must be an absolute path"),
    ('receivers = ["mail"]\nformat = "docx"', "report.format: Input should be 'html' or 'pdf'"),
])
def test_a_bad_report_section_is_refused_naming_the_field(tmp_path, table, problem):
    path = write_config(tmp_path, report=f"\n[report]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"SMTP_PASSWORD": SECRET})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_default_report_is_weekly_in_html(tmp_path):
    path = write_config(tmp_path, report='\n[report]\nreceivers = ["mail"]\n')
    report = load_config(path, env={"SMTP_PASSWORD": SECRET}).report
    assert report is not None
    assert (report.every, report.format, report.lms, report.directory) == (
        7 * DAY, "html", None, None)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[SmtpServer, Path]]:
    ca = trustme.CA()
    server = start_smtp(ca)
    yield server, write_ca(ca, tmp_path)
    server.stop()


@pytest.mark.integration
async def test_the_weekly_report_is_mailed_and_filed_once(tmp_path, smtp):
    server, ca_file = smtp
    out = tmp_path / "reports"
    path = write_config(tmp_path, smtp_port=server.port, ca_file=ca_file, report=(
        f'\n[report]\nreceivers = ["mail"]\nlms = ["prod"]\ndirectory = "{out}"\n'
        'format = "pdf"\n'))
    seed(path)
    secrets = SecretRegistry()  # filled by load_config, as the daemon's
    config = load_config(path, env={"SMTP_PASSWORD": SECRET}, secrets=secrets)
    now = UNTIL + 3600  # Monday 01:00: the week just ended is due
    store = StateStore(config.state.dir / STATE_FILE)
    dispatcher = Dispatcher(store, build_notifiers(config.alerts, NotifierOptions(
        clock=lambda: now)), config.alerts.retry)
    try:
        schedule = ReportSchedule(store, lambda: config, lambda: now, wake=dispatcher.wake,
                                  secrets=secrets)
        assert await schedule.step() == 1
        assert await dispatcher.step(now) == 1
        assert await schedule.step() == 0  # done for this period
        # A restart: a new schedule renders again, but the outbox key says it was sent.
        assert await ReportSchedule(store, lambda: config, lambda: now,
                                     secrets=secrets).step() == 1
        await dispatcher.step(now + 60)
    finally:
        await dispatcher.aclose()
        store.close()
    [(envelope, message)] = server.inbox.messages
    assert envelope.rcpt_tos == ["boss@example.org"]
    assert message["Subject"] == "Vigil report for prod: 2024-03-04 to 2024-03-11"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Mean time to resolve:      8h 30m" in text and "Maintenance windows held:  4" in text
    assert html.count("<svg") == 3 and "99.107%" in html
    assert SECRET not in message.as_string()
    [pdf] = out.iterdir()
    assert pdf.name == "prod-2024-03-11.pdf" and pdf.read_bytes().startswith(b"%PDF-")
