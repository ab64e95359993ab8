"""The router: pending events -> routes -> groups -> one outbox row per receiver.

Event rows are written directly (tests/alerts/router_kit.py) as the engine writes them;
time is injected (``step(now)``); the outbox is the real SQLite table.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

import pytest

from alerts import outbound
from alerts.router import Router
from monitor.app.store import StateStore
from tests.alerts.router_kit import AlertWriter, alert_keys, config, outbox, route_states

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC, a Friday


@pytest.fixture
def alerts(store: StateStore) -> AlertWriter:
    return AlertWriter(store)


def test_a_firing_waits_group_wait_then_is_one_outbox_row_per_receiver(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config())  # default route: every receiver, group_by lms
    alerts.fire("moodle-prod", T0)

    assert router.step(T0) == 0 and route_states(store) == ["routed"]
    assert router.step(T0 + 9.9) == 0
    assert router.step(T0 + 10) == 2
    rows = outbox(store)
    assert [receiver for receiver, _ in rows] == ["ops", "pager"]
    payload = rows[0][1]
    assert (payload["version"], payload["reason"], payload["status"]) == (1, "notify", "firing")
    assert payload["group_labels"] == {"lms": "moodle-prod"} and payload["route"] == "route"
    assert alert_keys(payload) == [f"{alerts.fingerprint('moodle-prod', 'database')}:1"]
    assert payload["title"].startswith("[CRITICAL] moodle-prod: database is failing")
    assert "Check the database server." in payload["text"]  # what to do, from the snapshot
    assert rows[1][1]["dedup_key"] == payload["dedup_key"]
    assert router.step(T0 + 3600) == 0  # nothing new, no reminder before repeat_interval


def test_fifty_lms_on_one_database_host_are_one_page_not_fifty(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "pager", "group_by": ["host"]}))
    for index in range(50):
        alerts.fire(f"moodle-{index:02d}", T0 + index * 0.1, labels={"host": "db1"})
    alerts.fire("canvas", T0 + 1, labels={"host": "db2"})

    router.step(T0 + 5)
    assert router.step(T0 + 10.1) == 1  # db1's group waited 10 s from its first event
    [(receiver, payload)] = outbox(store)
    assert receiver == "pager" and len(payload["alerts"]) == 50
    assert payload["group_labels"] == {"host": "db1"}
    assert payload["common_labels"]["host"] == "db1" and "lms" not in payload["common_labels"]
    assert payload["title"].startswith("[CRITICAL:50] host=db1: 50 checks failing on 50 LMS")
    assert router.step(T0 + 11) == 1  # db2: its own group, its own wait
    assert outbox(store)[1][1]["group_labels"] == {"host": "db2"}


def test_news_in_a_group_already_notified_waits_for_group_interval(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_by": ["host"],
                                         "group_interval": "5m"}))
    alerts.fire("a", T0, labels={"host": "db1"})
    router.step(T0 + 10)
    alerts.fire("b", T0 + 20, labels={"host": "db1"})

    assert router.step(T0 + 309) == 0
    assert router.step(T0 + 310) == 1
    second = outbox(store)[1][1]
    # The whole group, like Alertmanager: the new alert and the one still firing.
    assert [a["lms"] for a in second["alerts"]] == ["a", "b"]


@pytest.mark.parametrize(("routes", "labels", "expected"), [
    # first matching child wins
    ([{"receiver": "pager", "matchers": ['severity=~"critical|page"']},
      {"receiver": "ops", "matchers": "team=elearning"}],
     {"team": "elearning"}, [("pager", "route.routes[0]")]),
    # continue = true: the next sibling is tried as well
    ([{"receiver": "pager", "matchers": ['severity=~"critical|page"'], "continue": True},
      {"receiver": "ops", "matchers": {"team": "elearning"}}],
     {"team": "elearning"}, [("pager", "route.routes[0]"), ("ops", "route.routes[1]")]),
    # no child matches: the root's receiver
    ([{"receiver": "pager", "matchers": ['severity="page"']}], {}, [("ops", "route")]),
])
def test_routes_pick_receivers_by_labels(
    store: StateStore, alerts: AlertWriter, routes: list[dict[str, Any]],
    labels: dict[str, str], expected: list[tuple[str, str]],
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0, "routes": routes}))
    alerts.fire("moodle-prod", T0, labels=labels)
    router.step(T0)
    assert sorted((receiver, p["route"]) for receiver, p in outbox(store)) == sorted(expected)


def test_a_reminder_goes_out_every_repeat_interval_until_acknowledged(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "repeat_interval": "1h"}))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    assert router.step(T0 + 3599) == 0
    assert router.step(T0 + 3600) == 1
    assert router.step(T0 + 7199) == 0
    assert router.step(T0 + 7200) == 1
    reminders = [p for _, p in outbox(store) if p["reason"] == "reminder"]
    assert len(reminders) == 2 and reminders[0]["dedup_key"] != reminders[1]["dedup_key"]
    assert reminders[0]["title"].startswith("[REMINDER] [CRITICAL] moodle-prod")

    alerts.ack("moodle-prod", T0 + 7300)
    assert router.step(T0 + 7300 + 60) == 1  # the acknowledgement itself is news
    assert outbox(store)[-1][1]["title"].startswith("[ACKNOWLEDGED] moodle-prod")
    assert router.step(T0 + 20 * 3600) == 0  # acknowledged: no more reminders


def test_escalation_tells_the_next_level_while_nobody_acknowledges(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(
        receivers=[{"type": "log", "name": n} for n in ("primary", "secondary", "lead")],
        route={"receiver": "primary", "group_wait": 0},
        escalations=[{"name": "pages", "severity": ["critical", "page"], "levels": [
            {"after": "15m", "receivers": ["secondary"]}, {"after": "30m", "receivers": ["lead"]},
        ]}]))
    alerts.fire("moodle-prod", T0)
    alerts.fire("moodle-test", T0 + 1)
    alerts.fire("moodle-dev", T0 + 2, severity="warning")  # no policy for warnings
    router.step(T0 + 2)
    assert router.step(T0 + 2 + 899) == 0
    assert router.step(T0 + 2 + 900) == 1  # both critical alerts escalate together
    [(receiver, payload)] = outbox(store)[-1:]
    assert (receiver, payload["reason"], payload["escalation_level"]) == ("secondary",
                                                                         "escalation", 1)
    assert sorted(a["lms"] for a in payload["alerts"]) == ["moodle-prod", "moodle-test"]
    assert payload["title"].startswith("[ESCALATION 1] [CRITICAL:2]")

    alerts.ack("moodle-test", T0 + 1000)
    router.step(T0 + 1000)
    assert router.step(T0 + 2 + 1800) == 1
    assert outbox(store)[-1][0] == "lead"
    assert [a["lms"] for a in outbox(store)[-1][1]["alerts"]] == ["moodle-prod"]
    router.step(T0 + 86400)
    escalations = [p["escalation_level"] for _, p in outbox(store) if p["reason"] == "escalation"]
    assert escalations == [1, 2]  # every level told once

    alerts.resolve("moodle-prod", T0 + 90000)
    router.step(T0 + 90000 + 60)
    told = sorted(r for r, p in outbox(store) if p["status"] == "resolved")
    assert told == ["lead", "primary", "secondary"]  # everyone who heard of it


def test_resolved_goes_only_to_receivers_told_of_the_firing(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0, "routes": [
        {"receiver": "pager", "matchers": 'severity="page"'}]}))
    alerts.fire("moodle-prod", T0, severity="critical")
    router.step(T0)
    alerts.event("severity", "moodle-prod", T0 + 100, severity="page")  # now pages as well
    router.step(T0 + 100)
    alerts.resolve("moodle-prod", T0 + 900)
    router.step(T0 + 1000)

    resolved = [(r, p) for r, p in outbox(store) if p["status"] == "resolved"]
    assert sorted(r for r, _ in resolved) == ["ops", "pager"]
    assert "Outage:     15m" in resolved[0][1]["text"]
    assert resolved[0][1]["title"] == "[RESOLVED] moodle-prod: database is OK again after 15m"


def test_an_alert_that_fired_and_resolved_within_group_wait_is_not_sent(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config())
    alerts.fire("moodle-prod", T0)
    alerts.resolve("moodle-prod", T0 + 3)
    assert router.step(T0 + 3) == 0 and router.step(T0 + 60) == 0
    assert outbox(store) == [] and store.db.execute(
        "SELECT COUNT(*) FROM notification_groups").fetchone()[0] == 0


@pytest.mark.parametrize(("route_opt", "receiver_opt", "expected"), [
    (None, None, ["ops"]),
    (False, None, []),        # the route opts out
    (None, False, []),        # the receiver opts out
    (True, False, ["ops"]),   # the route's choice wins
])
def test_resolved_can_be_switched_off_per_route_or_receiver(
    store: StateStore, alerts: AlertWriter, route_opt: bool | None,
    receiver_opt: bool | None, expected: list[str],
) -> None:
    route: dict[str, Any] = {"receiver": "ops", "group_wait": 0}
    if route_opt is not None:
        route["send_resolved"] = route_opt
    receiver: dict[str, Any] = {"type": "log", "name": "ops"}
    if receiver_opt is not None:
        receiver["send_resolved"] = receiver_opt
    router = Router(store, config(route=route, receivers=[receiver]))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    alerts.resolve("moodle-prod", T0 + 600)
    router.step(T0 + 700)
    assert [r for r, p in outbox(store) if p["status"] == "resolved"] == expected
    assert store.db.execute("SELECT COUNT(*) FROM notification_group_alerts").fetchone()[0] == 0


def test_a_flap_back_to_firing_keeps_the_resolved_it_owes(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "group_interval": "1m"}))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    alerts.resolve("moodle-prod", T0 + 10)
    alerts.fire("moodle-prod", T0 + 20)
    router.step(T0 + 60)
    _, payload = outbox(store)[-1]
    fp = alerts.fingerprint("moodle-prod", "database")
    assert [(a["dedup_key"], a["status"]) for a in payload["alerts"]] == [
        (f"{fp}:2", "resolved"), (f"{fp}:3", "firing")]


@pytest.mark.parametrize("send_resolved", [True, False])
def test_a_flapping_alert_that_never_fired_is_notified_reminded_and_told_its_end(
    store: StateStore, alerts: AlertWriter, send_resolved: bool
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "repeat_interval": "1h",
                                         "send_resolved": send_resolved}))
    alerts.flap("moodle-prod", T0)  # the check flaps; its alert's state is still 'ok'
    assert router.step(T0) == 1
    [(receiver, payload)] = outbox(store)
    assert (receiver, payload["status"], [a["kind"] for a in payload["alerts"]]) == (
        "ops", "firing", ["flapping"])
    assert router.step(T0 + 3600) == 1  # still flapping: reminded like a firing alert
    assert outbox(store)[-1][1]["reason"] == "reminder"

    alerts.flap("moodle-prod", T0 + 4000, flapping=False)  # settled OK, same transition
    assert router.step(T0 + 4000 + 60) == int(send_resolved)
    if send_resolved:
        _, end = outbox(store)[-1]
        assert (end["status"], [a["kind"] for a in end["alerts"]]) == ("resolved",
                                                                       ["flapping_end"])
    # Told or not, the problem is over for this receiver: no reminders, nothing open.
    assert [tuple(r) for r in store.db.execute("SELECT open FROM notification_log")] == [(0,)]
    assert store.db.execute("SELECT COUNT(*) FROM notification_groups").fetchone()[0] == 0
    assert router.step(T0 + 5 * 3600) == 0


@dataclass(frozen=True)
class Window:
    uid: str
    lms: str
    end: float


class Book:
    """Stands in for helper A1's MaintenanceBook.covering at its contract boundary."""

    def __init__(self, *windows: Window) -> None:
        self.windows = list(windows)

    def covering(self, labels: Any, now: float) -> Window | None:
        return next((w for w in self.windows if w.lms == labels.get("lms") and now < w.end),
                    None)


