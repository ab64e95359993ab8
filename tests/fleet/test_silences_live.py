"""Maintenance windows mirrored as silences in a real two-instance Alertmanager cluster,
and the HA heartbeat that decides which member switches an LMS's maintenance mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.am_cluster import AlertmanagerCluster
from alerts.fleet_ha import HaRole
from alerts.maintenance.book import MaintenanceBook, parse_spec
from alerts.maintenance.silences import HORIZON, SilenceMirror, wanted_silences
from alerts.receiver_specs import AlertmanagerReceiverSpec
from monitor.app.config import parse_config
from monitor.app.store import StateStore
from monitor.kernel.clock import SystemClock
from tests.fleet.processes import Alertmanager, need_alertmanager
from tests.helpers import free_port, wait_for

NULL_ROUTE = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'
CONFIG = """
[[lms]]
name = "prod"
url = "http://127.0.0.1:9"
[[lms]]
name = "staging"
url = "http://127.0.0.1:9"
[[maintenance]]
name = "nightly"
kind = "manual"
lms = "staging"
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Alertmanager]]:
    need_alertmanager()
    work = tmp_path_factory.mktemp("am")
    first = Alertmanager(work / "a", NULL_ROUTE)
    second = Alertmanager(work / "b", NULL_ROUTE, peers=[first.cluster_address])
    try:
        wait_for(lambda: first.peers() == 2 and second.peers() == 2, 20, "cluster of two")
        yield [first, second]
    finally:
        second.stop()
        first.stop()


def book_over(path: Path) -> MaintenanceBook:
    store = StateStore(path / "vigil.db")
    book = MaintenanceBook(store.database, SystemClock())
    book.apply_config(parse_config(CONFIG))
    return book


def client(urls: list[str]) -> AlertmanagerCluster:
    return AlertmanagerCluster(AlertmanagerReceiverSpec(name="am", urls=urls, timeout=3))


def ours(am: Alertmanager, uid: str) -> list[dict[str, Any]]:
    return [s for s in am.get("/api/v2/silences") if uid in s["comment"]
            and s["status"]["state"] != "expired"]


def matchers(silence: dict[str, Any]) -> set[tuple[str, str, bool, bool]]:
    return {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]}


async def test_a_window_is_mirrored_created_updated_and_expired_with_it(
        cluster: list[Alertmanager], tmp_path: Path) -> None:
    first, second = cluster
    book = book_over(tmp_path)
    mirror = SilenceMirror(book, client([first.url]))
    window = book.add(parse_spec({"name": "upgrade", "kind": "manual", "lms": "prod",
                                  "matchers": ['check=~"http|cron"']}), "api")
    assert await mirror.step(SystemClock().time()) == 2  # with the config window
    # Gossip: the other instance of the cluster has it too.
    [silence] = wait_for(lambda: ours(second, window.uid), 10, "silence on the peer")
    assert matchers(silence) == {("lms", "prod", False, True), ("check", "http|cron", True, True),
                                 ("alertname", "VigilNotice", False, False)}
    assert silence["id"] in mirror.ids.values()  # remembered (and found again by its tag)

    await mirror.step(SystemClock().time())  # nothing changed: nothing new
    assert len(ours(first, window.uid)) == 1

    book.edit(window.id, {"matchers": ["lms=prod", "check=http"]})
    await mirror.step(SystemClock().time())
    [edited] = ours(first, window.uid)
    assert ("check", "http", False, True) in matchers(edited)

    book.end(window.id)
    await mirror.step(SystemClock().time())
    assert ours(first, window.uid) == []
    await mirror.cluster.aclose()


async def test_config_windows_are_shared_and_other_instances_windows_left_alone(
        cluster: list[Alertmanager], tmp_path: Path) -> None:
    first, second = cluster
    one, two = book_over(tmp_path / "one"), book_over(tmp_path / "two")
    mirror_one = SilenceMirror(one, client([first.url, second.url]))
    mirror_two = SilenceMirror(two, client([second.url, first.url]))
    private = one.add(parse_spec({"name": "mine", "kind": "manual", "lms": "prod"}), "api")
    await mirror_one.step(SystemClock().time())
    nightly = one.list()[0].uid  # the config window: the same UID on both instances
    wait_for(lambda: ours(second, nightly), 10, "the config window's silence gossiped")
    await mirror_two.step(SystemClock().time())
    assert len(ours(first, nightly)) == 1  # found and shared, not created twice
    assert len(ours(first, private.uid)) == 1  # instance two does not know it: left alone
    await mirror_one.cluster.aclose()
    await mirror_two.cluster.aclose()


