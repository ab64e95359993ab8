"""The moodle_updates probe: a fake site directory, a Moodle-shaped database on PostgreSQL and
MariaDB, and a locally served update feed in the real format (127.0.0.1 only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.base import CheckContext
from checks.moodle import updates as MODULE
from checks.moodle.registry import MOODLE_METRICS
from checks.moodle.update_feed import FeedError, parse_release, php_number, request_params, validate
from checks.moodle.updates import UpdatesCheck, UpdatesSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble
from tests.moodle_double.sitedir import DEFAULT_PLUGINS, FakeSite, make_site
from tests.moodle_double.update_feed_server import (
    FeedServer,
    core_release,
    plugin_release,
    serve_feed,
)

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
DAY = 86400.0
ADDITIONAL = {"local_reports": 2024010100, "mod_customcert": 2024042200}


def build(days_ago: float) -> str:
    return datetime.fromtimestamp(NOW - days_ago * DAY, UTC).strftime("%Y%m%d")


# The 5.1 branch as the feed would list it in January 2027, and the next branch.
CORE = [
    core_release(2025100601.00, "5.1.1 (Build: 20251208)"),
    core_release(2025100602.00, "5.1.2 (Build: 20260209)"),
    core_release(2025100606.00, f"5.1.6 (Build: {build(40)})"),
    core_release(2025100606.03, f"5.1.6+ (Build: {build(20)})"),
    core_release(2026042002.00, f"5.2.2 (Build: {build(40)})"),
    core_release(2026100500.00, f"5.3 (Build: {build(100)})", maturity=100),  # beta: ignored
]
PLUGINS = {"local_reports": [plugin_release(2024010100, "1.0"),
                             plugin_release(2025020100, "1.4")],
           "mod_customcert": [plugin_release(2024042200, "4.4.1")]}


def spec(feed: FeedServer | str, **fields: object) -> UpdatesSpec:
    url = feed if isinstance(feed, str) else feed.url
    return UpdatesSpec.model_validate({"type": "moodle_updates", "feed_url": url,
                                       "feed_timeout": 2, **fields})


@pytest.fixture
def site(tmp_path: Path) -> FakeSite:
    """Moodle 5.1.6 with two additional plugins and lib/plugins.json naming the rest."""
    site = make_site(tmp_path, "5.1", version=2025100606.00,
                     release="5.1.6 (Build: 20260810)", plugins=ADDITIONAL)
    standard: dict[str, list[str]] = {}
    for component in DEFAULT_PLUGINS:
        plugintype, name = component.split("_", 1)
        standard.setdefault(plugintype, []).append(name)
    (site.root / "lib" / "plugins.json").write_text(json.dumps({"standard": standard,
                                                                "deleted": {}}))
    return site


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with serve_feed(FeedServer(core=list(CORE), plugins=dict(PLUGINS))) as server:
        yield server


@pytest.fixture
def make_ctx(site: FakeSite, tmp_path: Path) -> Iterator:
    opened: list[CheckContext] = []

    def make(db: MoodleDouble | None, now: float = NOW, state: bool = True) -> CheckContext:
        ctx = site.context(now, database=db.settings if db else None, cli=False, timeout=30)
        ctx.state_dir = tmp_path / "state" if state else None
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.site.close()


def in_db(db: MoodleDouble, version: str = "2025100606.00",
          release: str = "5.1.6 (Build: 20260810)") -> MoodleDouble:
    db.scenario.site_version(version, release, "501")
    for component, version_number in ADDITIONAL.items():
        db.scenario.plugin_version(component, version_number)
    return db


def stored_answer(db: MoodleDouble, feed: FeedServer, fetched_ago: float,
                  version: str = "2025100606.00", branch: str = "5.1") -> None:
    """What Moodle's cron stores (checker::store_response(): recentresponse, recentfetch)."""
    plugins = ",".join(f"{c}@{v}" for c, v in ADDITIONAL.items())
    answer = feed.answer({"version": version, "branch": branch, "plugins": plugins})
    db.scenario.set_plugin_config("core_plugin", "recentresponse", json.dumps(answer))
    db.scenario.set_plugin_config("core_plugin", "recentfetch", int(NOW - fetched_ago))


async def run(check: UpdatesCheck, ctx: CheckContext) -> Result:
    result = await check.run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
            for s in result.samples}