def test_maintenance_suppresses_and_notifies_at_its_end_if_still_firing(
    store: StateStore, alerts: AlertWriter
) -> None:
    book = Book(Window("mw-1", "moodle-prod", T0 + 3600), Window("mw-2", "moodle-test", T0 + 3600))
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}),
                    covering=book.covering)
    alerts.fire("moodle-prod", T0 + 10)
    alerts.fire("moodle-test", T0 + 20)
    alerts.fire("canvas", T0 + 30)
    router.step(T0 + 30)
    assert route_states(store) == ["suppressed:maintenance:mw-1", "suppressed:maintenance:mw-2",
                                   "routed"]
    assert [a["lms"] for _, p in outbox(store) for a in p["alerts"]] == ["canvas"]
    alerts.resolve("moodle-test", T0 + 1800)  # fixed inside the window: nobody needs to know
    router.step(T0 + 1800)
    assert router.step(T0 + 3599) == 0

    assert router.step(T0 + 3600) == 1
    _, payload = outbox(store)[-1]
    assert [a["lms"] for a in payload["alerts"]] == ["moodle-prod"]
    assert router.step(T0 + 7200) == 0  # released once


def test_an_alert_acknowledged_during_maintenance_does_not_page_when_it_ends(
    store: StateStore, alerts: AlertWriter
) -> None:
    book = Book(Window("mw-1", "moodle-prod", T0 + 3600))
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}),
                    covering=book.covering)
    alerts.fire("moodle-prod", T0 + 10)
    router.step(T0 + 10)
    alerts.ack("moodle-prod", T0 + 600)  # someone is on it during the window
    router.step(T0 + 600)
    assert router.step(T0 + 3600) == 0 and router.step(T0 + 7200) == 0
    assert outbox(store) == []

    alerts.clear_ack("moodle-prod")
    alerts.event("ack_expired", "moodle-prod", T0 + 9000)  # nobody on it any more: tell
    assert router.step(T0 + 9000) == 1
    assert [a["kind"] for a in outbox(store)[-1][1]["alerts"]] == ["ack_expired"]


