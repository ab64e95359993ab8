"""What a config change does to alerts, in an in-process Daemon with a real SQLite file and
a fake clock: a removed check's alert is resolved (on reload and at start), a reload that
fails is logged and reported to systemd instead of escaping the SIGHUP handler, a reload
keeps which checks depend on which, and the outbox and old alert events are read and pruned
with bounds."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.engine import fingerprint
from alerts.notifiers import refresh_notifiers
from alerts.service import RETIRED_SUMMARY
from monitor.app.config import VigilConfig, parse_config
from monitor.app.daemon import Daemon
from monitor.app.sdnotify import SystemdNotifier
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.result import Result, Status
from tests.alerts.notification_samples import notification, snapshot
from tests.conftest import FakeClock

NOW = 1_800_000_000.0
DAY = 86400.0
HTTP = fingerprint("campus", "http")
PORTAL = fingerprint("campus", "portal")


def config_text(tmp_path: Path, checks: tuple[str, ...] = ("http", "portal"), *,
                alerts: str = "", receivers: str = "") -> str:
    text = f"""
[state]
dir = "{tmp_path / 'state'}"
[server]
enabled = false
[alerts]
failure_threshold = 1
success_threshold = 1
{alerts}
[alerts.route]
group_wait = "0s"
group_interval = "1s"
{receivers}
[[lms]]
name = "campus"
url = "http://127.0.0.1:9/"
"""
    for name in checks:
        text += f'[lms.checks.{name}]\ntype = "http"\ninterval = 3600\n'
        if name == "portal" and "http" in checks:
            text += 'depends_on = ["http"]\n'
    return text


def config(tmp_path: Path, *args: Any, **kwargs: Any) -> VigilConfig:
    return parse_config(config_text(tmp_path, *args, **kwargs))


def judge(daemon: Daemon, check: str, status: Status, at: float) -> None:
    """One check result through the runner's listener, as the runner hands it over."""
    state = daemon.store.record_result("campus", check, "http", Result(status, status.name),
                                       at, 0.1)
    spec = daemon.config.lms[0].checks[check]
    daemon.runner.listener.on_state(state, spec, at, labels={})  # type: ignore[union-attr]


def outbox(daemon: Daemon) -> list[tuple[str, str, str]]:
    return [(item.receiver, item.payload["status"], alert["check"])
            for item in daemon.store.outbox_items() for alert in item.payload["alerts"]]


def reloads(daemon: Daemon, result: str) -> float:
    value = daemon.registry.get_sample_value("vigil_config_reloads_total", {"result": result})
    return value or 0.0