async def test_an_unreachable_alertmanager_is_retried_without_raising(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    book = book_over(tmp_path)
    mirror = SilenceMirror(book, client([f"http://127.0.0.1:{free_port()}"]))
    assert await mirror.step(SystemClock().time()) == 0
    assert await mirror.step(SystemClock().time()) == 0
    warnings = [r for r in caplog.records if "cannot mirror maintenance windows" in r.message]
    assert len(warnings) == 1  # logged once, retried quietly
    await mirror.cluster.aclose()


async def test_member_one_acts_only_while_member_zeros_heartbeat_is_absent(
        cluster: list[Alertmanager]) -> None:
    first, second = cluster
    urls = [first.url, second.url]  # alerts are not gossiped: pushed to and read from all
    zero = HaRole(client(urls), 0, {"shard": "7"}, every=1.0)
    one = HaRole(client(urls[::-1]), 1, {"shard": "7"}, every=1.0)
    assert zero.acts_for("config") and not one.acts_for("config")
    assert one.acts_for("api")  # a window only this instance knows: it acts
    await zero.step(SystemClock().time())
    await one.step(SystemClock().time())
    assert not one.acting
    # Member 0 stops: its heartbeat ends after HEARTBEAT_STEPS steps of 1 s.
    deadline = SystemClock().time() + 15
    while not one.acting and SystemClock().time() < deadline:
        await asyncio.sleep(0.5)
        await one.step(SystemClock().time())
    assert one.acting
    await zero.step(SystemClock().time())  # back
    await one.step(SystemClock().time())
    assert not one.acting
    await zero.cluster.aclose()
    await one.cluster.aclose()


async def test_a_window_alertmanager_refuses_blocks_no_other_and_is_logged(
        cluster: list[Alertmanager], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first, _ = cluster
    book = book_over(tmp_path)
    mirror = SilenceMirror(book, client([first.url]))
    # Python's re takes a lookahead; Alertmanager's RE2 does not (HTTP 400).
    refused = book.add(parse_spec({"name": "lookahead", "kind": "manual",
                                   "matchers": ['lms=~"(?!staging).*"']}), "api")
    plain = book.add(parse_spec({"name": "plain", "kind": "manual", "lms": "prod"}), "api")
    await mirror.step(SystemClock().time())
    assert len(ours(first, plain.uid)) == 1
    assert ours(first, refused.uid) == []
    assert any("cannot mirror maintenance windows" in r.message and refused.uid in r.message
               for r in caplog.records)
    book.end(plain.id)
    await mirror.step(SystemClock().time())
    await mirror.cluster.aclose()


async def test_two_silences_raced_for_one_occurrence_are_reduced_to_one(
        cluster: list[Alertmanager], tmp_path: Path) -> None:
    first, _ = cluster
    book = book_over(tmp_path)
    nightly = book.list()[0]  # the config window, known to every instance
    am = client([first.url])
    key = nightly.uid  # a manual window: its UID alone (its start differs per instance)
    body = {"matchers": [{"name": "lms", "value": "staging", "isRegex": False,
                          "isEqual": True}],
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "another instance", "comment": f"[vigil-window {key}] raced"}
    for _ in range(2):  # as two instances would, both before seeing the other's
        await am.post_silence(body)
    assert len(ours(first, nightly.uid)) >= 2  # (an earlier test's may be there too)
    mirror = SilenceMirror(book, am)
    await mirror.step(SystemClock().time())
    [kept] = ours(first, nightly.uid)
    assert ("alertname", "VigilNotice", False, False) in matchers(kept)  # and brought in line
    await am.aclose()


def test_each_occurrence_of_a_recurring_window_gets_its_own_silence(tmp_path: Path) -> None:
    book = book_over(tmp_path)
    now = SystemClock().time()
    recurring = book.add(parse_spec({"name": "daily", "lms": "prod", "duration": "1h",
                                  "start": "2026-01-01T00:00", "rrule": "FREQ=HOURLY;INTERVAL=6"}),
                      "api")
    occurrences = [o for o in book.occurrences_between(now, now + HORIZON)
                   if o.window_id == recurring.id]
    wanted = wanted_silences(occurrences, now, "vigil")
    assert set(wanted) == {f"{recurring.uid}@{int(o.start)}" for o in occurrences
                           if o.end is not None and o.end > now}
    assert len(wanted) >= 4  # every six hours within the day ahead