# -- the request and the answer, as in Moodle's checker.php --------------------------------
def test_the_request_carries_moodles_parameters_and_nothing_that_identifies_the_site() -> None:
    params = request_params(2025100600.02, "5.1", {"mod_customcert": 2024042200.0,
                                                   "local_reports": 2024010100.0}, "t1")
    assert params == {"format": "json", "ticket": "t1", "version": "2025100600.02",
                      "branch": "5.1",
                      "plugins": "local_reports@2024010100,mod_customcert@2024042200"}
    assert request_params(2024100700.0, "4.5", {}, None) == {
        "format": "json", "version": "2024100700", "branch": "4.5"}
    assert php_number(2024100703.1) == "2024100703.1"


def test_release_names_give_branch_point_build_and_date() -> None:
    release = parse_release("4.5.3+ (Build: 20250321)")
    assert release is not None and (release.branch, release.point, release.plus) == ("4.5", 3, True)
    assert release.build == datetime(2025, 3, 21, tzinfo=UTC)
    assert parse_release("5.2dev (Build: 20251201)").suffix == "dev"  # type: ignore[union-attr]
    assert parse_release("5.1+ (Build: 20251017)").point == 0  # type: ignore[union-attr]
    assert parse_release("garbage") is None


@pytest.mark.parametrize(("raw", "cause"), [
    ("<html>", "answer is not JSON"),
    ("", "empty answer (err_response_empty)"),
    ('{"status": "ERROR", "apiver": "1.3", "forbranch": "5.1"}', "status 'ERROR'"),
    ('{"status": "OK", "apiver": "1.2", "forbranch": "5.1"}', "apiver '1.2', expected '1.3'"),
    ('{"status": "OK", "apiver": "1.3", "forbranch": "4.5"}', "answer is for branch '4.5'"),
    ('{"status": "OK", "apiver": "1.3", "forbranch": "5.1", "updates": {"core": [{}]}}',
     "no valid updates list"),
])
def test_an_answer_moodle_would_reject_is_rejected_naming_why(raw: str, cause: str) -> None:
    with pytest.raises(FeedError, match=cause.replace("(", r"\(").replace(")", r"\)")):
        validate(raw, "5.1")


def test_the_spec_rejects_a_feed_url_that_is_not_http_and_bad_plugin_versions() -> None:
    with pytest.raises(ValueError, match="http"):
        spec("ftp://mirror.example/updates.php")
    with pytest.raises(ValueError, match="component@version"):
        spec("", security_plugin_versions=["local_foo"])
    # By default no request leaves the host: Moodle's own stored answer is read.
    assert UpdatesSpec.model_validate({"type": "moodle_updates"}).feed_url == ""


# -- healthy -------------------------------------------------------------------------------
async def test_an_up_to_date_site_is_ok_and_the_request_is_what_moodle_sends(
        moodle_db: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    feed.plugins = {}
    result = await run(UpdatesCheck(spec(feed)), make_ctx(in_db(moodle_db)))
    assert result.status == Status.OK, result.summary
    assert result.summary == ("Moodle 5.1.6 (Build: 20260810): only newer weekly builds of 5.1 "
                              "(5.1.6+ (Build: 20261226)); newest branch 5.2")
    [request] = feed.requests
    assert request == {"format": "json", "version": "2025100606", "branch": "5.1",
                       "plugins": "local_reports@2024010100,mod_customcert@2024042200"}
    assert values(result)["lms_moodle_update_releases_behind"] == 0
    assert values(result)["lms_moodle_update_available{core}"] == 0
    assert values(result)["lms_moodle_update_security_pending"] == 0
    assert values(result)["lms_moodle_update_feed_last_success_timestamp_seconds"] == NOW
    assert result.details["installed"]["database"] == {
        "version": "2025100606.00", "release": "5.1.6 (Build: 20260810)"}
    assert result.details["source"] == "feed" and result.details["plugins_checked"] == 2


async def test_weekly_builds_count_when_notify_builds_is_on(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    feed.plugins = {}
    result = await run(UpdatesCheck(spec(feed, notify_builds=True)),
                       make_ctx(in_db(moodle_db_fast)))
    assert result.status == Status.WARNING
    assert result.summary.startswith("Moodle 5.1.6+ (Build: 20261226) available for 20d")
    assert values(result)["lms_moodle_update_releases_behind"] == 0


# -- behind ---------------------------------------------------------------------------------
async def test_a_site_releases_behind_with_a_security_release_out_for_weeks_is_critical(
        moodle_db: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx) -> None:
    site.set_core_version(2025100602.00, "5.1.2 (Build: 20260209)")
    in_db(moodle_db, "2025100602.00", "5.1.2 (Build: 20260209)")
    result = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db))
    assert result.status == Status.CRITICAL
    assert result.summary.startswith(
        f"security update: Moodle 5.1.6 (Build: {build(40)}) available for 40d 8h, built "
        f"{datetime.fromtimestamp(NOW - 40 * DAY, UTC):%d %b %Y} (site runs 5.1.2 (Build: "
        "20260209), 4 release(s) behind)")
    assert "1 plugin update(s) available: local_reports" in result.summary
    assert values(result)["lms_moodle_update_releases_behind"] == 4
    assert values(result)["lms_moodle_update_available{core}"] == 1
    assert values(result)["lms_moodle_update_available{plugin}"] == 1
    assert values(result)["lms_moodle_update_security_pending"] == 1
    # Build dates are days (UTC midnight); NOW is 08:00.
    assert values(result)["lms_moodle_update_age_seconds{core}"] == 40 * DAY + 8 * 3600
    assert result.details["plugin_updates"][0]["component"] == "local_reports"
    assert result.details["plugin_updates"][0]["version"] == 2025020100