# -- a removed check's alert is resolved ----------------------------------------------------
async def test_a_reload_without_a_firing_check_resolves_its_alert_and_tells_the_receiver(
        tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    daemon = Daemon(config(tmp_path), clock=clock)
    await daemon.start()
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
        daemon.router.step(clock.time())
        assert outbox(daemon) == [("log", "firing", "http")]

        clock.advance(10)
        daemon.apply(config(tmp_path, ("portal",)))

        alert = daemon.store.get_alert(HTTP)
        assert alert is not None
        assert (alert.state, alert.summary, alert.resolved_at) == ("ok", RETIRED_SUMMARY,
                                                                    clock.time())
        assert daemon.store.get_state("campus", "http") is None
        events = daemon.store.alert_events(HTTP)
        assert [(e.kind, e.route_state) for e in events] == [("firing", "routed"),
                                                             ("resolved", "pending")]
        assert events[1].payload["summary"] == RETIRED_SUMMARY
        assert events[1].payload["problem"] == "CRITICAL"
        clock.advance(5)
        daemon.router.step(clock.time())
        assert outbox(daemon) == [("log", "firing", "http"), ("log", "resolved", "http")]

        daemon.apply(config(tmp_path, ("portal",)))  # again: nothing more to say
        assert len(daemon.store.alert_events(HTTP)) == 2
    finally:
        await daemon.stop()


async def test_at_start_the_alert_of_a_check_removed_while_stopped_is_resolved(
        tmp_path: Path) -> None:
    daemon = Daemon(config(tmp_path), clock=FakeClock(NOW))
    await daemon.start()
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
    finally:
        await daemon.stop()
    assert [a.check for a in StateStore(tmp_path / "state" / STATE_FILE).firing_alerts()] == [
        "http"]

    daemon = Daemon(config(tmp_path, ("portal",)), clock=FakeClock(NOW + 60))
    await daemon.start()
    try:
        assert daemon.store.firing_alerts() == []
        assert [e.kind for e in daemon.store.alert_events(HTTP)] == ["firing", "resolved"]
        assert daemon.store.get_alert(HTTP).summary == RETIRED_SUMMARY  # type: ignore[union-attr]
    finally:
        await daemon.stop()


async def test_a_removed_check_whose_firing_was_held_resolves_without_telling_anyone(
        tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    daemon = Daemon(config(tmp_path), clock=clock)
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
        judge(daemon, "portal", Status.CRITICAL, NOW + 1)  # held: its parent is down
        assert daemon.store.get_alert(PORTAL).held == "dependency:campus/http"  # type: ignore[union-attr]

        daemon.apply(config(tmp_path, ("http",)))

        assert [(e.kind, e.route_state) for e in daemon.store.alert_events(PORTAL)] == [
            ("firing", "suppressed:dependency"), ("resolved", "suppressed:dependency")]
        assert daemon.store.get_alert(PORTAL).held is None  # type: ignore[union-attr]
    finally:
        await daemon.stop()


# -- a reload that fails ----------------------------------------------------------------------
@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A bound datagram socket standing in for systemd's notify socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


async def test_a_reload_whose_receivers_cannot_be_built_changes_nothing_and_says_so(
        tmp_path: Path, notify_socket: socket.socket, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "vigil.toml"
    path.write_text(config_text(tmp_path, ("http",)))
    systemd = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    daemon = Daemon(config(tmp_path, ("http",)), config_path=path, clock=FakeClock(NOW),
                    systemd=systemd)
    await daemon.start()
    try:
        before = daemon.config
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text("not a certificate\n")
        path.write_text(config_text(tmp_path, ("http", "portal"), receivers=f"""
[[alerts.receivers]]
type = "email"
name = "mail"
host = "127.0.0.1"
from = "vigil@example.org"
to = ["oncall@example.org"]
ca_file = "{ca_file}"
"""))
        received(notify_socket)

        assert daemon.reload() is False

        assert daemon.config is before
        assert sorted(daemon.scheduler.jobs) == ["campus/http"]
        assert list(daemon.dispatcher.notifiers) == ["log"]
        assert (reloads(daemon, "error"), reloads(daemon, "success")) == (1.0, 0.0)
        messages = received(notify_socket)
        assert messages[0].startswith("RELOADING=1")
        assert messages[1].startswith("READY=1\nSTATUS=reload failed (SSLError)")
        assert "config reload failed (SSLError" in caplog.text
    finally:
        await daemon.stop()


async def test_a_reload_failing_midway_is_reported_and_the_next_one_redoes_every_step(
        tmp_path: Path, notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vigil.toml"
    original = config_text(tmp_path, ("http",))
    path.write_text(original)
    systemd = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    daemon = Daemon(parse_config(original), config_path=path, clock=FakeClock(NOW),
                    systemd=systemd)
    await daemon.start()
    try:
        path.write_text(config_text(tmp_path, ("http", "portal"), receivers="""
[[alerts.receivers]]
type = "webhook"
name = "hook"
url = "http://127.0.0.1:9/hook"
"""))

        def locked(config: VigilConfig) -> None:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(daemon.maintenance, "apply_config", locked)
        received(notify_socket)

        assert daemon.reload() is False

        assert reloads(daemon, "error") == 1.0
        assert received(notify_socket)[1].startswith("READY=1\nSTATUS=reload failed")
        assert list(daemon.dispatcher.notifiers) == ["hook"]  # applied before the failure

        # The admin reverts the file: the receivers go back too, though [alerts] equals
        # the config the daemon still calls its own.
        monkeypatch.undo()
        path.write_text(original)
        assert daemon.reload() is True
        assert list(daemon.dispatcher.notifiers) == ["log"]
        assert sorted(daemon.scheduler.jobs) == ["campus/http"]
        assert received(notify_socket)[1] == "READY=1\nSTATUS=watching 1 checks"
        assert reloads(daemon, "success") == 1.0
    finally:
        await daemon.stop()


# -- a reload keeps the dependencies ----------------------------------------------------------
async def test_after_an_alerts_reload_a_recovering_parent_still_releases_its_held_child(
        tmp_path: Path) -> None:
    daemon = Daemon(config(tmp_path), clock=FakeClock(NOW))
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
        judge(daemon, "portal", Status.CRITICAL, NOW + 1)
        assert daemon.store.get_alert(PORTAL).held == "dependency:campus/http"  # type: ignore[union-attr]
        service = daemon.alerts

        daemon.apply(config(tmp_path, alerts='base_url = "https://vigil.example.org"'))
        judge(daemon, "http", Status.OK, NOW + 2)

        assert daemon.alerts is service and service.config.base_url == (
            "https://vigil.example.org")
        child = daemon.store.get_alert(PORTAL)
        assert child is not None and child.state == "firing" and child.held is None
        assert [(e.kind, e.route_state) for e in daemon.store.alert_events(PORTAL)] == [
            ("firing", "pending")]
    finally:
        await daemon.stop()


# -- the outbox: adoption reads the newest rows, old delivered rows are pruned ----------------
class Recorder:
    """An Alertmanager stand-in at the HTTP transport: records each posted batch."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.alerts.extend(json.loads(request.content))
        return httpx.Response(200)


AM_RECEIVERS = """
[[alerts.receivers]]
type = "alertmanager"
name = "am"
url = "http://am1:9093"
[[alerts.receivers]]
type = "log"
name = "log"
"""


def sent(store: StateStore, key: str, receiver: str, payload: dict[str, Any],
         at: float) -> int:
    store.enqueue(key, receiver, payload, at)
    [item] = [i for i in store.outbox_items("pending") if i.dedup_key == key]
    store.mark_sent(item.id, at)
    return item.id


async def test_adoption_gives_alertmanager_the_newest_delivered_snapshot_of_firing_alerts(
        tmp_path: Path) -> None:
    recorder = Recorder()
    clock = FakeClock(NOW)
    daemon = Daemon(config(tmp_path, ("http",), receivers=AM_RECEIVERS), clock=clock,
                    notifier_transport=httpx.MockTransport(recorder))
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
        store = daemon.store
        gone = "f" * 16  # resolved meanwhile: not adopted
        sent(store, "g1", "am", notification(snapshot(fingerprint=HTTP, summary="old"),
                                             snapshot(fingerprint=gone)), NOW)
        sent(store, "g2", "am", notification(snapshot(fingerprint=HTTP, summary="new")), NOW + 1)
        sent(store, "g3", "log", notification(snapshot(fingerprint=HTTP, summary="log")),
             NOW + 2)
        store.enqueue("g4", "am", notification(snapshot(fingerprint=HTTP, summary="queued")),
                      NOW + 3)  # not delivered: Alertmanager never saw it

        daemon.work.adopt_pushed_alerts()
        await refresh_notifiers(daemon.dispatcher.notifiers, clock.time(), {HTTP})

        assert [(a["labels"]["check"], a["annotations"]["description"])
                for a in recorder.alerts] == [("homepage", "new")]
    finally:
        await daemon.stop()


def test_the_newest_delivered_snapshot_per_receiver_and_alert_is_read_in_sql(
        store: StateStore) -> None:
    a, b, c = "a" * 16, "b" * 16, "c" * 16
    first = sent(store, "k1", "am", notification(snapshot(fingerprint=a, summary="a1"),
                                                 snapshot(fingerprint=b, summary="b1")), NOW)
    second = sent(store, "k2", "am", notification(snapshot(fingerprint=a, summary="a2")),
                  NOW + 1)
    other = sent(store, "k2", "am2", notification(snapshot(fingerprint=a, summary="x")), NOW + 1)
    sent(store, "k3", "am", notification(snapshot(fingerprint=c, summary="c")), NOW + 2)
    sent(store, "k4", "am", notification(reason="maintenance"), NOW + 3)  # no alerts
    store.enqueue("k5", "am", notification(snapshot(fingerprint=a, summary="a3")), NOW + 4)

    def found(receivers: list[str] | None) -> list[tuple[int, str, str]]:
        return [(row_id, receiver, alert["summary"]) for row_id, receiver, alert
                in store.latest_sent_alerts({a, b}, receivers)]

    assert found(["am"]) == [(first, "am", "b1"), (second, "am", "a2")]
    assert found(None) == [(first, "am", "b1"), (second, "am", "a2"), (other, "am2", "x")]
    assert found([]) == [] and store.latest_sent_alerts(set(), None) == []


def test_prune_deletes_old_delivered_rows_but_not_the_kept_failed_or_pending_ones(
        store: StateStore) -> None:
    old = sent(store, "old", "am", notification(), NOW)
    kept = sent(store, "kept", "am", notification(), NOW)
    recent = sent(store, "recent", "am", notification(), NOW + 20 * DAY)
    store.enqueue("waiting", "am", notification(), NOW)
    store.enqueue("broken", "am", notification(), NOW)
    [broken] = [i for i in store.outbox_items("pending") if i.dedup_key == "broken"]
    store.mark_failed(broken.id, "HTTP 500")

    assert store.prune_outbox(NOW + 10 * DAY, keep={kept}) == 1

    assert old not in {i.id for i in store.outbox_items()}
    assert {i.dedup_key for i in store.outbox_items()} == {"kept", "recent", "waiting",
                                                            "broken"}
    assert recent in {i.id for i in store.outbox_items("sent")}


async def test_the_alert_tick_prunes_hourly_and_keeps_what_adoption_needs(
        tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    daemon = Daemon(config(tmp_path, ("http",), alerts='outbox_retention = "7d"'), clock=clock)
    try:
        judge(daemon, "http", Status.CRITICAL, NOW)
        store = daemon.store
        sent(store, "n1", "log", notification(snapshot(fingerprint=HTTP)), NOW)
        newest = sent(store, "n2", "log", notification(snapshot(fingerprint=HTTP)), NOW + 1)
        sent(store, "self", "log", notification(reason="self"), NOW + 2)

        assert daemon.work.prune_outbox(NOW + 3) == 0  # nothing older than 7 days
        sent(store, "later", "log", notification(reason="report"), NOW + 1.5 * DAY)
        assert daemon.work.prune_outbox(NOW + 8 * DAY) == 2  # > 1 h later: n1 and "self"
        assert [i.id for i in store.outbox_items()][0] == newest
        assert {i.dedup_key for i in store.outbox_items()} == {"n2", "later"}
        assert daemon.work.prune_outbox(NOW + 8 * DAY + 1800) == 0  # within the hour: skipped
        assert daemon.work.prune_outbox(NOW + 9 * DAY) == 1  # "later"; n2 is still needed
        assert {i.dedup_key for i in store.outbox_items()} == {"n2"}
    finally:
        await daemon.stop()


async def test_the_hourly_prune_deletes_old_routed_events_but_keeps_what_the_alert_reads(
        tmp_path: Path) -> None:
    """alert_transitions grew by every flip for ever (found by tests/test_soak.py)."""
    clock = FakeClock(NOW)
    daemon = Daemon(config(tmp_path, ("http",), alerts='outbox_retention = "7d"'), clock=clock)
    await daemon.start()
    try:
        for step, status in enumerate([Status.CRITICAL, Status.OK] * 2):  # transitions 1-4
            judge(daemon, "http", status, NOW + 60 * step)
            daemon.router.step(NOW + 60 * step)

        assert daemon.work.prune_outbox(NOW + 8 * DAY) == 0  # no outbox row was sent
        # 1 and 2 go; 3 is the newest firing, 4 the current transition (and newest resolved).
        assert [e.transition for e in daemon.store.alert_events(HTTP)] == [3, 4]

        judge(daemon, "http", Status.CRITICAL, NOW + 8 * DAY + 60)
        daemon.router.step(NOW + 8 * DAY + 60)
        assert f"{HTTP}:5" in {a["dedup_key"] for item in daemon.store.outbox_items()
                                for a in item.payload["alerts"]}
        judge(daemon, "http", Status.OK, NOW + 8 * DAY + 120)  # 6 stays pending: not routed

        daemon.work.prune_outbox(NOW + 20 * DAY)
        events = daemon.store.alert_events(HTTP)
        assert [(e.transition, e.kind, e.route_state) for e in events] == [
            (5, "firing", "routed"), (6, "resolved", "pending")]
        judge(daemon, "http", Status.CRITICAL, NOW + 20 * DAY + 60)
        assert daemon.store.alert_events(HTTP)[-1].dedup_key == f"{HTTP}:7"
    finally:
        await daemon.stop()
