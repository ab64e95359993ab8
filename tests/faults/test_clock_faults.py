"""The fault matrix for time itself: the wall clock jumps back (NTP steps a fast clock
back, a VM restored from a snapshot) or forward (a suspended VM wakes up a day later).
The alert path is real (AlertService -> Router -> outbox -> Dispatcher) with a recording
notifier at the output boundary; the clock is injected and jumps where the test says.

A jump back must neither resolve nor re-fire an alert, nor queue anything; a jump forward
must not flood: at most one reminder, and escalation levels one configured step apart.
"""

from __future__ import annotations

from typing import Any

from alerts.notifiers import NotifyError
from monitor.app.runner import CheckRunner
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from tests.conftest import FakeClock
from tests.faults.alert_path import T0, AlertPath, fire, resolve

HOUR, DAY = 3600.0, 86400.0


class Recording:
    """The output boundary: what each receiver was asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.at: list[float] = []  # the injected time of each send
        self.path: AlertPath | None = None
        self.down = False

    async def send(self, notification: dict[str, Any]) -> None:
        if self.down:
            raise NotifyError("connection refused")
        self.sent.append(notification)
        self.at.append(self.path.now if self.path else 0.0)

    def escalations(self) -> list[tuple[int, float]]:
        return [(int(n["escalation_level"]), at) for n, at in zip(self.sent, self.at, strict=True)
                if n.get("reason") == "escalation"]

    async def aclose(self) -> None:
        return None


def told(pager: Recording) -> list[tuple[str, str]]:
    """(reason, status) of every notification, in the order they went out."""
    return [(str(n.get("reason")), str(n.get("status"))) for n in pager.sent]


def path_with(store: StateStore, pager: Recording, **alerts: Any) -> AlertPath:
    alerts.setdefault("route", {"group_by": ["lms"], "group_wait": "0s",
                                "repeat_interval": "1h"})
    path = AlertPath(store, [{"type": "log", "name": "pager"}], {"pager": pager}, **alerts)
    pager.path = path
    return path


def transitions(store: StateStore) -> list[str]:
    rows = store.db.execute("SELECT kind FROM alert_transitions ORDER BY id").fetchall()
    return [str(row[0]) for row in rows]


async def run_failing(path: AlertPath, lms: str, start: float, minutes: int) -> None:
    """The check keeps failing, one run a minute, the router and dispatcher in step."""
    for minute in range(minutes):
        path.now = start + minute * 60
        path.result(lms, Status.CRITICAL)
        await path.tick(path.now)


async def test_a_jump_back_neither_resolves_nor_refires_a_firing_alert(
    store: StateStore
) -> None:
    pager = Recording()
    path = path_with(store, pager)
    await fire(path, "moodle", T0)
    assert told(pager) == [("notify", "firing")]

    await run_failing(path, "moodle", T0 - HOUR, minutes=30)  # an hour back, still failing

    assert told(pager) == [("notify", "firing")]
    assert transitions(store) == ["firing"]
    assert path.pending() == 0
    await resolve(path, "moodle", T0 - HOUR + 1800)  # and it really recovers
    assert transitions(store) == ["firing", "resolved"]
    # Told at once, not when the wall clock is back where the last flush was (bug fixed:
    # the group_interval wait counted from a last flush in the future).
    assert told(pager) == [("notify", "firing"), ("notify", "resolved")]


async def test_a_jump_back_while_healthy_does_not_fire_or_resolve_anything(
    store: StateStore
) -> None:
    pager = Recording()
    path = path_with(store, pager)
    await fire(path, "moodle", T0)
    await resolve(path, "moodle", T0 + 600)
    for minute in range(30):  # healthy, an hour in the past
        path.now = T0 - HOUR + minute * 60
        path.result("moodle", Status.OK)
        await path.tick(path.now)
    assert told(pager) == [("notify", "firing"), ("notify", "resolved")]
    assert transitions(store) == ["firing", "resolved"]


async def test_a_jump_forward_a_day_sends_one_reminder_not_one_per_missed_hour(
    store: StateStore
) -> None:
    pager = Recording()
    path = path_with(store, pager)
    await fire(path, "moodle", T0)

    await run_failing(path, "moodle", T0 + DAY, minutes=59)  # a day later, for an hour

    reminders = [r for r in told(pager) if r[0] == "reminder"]
    assert len(reminders) == 1, told(pager)
    await run_failing(path, "moodle", T0 + DAY + HOUR, minutes=2)  # repeat_interval later
    assert len([r for r in told(pager) if r[0] == "reminder"]) == 2
    assert transitions(store) == ["firing"]


async def test_a_jump_forward_escalates_one_configured_step_at_a_time(
    store: StateStore
) -> None:
    pager = Recording()
    levels = [{"after": "5m", "receivers": ["pager"]}, {"after": "15m", "receivers": ["pager"]},
              {"after": "45m", "receivers": ["pager"]}]
    path = path_with(store, pager, escalations=[{"name": "page", "levels": levels}])
    await fire(path, "moodle", T0)

    await path.tick(T0 + DAY)  # every level is overdue at once
    assert pager.escalations() == [(1, T0 + DAY)], told(pager)  # one level, not three

    await run_failing(path, "moodle", T0 + DAY, minutes=60)

    assert [level for level, _ in pager.escalations()] == [1, 2, 3], told(pager)
    (_, first), (_, second), (_, third) = pager.escalations()
    assert second - first >= 10 * 60 and third - second >= 30 * 60  # the configured steps
    assert third - first <= 40 * 60 + 60  # and no later than those steps (one tick a minute)


async def test_a_retry_set_before_a_jump_back_goes_out_within_max_backoff_after_it(
    store: StateStore
) -> None:
    pager = Recording()
    path = path_with(store, pager)
    pager.down = True
    await fire(path, "moodle", T0)
    await path.drain(until=T0 + 600)  # retrying, the next try ~max_backoff (60 s) ahead
    [item] = store.outbox_items("pending")
    assert item.attempts > 3

    pager.down = False
    for minute in range(3):  # an hour back; the dispatcher ticks once a minute
        await path.tick(T0 - HOUR + minute * 60)
    # Bug fixed: the retry used to wait for the wall clock to pass its old due time.
    assert told(pager) == [("notify", "firing")]
    assert pager.at[0] <= T0 - HOUR + 60


async def test_a_jump_back_holds_an_escalation_back_by_one_step_not_by_the_jump(
    store: StateStore
) -> None:
    pager = Recording()
    levels = [{"after": "5m", "receivers": ["pager"]}, {"after": "15m", "receivers": ["pager"]}]
    path = path_with(store, pager, escalations=[{"name": "page", "levels": levels}])
    await fire(path, "moodle", T0)
    await run_failing(path, "moodle", T0 + 60, minutes=2)  # not yet due

    await run_failing(path, "moodle", T0 - HOUR, minutes=20)  # an hour back, for 20 minutes

    (one, first), (two, second) = pager.escalations()  # each level once
    assert (one, two) == (1, 2)
    assert first <= T0 - HOUR + 5 * 60  # one 5-minute wait from the jump, not the jump
    assert second - first >= 10 * 60  # and the configured step between the levels
    assert transitions(store) == ["firing"]


class Scripted:
    """A check whose next status the test sets (the site's real behaviour is not the point)."""

    def __init__(self) -> None:
        self.status = Status.CRITICAL

    async def run(self, ctx: Any) -> Result:
        return Result(self.status, f"site is {self.status.name}")


async def test_the_runner_keeps_a_check_streak_across_jumps_back_and_forward(
    store: StateStore
) -> None:
    """One level up: the daemon's CheckRunner with an injected clock, the check state store
    and the AlertService as its listener, the clock jumping both ways between runs."""
    pager = Recording()
    path = path_with(store, pager)
    clock = FakeClock(start=T0)
    runner = CheckRunner(clock, store=store, listener=path.service)
    check = Scripted()
    job = CheckJob(Target(name="moodle", kind="generic"), "http",
                   CheckSpec(type="scripted", interval=60), check)

    async def run(times: int) -> None:
        for _ in range(times):
            await runner.run(job)
            path.now = clock.time()
            await path.tick(path.now)
            clock.advance(60)

    await run(3)  # fires
    clock.now -= HOUR
    await run(5)  # an hour back, still failing
    state = store.get_state("moodle", "http")
    assert state is not None and state.consecutive_fail == 8
    clock.now += DAY
    check.status = Status.OK
    await run(3)  # a day forward, healthy again

    assert transitions(store) == ["firing", "resolved"]
    assert [r for r in told(pager) if r[0] == "notify"] == [("notify", "firing"),
                                                           ("notify", "resolved")]
    assert len(store.history("moodle", "http")) == 11  # every run kept, none lost to order
