"""``[fleet]`` rules: HA notifies only through Alertmanager, members are numbered, the
Alertmanager receiver the fleet uses is named when it is not obvious."""

from __future__ import annotations

import pytest

from monitor.app.config import ConfigError, parse_config

SITE = '[[lms]]\nname = "site"\nurl = "http://127.0.0.1:9000"\n'
AM = '[[alerts.receivers]]\nname = "am"\ntype = "alertmanager"\nurls = ["http://127.0.0.1:9093"]\n'
HOOK = '[[alerts.receivers]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def test_ha_with_a_direct_receiver_is_refused_naming_the_receiver() -> None:
    found = problems(SITE + AM + HOOK + "[fleet]\nha = true\nha_member = 0\n")
    assert any(p.startswith("fleet.ha: receiver 'hook' (webhook) would notify from both "
                            "members") for p in found), found


def test_ha_needs_a_member_number_and_a_member_number_needs_ha() -> None:
    assert any("fleet.ha_member: required with ha = true" in p
               for p in problems(SITE + AM + "[fleet]\nha = true\n"))
    assert any("fleet.ha_member: only used with ha = true" in p
               for p in problems(SITE + AM + "[fleet]\nha_member = 1\n"))


def test_a_fleet_without_an_alertmanager_receiver_is_told_what_to_add() -> None:
    found = problems(SITE + '[fleet]\nshard = "0/2"\n')
    assert any(p.startswith("fleet.alertmanager: a fleet needs an alertmanager receiver")
               for p in found), found


def test_two_alertmanager_receivers_need_the_fleet_to_name_one() -> None:
    second = AM.replace('"am"', '"am2"')
    found = problems(SITE + AM + second + "[fleet]\nha = true\nha_member = 0\n")
    assert any("name which alertmanager receiver" in p and "am, am2" in p for p in found)
    assert any("'log' is not an alertmanager receiver" in p for p in problems(
        SITE + AM + '[fleet]\nha = true\nha_member = 0\nalertmanager = "log"\n'))


def test_an_ha_member_with_only_alertmanager_and_log_receivers_loads() -> None:
    log = '[[alerts.receivers]]\nname = "log"\ntype = "log"\n'
    config = parse_config(SITE + AM + log + '[fleet]\nha = true\nha_member = 1\nshard = "0/1"\n')
    assert config.fleet.ha_member == 1 and config.fleet.mirrors_windows
    assert config.fleet.label() == {"shard": "0"}


def test_a_shard_alone_may_turn_mirroring_off_and_need_no_alertmanager() -> None:
    config = parse_config(SITE + '[fleet]\nshard = "0/3"\nmirror_windows = false\n')
    assert not config.fleet.mirrors_windows