def test_an_alert_that_started_flapping_during_maintenance_is_notified_when_it_ends(
    store: StateStore, alerts: AlertWriter
) -> None:
    book = Book(Window("mw-1", "moodle-prod", T0 + 3600))
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}),
                    covering=book.covering)
    alerts.flap("moodle-prod", T0 + 10)  # never fired, flapping
    assert router.step(T0 + 10) == 0
    assert route_states(store) == ["suppressed:maintenance:mw-1"]
    assert router.step(T0 + 3600) == 1
    assert [a["kind"] for a in outbox(store)[-1][1]["alerts"]] == ["flapping"]


def test_reminders_and_escalations_wait_while_a_window_covers_the_alert(
    store: StateStore, alerts: AlertWriter
) -> None:
    book = Book()
    router = Router(store, config(
        route={"receiver": "ops", "group_wait": 0, "repeat_interval": "1h"},
        escalations=[{"name": "e", "levels": [{"after": "2h", "receivers": ["pager"]}]}]),
        covering=book.covering)
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    book.windows.append(Window("mw", "moodle-prod", T0 + 5 * 3600))
    assert router.step(T0 + 3600) == 0 and router.step(T0 + 7200) == 0
    assert router.step(T0 + 5 * 3600) == 1  # the window ended: the reminder
    assert outbox(store)[-1][1]["reason"] == "reminder"
    # The escalation clock stood still: its 2h wait starts again at the window's end.
    router.step(T0 + 6 * 3600)
    assert router.step(T0 + 7 * 3600 - 1) == 0
    assert router.step(T0 + 7 * 3600) == 2
    assert sorted(p["reason"] for _, p in outbox(store)[-2:]) == ["escalation", "reminder"]