async def test_a_fresh_security_release_warns_then_escalates_after_seven_days(
        moodle_db_fast: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx) -> None:
    feed.core = [core_release(2025100607.00, f"5.1.7 (Build: {build(2)})")]
    feed.plugins = {}
    in_db(moodle_db_fast)
    first = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast))
    assert first.status == Status.WARNING
    assert first.summary.startswith("security update: Moodle 5.1.7")
    later = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast, NOW + 6 * DAY))
    assert later.status == Status.CRITICAL  # 8 days since its build > 7 days


async def test_a_plugin_security_update_escalates_from_when_vigil_first_saw_it(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    feed.core = []
    in_db(moodle_db_fast)
    fields = {"security_plugin_versions": ["local_reports@2025020100"]}
    first = await run(UpdatesCheck(spec(feed, **fields)), make_ctx(moodle_db_fast))
    assert first.status == Status.WARNING
    assert first.summary.startswith("1 plugin security update(s) pending: local_reports "
                                    "(oldest 0s)")
    # A new check object (a daemon restart) still knows the first sighting: it is on disk.
    later = await run(UpdatesCheck(spec(feed, **fields)),
                      make_ctx(moodle_db_fast, NOW + 8 * DAY))
    assert later.status == Status.CRITICAL
    assert "(oldest 8d)" in later.summary
    assert values(later)["lms_moodle_update_age_seconds{plugin}"] == 8 * DAY


async def test_the_listed_rule_only_counts_the_named_security_releases(
        moodle_db_fast: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx) -> None:
    site.set_core_version(2025100602.00, "5.1.2 (Build: 20260209)")
    in_db(moodle_db_fast, "2025100602.00", "5.1.2 (Build: 20260209)")
    feed.plugins = {}
    plain = await run(UpdatesCheck(spec(feed, security_rule="listed")),
                      make_ctx(moodle_db_fast))
    assert plain.status == Status.WARNING and not plain.summary.startswith("security")
    listed = await run(UpdatesCheck(spec(feed, security_rule="listed",
                                         security_releases=["5.1.4"])),
                       make_ctx(moodle_db_fast, state=False))
    assert listed.status == Status.CRITICAL and listed.summary.startswith("security update")


# -- the cache -----------------------------------------------------------------------------
async def test_the_answer_is_cached_for_the_ttl_then_refetched_with_the_ticket(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    in_db(moodle_db_fast)
    check = UpdatesCheck(spec(feed))
    await run(check, make_ctx(moodle_db_fast))
    cached = await run(check, make_ctx(moodle_db_fast, NOW + 3600))
    assert len(feed.requests) == 1 and cached.details["source"] == "cache"
    await run(check, make_ctx(moodle_db_fast, NOW + 13 * 3600))
    assert len(feed.requests) == 2 and feed.requests[1]["ticket"] == feed.ticket


async def test_a_broken_feed_falls_back_to_the_cached_answer_with_a_warning(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    feed.core, feed.plugins = [], {}
    in_db(moodle_db_fast)
    await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast))
    feed.mode = "http500"
    result = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast, NOW + 13 * 3600))
    assert result.status == Status.WARNING
    assert result.summary.startswith("update feed failed: HTTP 500 from 127.0.0.1; using the "
                                     "cached answer from 13h ago")
    assert values(result)["lms_moodle_update_feed_last_success_timestamp_seconds"] == NOW


