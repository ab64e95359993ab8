"""Notification payloads and the text rendered from (sandboxed, strict) templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.messages import (
    Renderer,
    TemplateRenderError,
    format_duration,
    notification_links,
    rfc3339,
    sample_notifications,
    sample_payloads,
)


def test_a_firing_message_says_what_where_since_how_bad_what_to_do_and_links() -> None:
    firing, _ = sample_payloads()
    text = Renderer().render(firing)["text"]
    for needle in ("homepage", "moodle-prod", "HTTP 503", "2023-11-14 22:13:20 UTC",
                   "critical", "What to do", "PHP-FPM", "https://vigil.example.org/",
                   "team=elearning", "0123456789abcdef:1"):
        assert needle in text


def test_a_resolved_message_says_how_long_the_outage_was() -> None:
    _, resolved = sample_payloads()
    rendered = Renderer().render(resolved)
    assert rendered["title"] == "[RESOLVED] moodle-prod: homepage is OK again after 15m"
    assert "HTTP 200 in 0.3s" in rendered["text"] and "15m" in rendered["text"]


@pytest.mark.parametrize(("check_type", "hint"), [
    ("http", "PHP-FPM"), ("tls", "certbot"), ("tcp", "ss -ltnp"), ("dns", "dig"),
    ("system", "df -h"), ("process", "systemctl status"), ("moodle_cron", "error logs")])
def test_each_check_type_gets_its_runbook_hint(check_type: str, hint: str) -> None:
    firing, _ = sample_payloads()
    assert hint in Renderer().render(dict(firing, check_type=check_type))["runbook"]


def test_html_is_escaped_but_plain_text_is_not() -> None:
    firing, _ = sample_payloads()
    rendered = Renderer().render(dict(firing, summary="<script>x</script>"))
    assert "&lt;script&gt;" in rendered["html"] and "<script>" not in rendered["html"]
    assert "<script>x</script>" in rendered["text"]


def test_an_admin_directory_overrides_single_templates(tmp_path: Path) -> None:
    (tmp_path / "title.txt.j2").write_text("{{ alert.lms }} needs you ({{ firing|length }})")
    rendered = Renderer(tmp_path).render(sample_payloads()[0])
    assert rendered["title"] == "moodle-prod needs you (1)"
    assert "What to do" in rendered["text"]  # the other templates are the built-in ones


def test_a_missing_variable_in_a_custom_template_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "message.txt.j2").write_text(
        "Alert\n{{ alert.lms }} is down\n{{ ticket_url }}\n")
    with pytest.raises(TemplateRenderError) as info:
        Renderer(tmp_path).check()
    message = str(info.value)
    assert str(tmp_path / "message.txt.j2") in message
    assert "line 3" in message and "'ticket_url' is undefined" in message


def test_a_syntax_error_in_a_custom_template_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "title.txt.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(TemplateRenderError, match=r"title.txt.j2, line 2"):
        Renderer(tmp_path).check()


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__ }}",
    "{{ alert.lms.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ alerts.__class__.__base__.__subclasses__() }}",
    "{{ alert.get.__self__ }}",
    "{{ self._TemplateReference__context }}",
    '{{ "{0.__class__.__mro__}".format(alert.lms) }}',
])
def test_a_malicious_admin_template_cannot_leave_the_sandbox(tmp_path: Path, attack: str) -> None:
    (tmp_path / "title.txt.j2").write_text(attack)
    with pytest.raises(TemplateRenderError, match="is unsafe"):
        Renderer(tmp_path).check()


def test_the_built_in_templates_pass_the_startup_check() -> None:
    Renderer().check()


def test_timestamps_are_rfc3339_like_alertmanager() -> None:
    assert rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert rfc3339(None) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (42, "42s"), (60, "1m"), (3725, "1h 2m"), (90061, "1d 1h"), (None, "-")])
def test_durations_read_like_a_human_wrote_them(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


# -- group notifications (the router's outbox payload) ----------------------------------
def test_a_group_notification_lists_every_alert_with_what_to_do_and_links() -> None:
    _, _, group, *_ = sample_notifications()
    rendered = Renderer().render_notification(group)
    assert rendered["title"] == "[PAGE:2] host=db1: 2 checks failing on 2 LMS, 1 resolved"
    text = rendered["text"]
    for needle in ("PROBLEM on moodle-prod", "PROBLEM on moodle-test", "RESOLVED: check",
                   "What to do: Open the page", "Acknowledged: by alice: on it",
                   "Outage:     15m", "Grafana:     https://grafana.example.org/d/vigil-fleet",
                   "Status page: https://vigil.example.org/"):
        assert needle in text, needle
    assert 'href="https://grafana.example.org/d/vigil-fleet"' in rendered["html"]


@pytest.mark.parametrize(("index", "title"), [
    (3, "[REMINDER] [PAGE:2] lms=moodle-prod: 2 checks failing on 2 LMS"),
    (4, "[ESCALATION 2] [CRITICAL] moodle-prod: homepage is failing: HTTP 503 from "
        "https://lms.example.org/ after 1.2s"),
    (5, "[ACKNOWLEDGED] moodle-test: homepage acknowledged by alice"),
    (6, "[RESOLVED:2] lms=moodle-prod: 2 checks OK again"),
])
def test_titles_say_why_the_notification_was_sent(index: int, title: str) -> None:
    assert Renderer().render_notification(sample_notifications()[index])["title"] == title


def test_group_html_is_escaped() -> None:
    notification = sample_notifications()[0]
    alert = dict(notification["alerts"][0], summary="<img src=x onerror=alert(1)>")
    html = Renderer().render_notification(dict(notification, alerts=[alert]))["html"]
    assert "&lt;img src=x" in html and "<img" not in html


def test_a_broken_admin_template_falls_back_to_the_built_in_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    (tmp_path / "title.txt.j2").write_text("{{ nope }}")
    rendered = Renderer(tmp_path).render_notification_safely(
        sample_notifications()[0], logging.getLogger("test"))
    assert rendered["title"].startswith("[CRITICAL] moodle-prod")
    assert "'nope' is undefined" in caplog.text


@pytest.mark.parametrize(("labels", "grafana"), [
    ({"lms": "moodle prod"}, "https://g.example.org/d/vigil-lms-detail?var-lms=moodle%20prod"),
    ({"host": "db1"}, "https://g.example.org/d/vigil-fleet"),
])
def test_notification_links_point_at_the_status_page_and_grafana(
    labels: dict[str, str], grafana: str
) -> None:
    from alerts.config import AlertingConfig

    config = AlertingConfig(base_url="https://vigil.example.org/",
                            grafana_url="https://g.example.org")
    assert notification_links(config, labels) == {
        "status_page": "https://vigil.example.org/", "grafana": grafana}
    assert notification_links(AlertingConfig(), labels) == {}
