"""Receiver settings in the config file: every type loads from TOML, secrets stay hidden,
and every bad value is reported with the path the admin wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.receiver_specs import (
    AlertmanagerReceiverSpec,
    AppriseReceiverSpec,
    EmailReceiverSpec,
    PagerDutyReceiverSpec,
)
from monitor.app.config import ConfigError, parse_config

LMS = '[[lms]]\nname = "m"\nurl = "https://lms.example.org"\n'
ENV = {"SMTP_PASSWORD": "smtp-s3cret", "PD_KEY": "pd-s3cret-routing-key",
       "SLACK": "slack://T0KENA/B0KENB/C0KENC"}

ALL_RECEIVERS = '''
[[alerts.receivers]]
type = "email"
name = "oncall-mail"
host = "smtp.example.org"
username = "vigil"
password = "${SMTP_PASSWORD}"
from = "Vigil <vigil@example.org>"
to = ["oncall@example.org"]

[[alerts.receivers]]
type = "alertmanager"
name = "am"
urls = ["http://am1:9093", "http://am2:9093"]
resend_interval = "30s"

[[alerts.receivers]]
type = "pagerduty"
name = "pager"
routing_key = "${PD_KEY}"

[[alerts.receivers]]
type = "apprise"
name = "chat"
urls = ["${SLACK}", "ntfys://ntfy.example.org/lms-alerts"]
body_format = "markdown"
'''


def problems(receiver: str, env: dict[str, str] | None = None) -> list[str]:
    text = LMS + '[[alerts.receivers]]\ntype = "log"\nname = "log"\n' + receiver
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env or {})
    return caught.value.problems


def test_every_receiver_type_loads_with_its_defaults_and_hides_its_secrets() -> None:
    config = parse_config(LMS + ALL_RECEIVERS, env=ENV)
    mail, am, pager, chat = config.alerts.receivers
    assert isinstance(mail, EmailReceiverSpec)
    assert (mail.security, mail.smtp_port, mail.sender) == (
        "starttls", 587, "Vigil <vigil@example.org>")
    assert isinstance(am, AlertmanagerReceiverSpec)
    assert (am.endpoints, am.resend_interval) == (["http://am1:9093", "http://am2:9093"], 30.0)
    assert isinstance(pager, PagerDutyReceiverSpec)
    assert pager.url == "https://events.pagerduty.com/v2/enqueue"
    assert isinstance(chat, AppriseReceiverSpec) and chat.body_format == "markdown"
    for secret in ENV.values():
        assert secret not in repr(config) and secret not in str(config.alerts.model_dump())


@pytest.mark.parametrize(("port", "security", "expected"), [
    (None, "starttls", 587), (None, "tls", 465), (None, "none", 25), (2525, "tls", 2525)])
def test_the_smtp_port_follows_the_security_mode(
    port: int | None, security: str, expected: int
) -> None:
    spec = EmailReceiverSpec.model_validate({
        "name": "m", "host": "relay", "port": port, "security": security,
        "from": "a@example.org", "to": ["b@example.org"]})
    assert spec.smtp_port == expected


@pytest.mark.parametrize(("receiver", "expected"), [
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp example"\nfrom="a@example.org"'
     '\nto=["b@example.org"]', "alerts.receivers[1].host: "),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"\nto=[]',
     "alerts.receivers[1].to: "),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"'
     '\nto=["nobody"]', "alerts.receivers[1].to[0]: 'nobody' is not an e-mail address"),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nto=["b@example.org"]',
     "alerts.receivers[1].from: required key is missing"),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"'
     '\nto=["b@example.org"]\nport=70000', "alerts.receivers[1].port: must be <= 65535"),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"'
     '\nto=["b@example.org"]\nsecurity="none"\nusername="u"\npassword="p"',
     'alerts.receivers[1]: SMTP AUTH needs security = "starttls" or "tls"'),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"'
     '\nto=["b@example.org"]\nusername="u"', "alerts.receivers[1]: set both username and"),
    ('[[alerts.receivers]]\ntype="email"\nname="m"\nhost="smtp"\nfrom="a@example.org"'
     '\nto=["b@example.org"]\nca_file="/nonexistent/ca.pem"',
     "alerts.receivers[1].ca_file: /nonexistent/ca.pem is not a file"),
    ('[[alerts.receivers]]\ntype="alertmanager"\nname="am"',
     "alerts.receivers[1]: set either url or urls"),
    ('[[alerts.receivers]]\ntype="alertmanager"\nname="am"\nurls=["am1:9093"]',
     "alerts.receivers[1].urls[0]: "),
    ('[[alerts.receivers]]\ntype="alertmanager"\nname="am"\nurl="http://am:9093"'
     '\nresend_interval="0s"', "alerts.receivers[1].resend_interval: must be > 0"),
    ('[[alerts.receivers]]\ntype="pagerduty"\nname="pd"', "alerts.receivers[1].routing_key: "
     "required key is missing"),
    ('[[alerts.receivers]]\ntype="pagerduty"\nname="pd"\nrouting_key=" "',
     "alerts.receivers[1].routing_key: must not be empty"),
    ('[[alerts.receivers]]\ntype="pagerduty"\nname="pd"\nrouting_key="k"\nurl="ftp://x"',
     "alerts.receivers[1].url: must be an absolute http:// or https:// URL"),
    ('[[alerts.receivers]]\ntype="apprise"\nname="chat"\nurls=["json://h/ok", "bogus://T0K"]',
     "alerts.receivers[1].urls[1]: not a URL apprise supports"),
    ('[[alerts.receivers]]\ntype="apprise"\nname="chat"\nurls=[]', "alerts.receivers[1].urls: "),
    ('[[alerts.receivers]]\ntype="apprise"\nname="chat"\nurls=["json://h"]\nbody_format="rtf"',
     "alerts.receivers[1].body_format: "),
    ('[[alerts.receivers]]\ntype="sms"\nname="x"', "alerts.receivers[1]: "),
])
def test_a_bad_receiver_setting_names_its_path(receiver: str, expected: str) -> None:
    found = problems(receiver)
    assert any(p.startswith(expected) for p in found), found


def test_a_rejected_apprise_url_is_not_echoed_in_the_error() -> None:
    [problem] = problems('[[alerts.receivers]]\ntype="apprise"\nname="chat"\nurls=["${SLACK}x"]',
                         env={"SLACK": "bogus://T0KENA/B0KENB"})
    assert problem == "alerts.receivers[1].urls[0]: not a URL apprise supports"


def test_an_existing_email_ca_file_is_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    spec = EmailReceiverSpec.model_validate({
        "name": "m", "host": "relay", "from": "a@example.org", "to": ["b@example.org"],
        "ca_file": str(ca)})
    assert spec.ca_file == ca