# -- failures: fall back to what Moodle's cron stored --------------------------------------
@pytest.mark.parametrize(("mode", "cause"), [
    ("garbage", "answer is not JSON ('<html><body>Proxy login required"),
    ("http500", "HTTP 500 from 127.0.0.1"),
    ("slow", "no answer from 127.0.0.1 within 0.5s"),
    ("apiver", "apiver '1.2', expected '1.3' (err_response_format_version)"),
    ("status", "status 'ERROR', expected 'OK' (err_response_status)"),
    ("branch", "answer is for branch '3.9', the site runs 5.1"),
    ("empty", "empty answer (err_response_empty)"),
])
async def test_a_failing_feed_uses_moodles_stored_answer_and_names_the_cause(
        moodle_db_fast: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx,
        mode: str, cause: str) -> None:
    site.set_core_version(2025100602.00, "5.1.2 (Build: 20260209)")
    in_db(moodle_db_fast, "2025100602.00", "5.1.2 (Build: 20260209)")
    stored_answer(moodle_db_fast, feed, 13 * 3600, version="2025100602")  # older than the TTL
    feed.mode = mode
    result = await run(UpdatesCheck(spec(feed, feed_timeout=0.5)), make_ctx(moodle_db_fast))
    assert f"update feed failed: {cause}" in result.summary
    assert "using Moodle's stored answer from 13h ago" in result.summary
    assert result.status == Status.CRITICAL  # the stored answer still shows 5.1.6 pending
    assert result.details["source"] == "moodle"


async def test_a_fresh_answer_stored_by_moodles_cron_saves_asking_the_feed(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    in_db(moodle_db_fast)
    stored_answer(moodle_db_fast, feed, 3600)
    result = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast))
    assert result.details["source"] == "moodle" and not feed.requests
    assert result.status == Status.WARNING  # local_reports 1.4, from Moodle's answer


