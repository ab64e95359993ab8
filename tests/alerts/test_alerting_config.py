"""The [alerts] config section validates itself and names the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.config import AlertingConfig
from alerts.receiver_specs import LogReceiverSpec, WebhookReceiverSpec


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        AlertingConfig.model_validate(data)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def test_defaults_fire_after_three_failures_and_log_alerts() -> None:
    config = AlertingConfig()
    assert (config.failure_threshold, config.success_threshold) == (3, 2)
    assert config.unknown_is_failure and config.send_resolved
    assert config.receivers == [LogReceiverSpec(name="log")]
    assert (config.retry.initial_backoff, config.retry.max_backoff) == (5.0, 600.0)
    assert config.retry.max_age is None  # never give up: nothing may be lost


def test_an_empty_receiver_list_still_logs_alerts() -> None:
    assert AlertingConfig(receivers=[]).receivers == [LogReceiverSpec(name="log")]


def test_receivers_are_chosen_by_type_and_durations_parse() -> None:
    config = AlertingConfig.model_validate({
        "base_url": "https://vigil.example.org/",
        "retry": {"initial_backoff": "10s", "max_backoff": "1h", "max_age": "2d"},
        "receivers": [
            {"type": "log", "name": "journal", "level": "error"},
            {"type": "webhook", "name": "am", "url": "http://alertmanager:9093/hook",
             "timeout": "3s", "headers": {"Authorization": "Bearer x"}, "send_resolved": False,
             "max_alerts": 5},
        ],
    })
    journal, hook = config.receivers
    assert isinstance(journal, LogReceiverSpec) and journal.level == "error"
    assert isinstance(hook, WebhookReceiverSpec) and hook.timeout == 3.0
    assert config.base_url == "https://vigil.example.org"
    assert (config.retry.initial_backoff, config.retry.max_age) == (10.0, 172800.0)
    assert config.sends_resolved(journal) and not config.sends_resolved(hook)
    assert config.receiver("am") is hook and config.receiver("nope") is None


def test_a_receiver_can_send_resolved_when_the_default_is_off() -> None:
    config = AlertingConfig.model_validate({"send_resolved": False, "receivers": [
        {"type": "log", "name": "a"}, {"type": "log", "name": "b", "send_resolved": True}]})
    assert [config.sends_resolved(r) for r in config.receivers] == [False, True]


def test_a_duplicate_receiver_name_is_an_error_at_the_duplicate() -> None:
    found = errors({"receivers": [{"type": "log", "name": "ops"},
                                  {"type": "webhook", "name": "ops", "url": "https://x.org"}]})
    assert found == [(("receivers", 1, "name"), "Value error, duplicate receiver name 'ops'")]


def test_errors_name_the_receiver_field_without_the_union_tag() -> None:
    found = errors({"receivers": [{"type": "log", "name": "ops"},
                                  {"type": "webhook", "name": "hook", "url": "ftp://x.org/t0k3n"}]})
    assert [loc for loc, _ in found] == [("receivers", 1, "url")]
    assert "t0k3n" not in found[0][1]  # the URL may hold a token


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"failure_threshold": 0}, ("failure_threshold",)),
        ({"success_threshold": 0}, ("success_threshold",)),
        ({"paging": True}, ("paging",)),
        ({"receivers": [{"type": "sms", "name": "x"}]}, ("receivers", 0)),
        ({"receivers": [{"type": "webhook", "name": "x"}]}, ("receivers", 0, "url")),
        ({"receivers": [{"type": "webhook", "name": "x", "url": "https://x.org",
                         "timeout": "soon"}]}, ("receivers", 0, "timeout")),
        ({"receivers": [{"type": "log", "name": "x", "colour": "red"}]},
         ("receivers", 0, "colour")),
        ({"receivers": [{"type": "log", "name": "has space"}]}, ("receivers", 0, "name")),
        ({"retry": {"initial_backoff": "1m", "max_backoff": "10s"}}, ("retry",)),
        ({"base_url": "vigil.example.org"}, ("base_url",)),
        ({"templates_dir": "/nonexistent/vigil-templates"}, ("templates_dir",)),
    ],
)
def test_bad_settings_name_the_field(data: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert [found for found, _ in errors(data)] == [loc]


def test_header_values_are_secret_in_reprs(tmp_path: Path) -> None:
    config = AlertingConfig.model_validate({"templates_dir": str(tmp_path), "receivers": [
        {"type": "webhook", "name": "h", "url": "https://x.org",
         "headers": {"Authorization": "Bearer hunter2"}}]})
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)
    assert config.templates_dir == tmp_path
