"""The LMS actions of a config window in an HA pair: two lifecycles (two members, each
its own state file) over one fake Moodle site, the member that acts decided as
alerts/fleet_ha.py decides it (here set directly; the heartbeat itself is shown against
a real Alertmanager in test_silences_live.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.maintenance.book import parse_spec
from alerts.maintenance.model import from_utc
from tests.conftest import FakeClock
from tests.integrity.integrity_helpers import EXTRA_CODE, write_tree
from tests.maintenance.test_lifecycle import HOUR, LMS, Env
from tests.moodle_double.sitedir import make_site


class Member:
    def __init__(self, env: Env, acting: bool) -> None:
        self.env, self.acting = env, acting
        env.lifecycle.acts_for = lambda source: self.acting or source in ("api", "cli")


@pytest.fixture
def pair(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Member, Member]]:
    site = make_site(tmp_path, "4.5")
    write_tree(site.root, EXTRA_CODE)
    zero = Member(Env(tmp_path / "member0", clock, site), acting=True)
    one = Member(Env(tmp_path / "member1", clock, site), acting=False)
    yield zero, one
    zero.env.close()
    one.env.close()


def config_window(member: Member, start: float) -> None:
    spec = parse_spec({"name": "nightly upgrade", "lms": LMS,
                       "start": from_utc(start, "UTC"), "end": from_utc(start + HOUR, "UTC"),
                       "actions": {"lms_maintenance_mode": True}})
    member.env.book.sync_config([spec], member.env.clock.now)  # the same on every member


async def test_only_member_zero_switches_the_maintenance_mode(
        pair: tuple[Member, Member]) -> None:
    zero, one = pair
    start = zero.env.clock.now + HOUR
    for member in pair:
        config_window(member, start)
    await one.env.at(start + 2)
    assert one.env.maintenance_calls() == []  # member 1 leaves it to member 0
    await zero.env.at(start + 3)
    assert zero.env.marker.exists()
    assert zero.env.maintenance_calls("--enable") == [["--enable"]]  # once, by member 0
    await one.env.at(start + HOUR + 2)
    await zero.env.at(start + HOUR + 3)
    assert not zero.env.marker.exists()
    assert zero.env.maintenance_calls("--disable") == [["--disable"]]  # once, by member 0


async def test_member_one_switches_it_off_when_member_zero_died_inside_the_window(
        pair: tuple[Member, Member]) -> None:
    zero, one = pair
    start = zero.env.clock.now + HOUR
    for member in pair:
        config_window(member, start)
    await zero.env.at(start + 2)
    await one.env.at(start + 3)
    assert zero.env.marker.exists()
    # Member 0 dies; its heartbeat expires from the cluster and member 1 takes over.
    one.acting = True
    await one.env.at(start + HOUR + 2)
    assert not one.env.marker.exists()
    assert one.env.maintenance_calls("--enable") == [["--enable"]]
    assert one.env.maintenance_calls("--disable") == [["--disable"]]


async def test_a_window_made_on_member_one_through_its_api_is_acted_on_by_member_one(
        pair: tuple[Member, Member]) -> None:
    _, one = pair
    start = one.env.clock.now + HOUR
    one.env.add_window(start, lms_maintenance_mode=True)  # source "api": only it knows it
    await one.env.at(start + 2)
    assert one.env.marker.exists()
