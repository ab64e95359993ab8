"""Acknowledgements through the service and the ``vigil alerts`` CLI, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerts.acks import AckError
from alerts.config import AlertingConfig
from alerts.engine import fingerprint
from alerts.service import AlertService
from monitor.app.cli.main import main as vigil
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec

FP = fingerprint("moodle", "http")


def fail(store: StateStore, service: AlertService, codes: str, start: float = 100.0,
         spec: CheckSpec | None = None) -> float:
    now = start
    for code in codes:
        now += 60
        status = {"C": Status.CRITICAL, "W": Status.WARNING, "O": Status.OK}[code]
        state = store.record_result("moodle", "http", "http", Result(status, f"{code}"), now, 0)
        service.on_state(state, spec, now)
    return now


@pytest.fixture
def service(store: StateStore) -> AlertService:
    return AlertService(store, AlertingConfig())


def kinds(store: StateStore) -> list[tuple[str, str | None]]:
    return [(e.kind, e.dedup_key) for e in store.alert_events(FP)]


def test_an_ack_is_stored_and_written_as_an_event(
    store: StateStore, service: AlertService
) -> None:
    now = fail(store, service, "CCC")
    service.ack(FP, " ann ", "restarting php-fpm", now=now + 5)
    alert = store.get_alert(FP)
    assert alert is not None
    assert (alert.ack_by, alert.ack_comment, alert.ack_at, alert.ack_sticky) == (
        "ann", "restarting php-fpm", now + 5, True)
    event = store.alert_events(FP)[-1]
    assert (event.kind, event.route_state, event.dedup_key) == (
        "acknowledged", "pending", f"{FP}:1:acknowledged1")
    assert event.payload["acknowledged"]["by"] == "ann"
    assert event.summary == "acknowledged by ann: restarting php-fpm"


@pytest.mark.parametrize(("codes", "fp", "by", "expires_in", "reason"), [
    ("CCC", "0000000000000000", "ann", None, "not_found"),
    ("CC", FP, "ann", None, "not_found"),          # soft: no alert to acknowledge yet
    ("CCCOO", FP, "ann", None, "not_firing"),      # resolved
    ("CCC", FP, "  ", None, "invalid"),
    ("CCC", FP, "x" * 101, None, "invalid"),
    ("CCC", FP, "ann", -1.0, "invalid"),
])
def test_bad_acks_are_refused_with_a_reason(
    store: StateStore, service: AlertService, codes: str, fp: str, by: str,
    expires_in: float | None, reason: str,
) -> None:
    now = fail(store, service, codes)
    with pytest.raises(AckError) as raised:
        service.ack(fp, by, "", expires_at=None if expires_in is None else now + expires_in,
                    now=now)
    assert raised.value.reason == reason


def test_unack_notifies_again_and_needs_an_ack(store: StateStore, service: AlertService) -> None:
    now = fail(store, service, "CCC")
    with pytest.raises(AckError) as raised:
        service.unack(FP, "bob", now=now)
    assert raised.value.reason == "not_acked"
    service.ack(FP, "ann", now=now)
    service.unack(FP, "bob", now=now + 1)
    assert not store.get_alert(FP).acknowledged  # type: ignore[union-attr]
    assert [k for k, _ in kinds(store)] == ["firing", "acknowledged", "unacknowledged"]
    assert store.alert_events(FP)[-1].summary == "acknowledgement withdrawn by bob"


def test_an_expired_ack_notifies_again_on_the_tick(
    store: StateStore, service: AlertService
) -> None:
    now = fail(store, service, "CCC")
    service.ack(FP, "ann", "till lunch", expires_at=now + 300, now=now)
    assert service.tick(now + 299) == 0
    assert service.tick(now + 300) == 1
    assert service.tick(now + 301) == 0  # once
    assert not store.get_alert(FP).acknowledged  # type: ignore[union-attr]
    assert kinds(store)[-1] == ("ack_expired", f"{FP}:1:ack_expired1")
    service.ack(FP, "ann", "again", now=now + 400)
    assert kinds(store)[-1] == ("acknowledged", f"{FP}:1:acknowledged2")


@pytest.mark.parametrize(("sticky", "then", "acked", "last"), [
    (True, "W", True, "acknowledged"),       # sticky: until OK
    (False, "W", False, "unacknowledged"),   # non-sticky: until the status changes
    (False, "C", True, "acknowledged"),
    (True, "OO", False, "resolved"),
])
def test_sticky_and_non_sticky_acks(
    store: StateStore, service: AlertService, sticky: bool, then: str, acked: bool, last: str
) -> None:
    now = fail(store, service, "CCC")
    service.ack(FP, "ann", sticky=sticky, now=now)
    fail(store, service, then, start=now)
    assert store.get_alert(FP).acknowledged is acked  # type: ignore[union-attr]
    assert kinds(store)[-1][0] == last


def test_a_new_firing_after_a_resolve_is_not_acknowledged(
    store: StateStore, service: AlertService
) -> None:
    now = fail(store, service, "CCC")
    service.ack(FP, "ann", now=now)
    fail(store, service, "OOCCC", start=now)
    alert = store.get_alert(FP)
    assert alert is not None and alert.state == "firing" and alert.transition == 3
    assert not alert.acknowledged


# -- the CLI ---------------------------------------------------------------------
@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text('[state]\ndir = "state"\n')
    return path


def seeded(config_file: Path) -> Path:
    db = config_file.parent / "state" / "vigil.sqlite3"
    store = StateStore(db)
    try:
        fail(store, AlertService(store, AlertingConfig()), "CCC")
    finally:
        store.close()
    return db


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        vigil(list(args))
    return int(exited.value.code or 0)


def test_cli_lists_acks_shows_and_unacks(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = seeded(config_file)
    c = str(config_file)
    assert cli("alerts", "list", "-c", c) == 0
    assert f"{FP}  firing critical moodle/http" in capsys.readouterr().out

    assert cli("alerts", "ack", "-c", c, "moodle/http", "--by", "ann", "-m", "on it",
               "--non-sticky", "--expires", "2h") == 0
    assert "acknowledged moodle/http" in capsys.readouterr().out

    assert cli("alerts", "show", "-c", c, FP, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["acknowledged"]["by"] == "ann" and shown["acknowledged"]["sticky"] is False
    assert shown["acknowledged"]["expires_at"] > shown["acknowledged"]["at"] + 7000
    assert [e["kind"] for e in shown["events"]] == ["firing", "acknowledged"]

    assert cli("alerts", "unack", "-c", c, FP, "--by", "bob") == 0
    store = StateStore(db)
    try:
        assert not store.get_alert(FP).acknowledged  # type: ignore[union-attr]
    finally:
        store.close()


@pytest.mark.parametrize(("args", "message"), [
    (("ack", "moodle/nope", "--by", "ann"), "no alert"),
    (("ack", FP, "--by", "ann", "--expires", "soon"), "--expires: 'soon' is not a duration"),
    (("unack", FP, "--by", "ann"), "is not acknowledged"),
])
def test_cli_errors_say_why(
    config_file: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    seeded(config_file)
    assert cli("alerts", args[0], "-c", str(config_file), *args[1:]) == 1
    assert message in capsys.readouterr().err


def test_cli_reports_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[alerts.flapping]\nlow = 90\n")
    assert cli("alerts", "list", "-c", str(path)) == 2
    assert "alerts.flapping: low (90) must be < high (50)" in capsys.readouterr().err


def test_cli_lists_failed_notifications_and_queues_them_again(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receiver rejected notifications (bad credentials); once fixed, `resend` queues the
    failed ones again, and only those (or only one receiver's)."""
    db = seeded(config_file)
    store = StateStore(db)
    try:
        for key, receiver in (("k1", "log"), ("k2", "log"), ("k3", "other")):
            store.enqueue(key, receiver, {"title": f"title {key}"}, 100.0)
        items = {i.dedup_key: i for i in store.outbox_items()}
        store.mark_failed(items["k1"].id, "HTTP 401 from the webhook")
        store.mark_failed(items["k3"].id, "HTTP 403")
        store.mark_sent(items["k2"].id, 101.0)
    finally:
        store.close()
    c = str(config_file)
    assert cli("alerts", "outbox", "-c", c) == 0
    out = capsys.readouterr().out
    assert "last error: HTTP 401 from the webhook" in out and "title k1" in out
    assert "0 pending, 2 failed, 1 sent" in out

    assert cli("alerts", "resend", "-c", c, "--receiver", "nope") == 1
    assert "no receiver 'nope'" in capsys.readouterr().err
    assert cli("alerts", "resend", "-c", c, "--receiver", "log") == 0
    assert "1 failed notification(s) queued again" in capsys.readouterr().out
    store = StateStore(db)
    try:
        states = {i.dedup_key: (i.state, i.attempts) for i in store.outbox_items()}
    finally:
        store.close()
    assert states == {"k1": ("pending", 0), "k2": ("sent", 1), "k3": ("failed", 1)}
