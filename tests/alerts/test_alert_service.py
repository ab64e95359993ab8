"""AlertService: check states in, alerts and queued notifications out, one transaction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertingConfig, LogReceiverSpec
from alerts.engine import Thresholds, evaluate, fingerprint
from alerts.service import AlertService
from checks.base import Result, Status
from checks.spec import CheckSpec
from monitor.store import StateStore


def config(**extra: Any) -> AlertingConfig:
    return AlertingConfig.model_validate({"receivers": [
        {"type": "log", "name": "journal"},
        {"type": "log", "name": "quiet", "send_resolved": False},
    ], **extra})


class Waker:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def feed(store: StateStore, service: AlertService, results: str,
         spec: CheckSpec | None = None) -> list[str | None]:
    transitions = []
    for now, code in enumerate(results, start=1):
        status = {"O": Status.OK, "C": Status.CRITICAL, "W": Status.WARNING}[code]
        state = store.record_result("moodle", "cron", "system",
                                    Result(status, f"{status.name} {now}"), float(now), 0.1)
        transitions.append(service.on_state(state, spec, float(now), labels={"team": "lms"}))
    return transitions


def test_firing_queues_one_notification_per_receiver_and_wakes_the_dispatcher(
    store: StateStore,
) -> None:
    waker = Waker()
    service = AlertService(store, config(), wake=waker)

    assert feed(store, service, "CCC") == [None, None, "firing"]

    fp = fingerprint("moodle", "cron")
    items = store.outbox_items()
    assert [(i.dedup_key, i.receiver) for i in items] == [(f"{fp}:1", "journal"),
                                                          (f"{fp}:1", "quiet")]
    payload = items[0].payload
    assert payload["status"] == "firing" and payload["labels"] == {"team": "lms"}
    assert payload["title"].startswith("[CRITICAL] moodle: cron is failing")
    assert "df -h" in payload["runbook"] and "What to do" in payload["text"]
    assert store.transitions(fp) == [(1, "firing", 3.0, "CRITICAL 3")]
    assert waker.calls == 1
    assert [a.fingerprint for a in service.firing()] == [fp]


def test_resolved_skips_receivers_that_do_not_want_it(store: StateStore) -> None:
    service = AlertService(store, config())

    assert feed(store, service, "CCCOO")[-1] == "resolved"

    resolved = [i for i in store.outbox_items() if i.payload["status"] == "resolved"]
    assert [i.receiver for i in resolved] == ["journal"]
    assert service.firing() == []


def test_the_global_send_resolved_off_silences_resolved(store: StateStore) -> None:
    service = AlertService(store, config(send_resolved=False))
    feed(store, service, "CCCOO")
    assert {i.payload["status"] for i in store.outbox_items()} == {"firing"}


def test_the_same_transition_queued_twice_makes_one_row(store: StateStore) -> None:
    service = AlertService(store, config())
    feed(store, service, "CC")
    state = store.record_result("moodle", "cron", "system", Result(Status.CRITICAL, "x"), 3, 0)
    previous = store.get_alert(fingerprint("moodle", "cron"))
    assert previous is None

    # A replay (e.g. a retried job after a crash) computes the same transition again.
    assert service.on_state(state, None, 3.0) == "firing"
    decision = evaluate(previous, state, Thresholds(), 3.0)
    store.save_alert(decision.alert, None, 3.0, service.notifications(decision, state))

    assert store.outbox_counts()["pending"] == 2  # journal + quiet, not four


def test_a_quiet_check_writes_no_alert(store: StateStore) -> None:
    service = AlertService(store, config())
    assert feed(store, service, "OOCO") == [None] * 4
    assert store.get_alert(fingerprint("moodle", "cron")) is None
    assert store.outbox_items() == []


def test_a_check_spec_can_fire_on_the_first_failure(store: StateStore) -> None:
    service = AlertService(store, config())
    spec = CheckSpec(type="system", failure_threshold=1, success_threshold=1)
    assert feed(store, service, "COC", spec) == ["firing", "resolved", "firing"]


def test_a_severity_change_while_firing_updates_the_alert_quietly(store: StateStore) -> None:
    service = AlertService(store, config())
    assert feed(store, service, "WWWC") == [None, None, "firing", None]
    alert = store.get_alert(fingerprint("moodle", "cron"))
    assert alert is not None and alert.status == Status.CRITICAL
    assert len(store.outbox_items()) == 2


def test_a_broken_admin_template_still_queues_the_alert_with_built_in_text(
    store: StateStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "message.txt.j2").write_text("{{ no_such_variable }}")
    service = AlertService(store, AlertingConfig(templates_dir=tmp_path,
                                                 receivers=[LogReceiverSpec(name="log")]))

    assert feed(store, service, "CCC")[-1] == "firing"

    [item] = store.outbox_items()
    assert "What to do" in item.payload["text"]
    assert any("no_such_variable" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)