async def test_no_feed_and_no_stored_answer_is_unknown_naming_both_causes(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    in_db(moodle_db_fast)
    feed.mode = "http500"
    result = await run(UpdatesCheck(spec(feed)), make_ctx(moodle_db_fast))
    assert result.status == Status.UNKNOWN
    assert result.summary == (
        "no update data: update feed failed: HTTP 500 from 127.0.0.1; Moodle has stored no "
        "update-check answer (config_plugins core_plugin/recentresponse: updateautocheck off "
        "or never fetched)")


async def test_an_unreachable_feed_says_connection_refused(
        moodle_db_fast: MoodleDouble, make_ctx) -> None:
    in_db(moodle_db_fast)
    with serve_feed(FeedServer()) as gone:
        url = gone.url
    result = await run(UpdatesCheck(spec(url)), make_ctx(moodle_db_fast))
    assert result.status == Status.UNKNOWN
    assert "update feed failed: cannot reach 127.0.0.1: connection refused" in result.summary


# -- no feed at all: Moodle's own stored answer ----------------------------------------------
async def test_with_the_feed_off_moodles_stored_answer_is_judged(
        moodle_db: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx) -> None:
    in_db(moodle_db)
    stored_answer(moodle_db, feed, 6 * 3600)
    result = await run(UpdatesCheck(spec("")), make_ctx(moodle_db))
    assert result.status == Status.WARNING  # local_reports 1.4 offered
    assert result.summary.startswith("1 plugin update(s) available: local_reports")
    assert result.details["source"] == "moodle" and not feed.requests
    assert values(result)["lms_moodle_update_feed_last_success_timestamp_seconds"] == NOW - 6 * 3600


async def test_a_stored_answer_older_than_two_days_warns_that_cron_is_not_fetching(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    feed.plugins = {}
    in_db(moodle_db_fast)
    stored_answer(moodle_db_fast, feed, 3 * DAY)
    result = await run(UpdatesCheck(spec("")), make_ctx(moodle_db_fast))
    assert result.status == Status.WARNING
    assert result.summary.startswith("update data is 3d old (Moodle's cron has not fetched "
                                     "updates within 2d)")


async def test_a_stored_answer_for_another_branch_is_unusable(
        moodle_db_fast: MoodleDouble, feed: FeedServer, make_ctx) -> None:
    in_db(moodle_db_fast)
    stored_answer(moodle_db_fast, feed, 3600, branch="5.0")  # fetched before the upgrade
    result = await run(UpdatesCheck(spec("")), make_ctx(moodle_db_fast))
    assert result.status == Status.UNKNOWN
    assert result.summary == ("no update data: Moodle's stored update-check answer is "
                              "unusable: answer is for branch '5.0', the site runs 5.1 "
                              "(err_response_target_version)")


async def test_without_a_code_directory_the_database_versions_are_used(
        moodle_db_fast: MoodleDouble, feed: FeedServer, now: float) -> None:
    from tests.moodle.conftest import make_moodle_ctx
    in_db(moodle_db_fast, "2025100602.00", "5.1.2 (Build: 20260209)")
    stored_answer(moodle_db_fast, feed, 3600, version="2025100602")
    ctx = make_moodle_ctx(moodle_db_fast.settings, NOW, None, None)
    try:
        result = await run(UpdatesCheck(spec("")), ctx)
    finally:
        ctx.site.close()
    assert result.details["installed"]["from"] == "database"
    assert values(result)["lms_moodle_update_releases_behind"] == 4
    assert "1 plugin update(s) available: local_reports" in result.summary


async def test_a_site_without_plugins_json_checks_only_the_plugins_in_the_answer(
        moodle_db_fast: MoodleDouble, site: FakeSite, feed: FeedServer, make_ctx) -> None:
    (site.root / "lib" / "plugins.json").unlink()
    in_db(moodle_db_fast)
    stored_answer(moodle_db_fast, feed, 3600)
    result = await run(UpdatesCheck(spec("")), make_ctx(moodle_db_fast))
    assert "1 plugin update(s) available: local_reports" in result.summary
    assert any("lib/plugins.json unreadable" in p for p in result.details["problems"])


async def test_without_a_database_the_code_and_the_feed_suffice(
        feed: FeedServer, make_ctx, tmp_path: Path) -> None:
    result = await run(UpdatesCheck(spec(feed)), make_ctx(None))
    assert result.status == Status.WARNING
    assert result.summary.startswith("1 plugin update(s) available: local_reports; Moodle "
                                     "5.1.6 (Build: 20260810): only newer weekly builds")
    assert "database" not in result.details["installed"]
    cache = tmp_path / "state" / "moodle_updates" / "moodle-test.json"
    saved = json.loads(cache.read_text())
    assert saved["request"]["version"] == "2025100606" and "s3cret" not in cache.read_text()
    assert list(saved["first_seen"]) == ["local_reports@2025020100.00"]


async def test_a_refused_database_login_leaves_the_code_and_the_feed_to_judge(
        moodle_db_fast: MoodleDouble, site: FakeSite, feed: FeedServer, tmp_path: Path) -> None:
    ctx = site.context(NOW, database=moodle_db_fast.settings_with(user="no_such_role"),
                       cli=False, timeout=30)
    try:
        result = await run(UpdatesCheck(spec(feed)), ctx)
    finally:
        ctx.site.close()
    assert result.status == Status.WARNING and result.details["source"] == "feed"
    assert result.details["problems"][0].startswith("database: ")


async def test_an_unwritable_state_directory_is_reported_but_the_check_still_judges(
        feed: FeedServer, make_ctx, tmp_path: Path) -> None:
    ctx = make_ctx(None)
    ctx.state_dir = tmp_path / "not-a-directory"
    ctx.state_dir.write_text("")
    result = await run(UpdatesCheck(spec(feed)), ctx)
    assert result.status == Status.WARNING and result.details["source"] == "feed"
    assert any(p.startswith("cannot write the cache") for p in result.details["problems"])


def test_every_declared_sample_is_catalogued() -> None:
    assert set(MODULE.METRICS) <= set(MOODLE_METRICS)


@pytest.mark.parametrize(("no_data_status", "status"), [
    (None, Status.OK), ("warning", Status.WARNING), ("unknown", Status.UNKNOWN)])
async def test_a_site_that_never_asked_for_updates_is_a_stated_blind_spot_not_an_alarm(
        moodle_db_fast: MoodleDouble, make_ctx, no_data_status: str | None,
        status: Status) -> None:
    """Feed off (the default) and nothing stored by Moodle, as on a firewalled site: the
    summary says the patch level is not judged; only a site that asks for it alerts."""
    in_db(moodle_db_fast)
    fields = {} if no_data_status is None else {"no_data_status": no_data_status}
    result = await run(UpdatesCheck(spec("", **fields)), make_ctx(moodle_db_fast))
    assert result.status == status
    assert result.summary == (
        "patch level not judged: Moodle has stored no update-check answer (config_plugins "
        "core_plugin/recentresponse: updateautocheck off or never fetched)")