LEVELS = [{"after": "15m", "receivers": ["secondary"]}, {"after": "30m", "receivers": ["lead"]},
          {"after": "1h", "receivers": ["boss"]}]


@pytest.mark.parametrize(("down", "window", "expected"), [
    # (no steps between, maintenance (start, end), minutes each level is sent)
    (None, None, [15, 30, 60]),
    # Down from 10m to 3h: one level per step after the restart, not all three at once.
    ((10, 180), None, [180, 195, 225]),
    # Down after level 1 was sent: level 2 waits its 15m step from the restart.
    ((20, 100), None, [15, 100, 130]),
    # A window from 5m to 2h: the 15m wait starts again at its end.
    (None, (5, 120), [135, 150, 180]),
    # A window between levels 1 and 2 holds level 2 until its step passed after the end.
    (None, (20, 90), [15, 105, 135]),
], ids=["steady", "down-before-level-1", "down-after-level-1", "window-before-level-1",
        "window-between-levels"])
def test_escalation_levels_are_paced_after_downtime_and_maintenance(
    store: StateStore, alerts: AlertWriter, down: tuple[int, int] | None,
    window: tuple[int, int] | None, expected: list[int],
) -> None:
    book = Book()
    if window is not None:
        book.windows.append(Window("mw", "moodle-prod", T0 + window[1] * 60))
    router = Router(store, config(
        receivers=[{"type": "log", "name": n} for n in ("primary", "secondary", "lead", "boss")],
        route={"receiver": "primary", "group_wait": 0, "repeat_interval": "24h"},
        escalations=[{"name": "pages", "levels": LEVELS}]), covering=book.covering)
    alerts.fire("moodle-prod", T0)
    sent: list[int] = []
    for minute in range(0, 300):
        if down is not None and down[0] < minute < down[1]:
            continue  # the daemon is not running
        if window is not None and minute < window[0]:
            book.windows[0] = Window("mw", "other-lms", T0 + window[1] * 60)  # not yet
        elif window is not None:
            book.windows[0] = Window("mw", "moodle-prod", T0 + window[1] * 60)
        before = len(outbox(store))
        router.step(T0 + minute * 60)
        sent += [minute for _, p in outbox(store)[before:] if p["reason"] == "escalation"]
    assert sent == expected


