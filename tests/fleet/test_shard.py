"""The shard split: stable, complete, parsed with clear errors, applied to jobs and alerts.

That ``hashmod`` gives the same shard as Prometheus's own hashmod relabel action is shown
against a real Prometheus in tests/fleet/test_prometheus_fleet.py.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.app.config import ConfigError, parse_config
from monitor.app.fleet import with_shard
from monitor.app.jobs import build_jobs
from monitor.kernel.shard import Shard, hashmod, parse_shard

# LMS names as the config allows them (monitor/app/config.py LmsConfig.name).
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
site_lists = st.lists(names, min_size=1, max_size=40, unique=True)
counts = st.integers(min_value=1, max_value=16)


@settings(max_examples=200, deadline=None)
@given(site_lists, counts)
def test_every_site_is_owned_by_exactly_one_shard(sites: list[str], count: int) -> None:
    owners = {site: [i for i in range(count) if Shard(i, count).owns(site)] for site in sites}
    assert all(len(found) == 1 for found in owners.values()), owners
    split = [Shard(i, count).owned(sites) for i in range(count)]
    assert sorted(site for part in split for site in part) == sorted(sites)


@settings(max_examples=200, deadline=None)
@given(site_lists, names, counts)
def test_adding_a_site_moves_no_other_site(sites: list[str], new: str, count: int) -> None:
    before = {site: hashmod(site, count) for site in sites}
    after = {site: hashmod(site, count) for site in [*sites, new]}
    assert all(after[site] == shard for site, shard in before.items())
    # The same through the Shard objects the daemon uses.
    for index in range(count):
        owned_before = set(Shard(index, count).owned(sites))
        owned_after = set(Shard(index, count).owned([*sites, new]))
        assert owned_after - owned_before <= {new}


def test_hashmod_is_md5_low_eight_bytes_big_endian() -> None:
    digest = hashlib.md5(b"moodle-a").hexdigest()
    assert hashmod("moodle-a", 2**64 - 1) == int(digest[16:], 16) % (2**64 - 1)
    assert hashmod("moodle-a", 1) == 0


@pytest.mark.parametrize(("text", "error"), [
    ("2/2", "numbered from 0, so I must be less than N"),
    ("0/0", "must be between 1 and 1024"),
    ("1", "is not a shard: write I/N"),
    ("-1/2", "is not a shard"),
    ("a/b", "is not a shard"),
])
def test_a_bad_shard_is_refused_naming_the_rule(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_shard(text)


def test_parse_shard_accepts_spaces_and_round_trips() -> None:
    assert parse_shard(" 1 / 4 ") == Shard(1, 4)
    assert str(parse_shard("3/4")) == "3/4"


SITES = "\n".join(f'[[lms]]\nname = "site-{i}"\nurl = "http://127.0.0.1:{9000 + i}"\n'
                  for i in range(8))


def test_the_config_schedules_only_owned_sites_and_labels_them_with_the_shard() -> None:
    config = parse_config(SITES + '[fleet]\nshard = "1/2"\nmirror_windows = false\n')
    owned = {job.target.name for job in build_jobs(config).values()}
    assert owned == {f"site-{i}" for i in range(8) if hashmod(f"site-{i}", 2) == 1}
    assert {job.target.labels["shard"] for job in build_jobs(config).values()} == {"1"}
    assert {lms for lms, _ in config.check_keys()} == owned
    other = with_shard(config, "0/2")  # vigil run --shard wins over [fleet] shard
    assert {job.target.name for job in build_jobs(other).values()} == (
        {f"site-{i}" for i in range(8)} - owned)


def test_an_unsharded_config_schedules_every_site_without_a_shard_label() -> None:
    config = parse_config(SITES)
    jobs = build_jobs(config).values()
    assert len({job.target.name for job in jobs}) == 8
    assert all("shard" not in job.target.labels for job in jobs)


def test_a_bad_shard_in_the_config_names_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(SITES + '[fleet]\nshard = "2/2"\n')
    assert any(p.startswith("fleet.shard:") and "less than N" in p
               for p in caught.value.problems), caught.value.problems