def test_held_events_are_left_to_the_engine(store: StateStore, alerts: AlertWriter) -> None:
    router = Router(store, config(route={"group_wait": 0}))
    alerts.fire("moodle-prod", T0, route_state="held:dependency:moodle-prod/homepage")
    assert router.step(T0 + 60) == 0
    assert route_states(store) == ["held:dependency:moodle-prod/homepage"]


def test_the_flush_is_one_transaction_a_failure_loses_and_repeats_nothing(
    store: StateStore, alerts: AlertWriter, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}))
    alerts.fire("moodle-prod", T0)
    store.db.execute("CREATE TRIGGER full BEFORE INSERT ON outbox"
                     " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
        router.step(T0)
    # The event reached its group; nothing was queued and the group still owes it.
    assert route_states(store) == ["routed"] and outbox(store) == []
    assert store.db.execute("SELECT notified_event_id FROM notification_group_alerts"
                            ).fetchone()[0] is None
    assert store.db.execute("SELECT COUNT(*) FROM notification_log").fetchone()[0] == 0

    store.db.execute("DROP TRIGGER full")
    assert router.step(T0 + 1) == 1 and router.step(T0 + 2) == 0
    assert len(outbox(store)) == 1


def test_an_idle_step_takes_no_write_lock(store: StateStore, alerts: AlertWriter) -> None:
    router = Router(store, config(
        route={"receiver": "ops", "group_wait": 0},
        escalations=[{"name": "e", "levels": [{"after": "1h", "receivers": ["pager"]}]}]))
    alerts.fire("moodle-prod", T0)
    router.step(T0)  # notified; its escalation waits an hour
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    try:
        for second in range(1, 30):
            assert router.step(T0 + second) == 0
    finally:
        store.db.set_trace_callback(None)
    assert statements and not [s for s in statements if s.lstrip().upper().startswith("BEGIN")]


def test_a_failed_ingest_leaves_the_events_pending(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}))
    alerts.fire("moodle-prod", T0)
    alerts.fire("moodle-test", T0)
    store.db.execute("CREATE TRIGGER broken BEFORE INSERT ON notification_group_alerts"
                     " WHEN NEW.fingerprint = '" + alerts.fingerprint("moodle-test", "database")
                     + "' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(sqlite3.IntegrityError):
        router.step(T0)
    assert route_states(store) == ["pending", "pending"]  # all or nothing
    store.db.execute("DROP TRIGGER broken")
    assert router.step(T0) == 2 and route_states(store) == ["routed", "routed"]


def test_the_outbox_key_is_derived_from_the_content_and_the_installation(
    tmp_path: Any
) -> None:
    """Same content in the same state database: the same key (a replayed flush queues
    nothing new). Another state database (a re-install, a second Vigil): another key, so
    a receiver that deduplicates by key never drops a genuinely new page."""
    def flush(path: Any) -> list[str]:
        db = StateStore(path)
        writer = AlertWriter(db)
        writer.fire("moodle-prod", T0)
        Router(db, config(route={"group_wait": 0})).step(T0 + 5)
        keys = [p["dedup_key"] for _, p in outbox(db)]
        db.close()
        return keys

    one = flush(tmp_path / "one.sqlite")
    assert one[0].startswith("notify-")
    assert StateStore(tmp_path / "one.sqlite").installation_id  # kept across opens
    again = StateStore(tmp_path / "one.sqlite")
    same = outbound.notification_key("notify", "g", 1, ["k"], again.installation_id)
    assert same == outbound.notification_key("notify", "g", 1, ["k"], again.installation_id)
    again.close()
    assert flush(tmp_path / "two.sqlite") != one


def test_enqueue_message_goes_to_every_healthy_receiver_once(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(store, config())
    store.db.execute("INSERT INTO receiver_health VALUES ('pager', 'failed', 'HTTP 401', 0)")
    args = ("maintenance", "Maintenance in 30 min", "text", "<p>html</p>")
    assert router.enqueue_message(*args, labels={"lms": "moodle-prod"}, now=T0) == 1
    assert router.enqueue_message(*args, labels={"lms": "moodle-prod"}, now=T0 + 5) == 0
    assert router.enqueue_message(*args, receivers=["pager"], now=T0) == 1
    (receiver, payload), _ = outbox(store)
    assert receiver == "ops" and payload["alerts"] == [] and payload["reason"] == "maintenance"
    assert (payload["title"], payload["text"], payload["html"]) == args[1:]


async def test_the_loop_steps_on_wake_and_survives_a_failing_step(
    store: StateStore, alerts: AlertWriter, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(store, config(route={"group_wait": 0}))
    calls: list[float] = []
    real = router.step

    def step(now: float) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(now)

    router.step = step  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.create_task(router.run_forever(lambda: T0, stop, tick=3600))
    await asyncio.sleep(0.05)
    alerts.fire("moodle-prod", T0)
    router.wake()
    for _ in range(100):
        if outbox(store):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert len(outbox(store)) == 2
    assert any("router step failed" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


def _berlin(local: str) -> float:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


OFFICE_HOURS = [{"name": "office", "weekdays": ["monday:friday"], "location": "Europe/Berlin",
                 "times": [{"start_time": "09:00", "end_time": "17:00"}]}]


def test_a_ticket_outside_office_hours_is_held_until_they_start_across_dst(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(
        time_intervals=OFFICE_HOURS,
        route={"receiver": "ops", "group_wait": 0, "routes": [
            {"receiver": "pager", "matchers": 'severity="warning"',
             "active_time_intervals": ["office"]}]}))
    friday_night = _berlin("2026-03-27 22:00")  # CET; Monday is CEST
    alerts.fire("moodle-prod", friday_night, severity="warning")
    alerts.fire("moodle-test", friday_night, severity="warning")
    router.step(friday_night)
    alerts.resolve("moodle-test", friday_night + 3600)  # over before anyone was told
    assert router.step(_berlin("2026-03-28 10:00")) == 0  # Saturday
    assert router.step(_berlin("2026-03-30 08:59")) == 0
    assert router.step(_berlin("2026-03-30 09:00")) == 1  # Monday 09:00 local, after DST
    [(receiver, payload)] = outbox(store)
    assert receiver == "pager" and [a["lms"] for a in payload["alerts"]] == ["moodle-prod"]


def test_a_mute_interval_holds_reminders_and_news_until_it_ends(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(
        time_intervals=[{"name": "nights", "location": "Europe/Berlin",
                         "times": [{"start_time": "00:00", "end_time": "07:00"}]}],
        route={"receiver": "ops", "group_wait": 0, "repeat_interval": "1h",
               "mute_time_intervals": ["nights"]}))
    evening = _berlin("2026-06-01 23:00")
    alerts.fire("moodle-prod", evening)
    assert router.step(evening) == 1
    assert router.step(_berlin("2026-06-02 00:30")) == 0  # reminder due, but muted
    alerts.resolve("moodle-prod", _berlin("2026-06-02 03:00"))
    assert router.step(_berlin("2026-06-02 03:01")) == 0
    assert router.step(_berlin("2026-06-02 07:00")) == 1  # the resolved it was owed
    assert outbox(store)[-1][1]["status"] == "resolved"


def test_an_event_that_cannot_be_routed_goes_to_every_receiver_not_nowhere(
    store: StateStore, alerts: AlertWriter, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0}))

    def broken(labels: Any, now: float) -> None:
        raise RuntimeError("maintenance book bug")

    router.covering = broken
    alerts.fire("moodle-prod", T0)
    assert router.step(T0) == 2
    assert sorted(r for r, _ in outbox(store)) == ["ops", "pager"]
    assert "routing alert event" in caplog.text


def test_an_alert_that_ended_without_a_resolved_event_is_not_listed_as_failing(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "group_by": ["host"]}))
    alerts.fire("a", T0, labels={"host": "db1"})
    router.step(T0)
    alerts.fire("b", T0 + 5, labels={"host": "db1"})
    store.db.execute("UPDATE alerts SET state = 'ok' WHERE lms = 'a'")  # its end held back
    router.step(T0 + 60)
    assert [a["lms"] for a in outbox(store)[-1][1]["alerts"]] == ["b"]


def test_an_expired_acknowledgement_notifies_again_and_reminders_resume(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "repeat_interval": "1h"}))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    alerts.ack("moodle-prod", T0 + 60)
    router.step(T0 + 120)
    assert router.step(T0 + 2 * 3600) == 0
    alerts.clear_ack("moodle-prod")
    alerts.event("ack_expired", "moodle-prod", T0 + 3 * 3600)
    assert router.step(T0 + 3 * 3600) == 1
    assert outbox(store)[-1][1]["alerts"][0]["kind"] == "ack_expired"
    assert router.step(T0 + 4 * 3600) == 1 and outbox(store)[-1][1]["reason"] == "reminder"


def test_a_reload_keeps_waiting_groups_and_applies_the_new_timings(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": "1m"}))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    router.reconfigure(config(route={"receiver": "ops", "group_wait": "5s"}))
    assert router.step(T0 + 5) == 1  # the waiting group flushed under the new group_wait


@pytest.mark.parametrize(("new_routes", "flushed_at"), [
    # A route inserted before it: the waiting group stays on its route (its 1m wait).
    ([{"receiver": "pager", "matchers": "team=x", "group_wait": "5m"},
      {"receiver": "ops", "matchers": "team=elearning", "group_wait": "1m"}], 60),
    # Reordered: the same.
    ([{"receiver": "ops", "matchers": "team=elearning", "group_wait": "1m"},
      {"receiver": "pager", "matchers": "team=x", "group_wait": "5m"}], 60),
    # Its definition changed (another matcher): not the same route any more, the
    # group uses the root's settings (group_wait 10m), never the route now at its place.
    ([{"receiver": "ops", "matchers": "team=moodle", "group_wait": "1m"},
      {"receiver": "pager", "matchers": "team=x", "group_wait": "5m"}], 600),
])
def test_a_reload_keeps_a_waiting_group_on_its_own_route_not_its_position(
    store: StateStore, alerts: AlertWriter, new_routes: list[dict[str, Any]], flushed_at: int
) -> None:
    def tree(routes: list[dict[str, Any]]) -> Any:
        return config(route={"receiver": "ops", "group_wait": "10m", "routes": routes})

    router = Router(store, tree([
        {"receiver": "ops", "matchers": "team=elearning", "group_wait": "1m"},
        {"receiver": "pager", "matchers": "team=x", "group_wait": "5m"}]))
    alerts.fire("moodle-prod", T0, labels={"team": "elearning"})
    router.step(T0)
    router.reconfigure(tree(new_routes))
    assert router.step(T0 + flushed_at - 1) == 0
    assert router.step(T0 + flushed_at) == 1
    assert outbox(store)[0][0] == "ops"


def test_an_unsent_resolved_still_closes_what_the_receiver_was_told(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(route={"receiver": "ops", "group_wait": 0,
                                         "send_resolved": False}))
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    alerts.resolve("moodle-prod", T0 + 60)
    router.step(T0 + 120)
    assert [tuple(r) for r in store.db.execute("SELECT open FROM notification_log")] == [(0,)]


def test_the_maintenance_book_is_asked_again_only_when_the_window_may_be_over(
    store: StateStore, alerts: AlertWriter
) -> None:
    book = Book(Window("mw-1", "moodle-prod", T0 + 3600))
    calls: list[float] = []

    def covering(labels: Any, now: float) -> Window | None:
        calls.append(now)
        return book.covering(labels, now)

    router = Router(store, config(route={"group_wait": 0}), covering=covering)
    alerts.fire("moodle-prod", T0)
    router.step(T0)
    for second in range(1, 600):
        router.step(T0 + second)
    assert calls == [T0]  # the window's end is known: no need to ask every second
    router.step(T0 + 3600)
    assert calls[0] == T0 and all(now == T0 + 3600 for now in calls[1:])
    assert len(outbox(store)) == 2


def test_messages_of_one_group_share_a_chain_but_not_a_key(store: StateStore) -> None:
    """A receiver's "failed" and "recovered" self-alerts: one group key (the dispatcher
    keeps their order), two outbox keys (both are delivered)."""
    router = Router(store, config())
    for change in ("failed", "recovered"):
        router.enqueue_message("self", f"pager {change}", "t", "<p>t</p>", ["ops"],
                               {"receiver": "pager"}, T0, key=f"receiver:pager:{change}:1",
                               group="receiver:pager")
    payloads = [p for _, p in outbox(store)]
    assert len({p["group_key"] for p in payloads}) == 1
    assert len({p["dedup_key"] for p in payloads}) == 2


def test_a_flapping_alert_escalates_like_a_firing_one(
    store: StateStore, alerts: AlertWriter
) -> None:
    router = Router(store, config(
        receivers=[{"type": "log", "name": n} for n in ("primary", "secondary")],
        route={"receiver": "primary", "group_wait": 0},
        escalations=[{"name": "pages", "levels": [{"after": "15m", "receivers": ["secondary"]}]}]))
    alerts.flap("moodle-prod", T0)
    router.step(T0)
    assert outbox(store)[-1][0] == "primary"
    assert router.step(T0 + 900) == 1
    assert outbox(store)[-1][0] == "secondary"
