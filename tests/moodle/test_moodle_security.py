"""The moodle_security probe on PostgreSQL and MariaDB: failed logins by reason (JSON and
PHP-serialised ``other``), brute-force spikes against the baseline, lockouts, and changes
of the site administrators."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from pydantic import ValidationError

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.logstore import FAILED_LOGIN, decode_other, php_unserialize
from checks.moodle.security import SecurityCheck, SecuritySpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.scenario_logs import php_serialize


def spec(**fields: object) -> SecuritySpec:
    return SecuritySpec.model_validate({"type": "moodle_security", **fields})


async def run(ctx: CheckContext, check: SecurityCheck | None = None, **fields: object
              ) -> Result:
    result = await (check or SecurityCheck(spec(**fields))).run(ctx)
    for sample in result.samples:
        assert sample.name in CATALOGUE, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def values(result: Result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples if not s.labels}


def by_reason(result: Result) -> dict[str, float]:
    return {s.labels["reason"]: s.value for s in result.samples
            if s.name == "lms_moodle_failed_logins_by_reason"}


def failed_at(db: MoodleDouble, times: Iterable[int], reason: int = 3, *,
              serialized: bool = False, username: str = "admin", ip: str = "203.0.113.7"
              ) -> None:
    """One failed-login row per timestamp, in one batch (the baseline needs hundreds)."""
    other = {"username": username, "reason": reason}
    encoded = php_serialize(other) if serialized else json.dumps(other)
    db.scenario.insert("logstore_standard_log", [{
        "eventname": FAILED_LOGIN, "component": "core", "action": "failed",
        "target": "user_login", "crud": "r", "edulevel": 0, "contextid": 1,
        "contextlevel": 10, "contextinstanceid": 0, "userid": 0, "anonymous": 0,
        "other": encoded, "timecreated": t, "ip": ip, "origin": "web"} for t in times])


def baseline(db: MoodleDouble, per_bucket: int, hours: int = 24) -> None:
    """``per_bucket`` failed logins in every 5-minute bucket of the ``hours`` before the
    last 10 minutes: an ordinary day of typos."""
    now = db.scenario.now
    start = now - 600 - hours * 3600
    failed_at(db, [start + (i * 300) // per_bucket
                   for i in range(hours * 12 * per_bucket)])


# ------------------------------------------------------------------ decoding `other`
def test_php_serialised_arrays_decode_like_php_unserialize() -> None:
    text = 'a:3:{s:8:"username";s:7:"jürgen";s:6:"reason";i:3;i:0;a:1:{i:0;b:1;}}'
    assert php_unserialize(text) == {"username": "jürgen", "reason": 3, 0: {0: True}}
    assert php_unserialize("N;") is None and php_unserialize("d:0.5;") == 0.5


def test_other_is_read_as_json_or_serialised_like_tool_log_decode_other() -> None:
    assert decode_other('{"username":"a","reason":"4"}') == {"username": "a", "reason": "4"}
    assert decode_other(php_serialize({"username": "a", "reason": 2})) == {
        "username": "a", "reason": 2}
    assert decode_other("N;") is None and decode_other(None) is None


@pytest.mark.parametrize("text", [
    'O:8:"stdClass":1:{s:1:"a";i:1;}', 'a:2:{i:0;i:1;}', 's:10:"short";', "{not json",
    'a:1:{i:0;' * 40 + "i:1;" + "}" * 40, "i:12"])
def test_objects_truncated_or_hostile_values_are_never_decoded(text: str) -> None:
    assert decode_other(text) is None


# ------------------------------------------------------------------ spec
def test_defaults_compare_five_minutes_with_the_median_of_the_last_day() -> None:
    s = spec()
    assert (s.window, s.baseline, s.spike_min_count) == (300, 86400, 20)
    assert (s.spike_warning_factor, s.spike_critical_factor, s.admin_change_hold) == (
        5, 20, 86400)


@pytest.mark.parametrize(("fields", "message"), [
    ({"spike_warning_factor": 10, "spike_critical_factor": 5}, "spike_critical_factor"),
    ({"window": "30s"}, "greater than or equal to 60"),
    ({"window": "1h", "baseline": "1h"}, "at least two windows"),
    ({"failed_warning": 100, "failed_critical": 10}, r"failed_critical \(10\) must be >=")])
def test_inconsistent_settings_are_rejected_naming_the_field(fields: dict[str, object],
                                                             message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


# ------------------------------------------------------------------ healthy site
async def test_a_healthy_site_is_ok_with_its_admins_and_no_failed_logins(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    moodle_db.scenario.healthy_site()
    result = await run(moodle_ctx)
    assert result.status == Status.OK, result.summary
    assert values(result) == {"lms_moodle_site_admins": 1, "lms_moodle_failed_logins": 0,
                              "lms_moodle_failed_logins_baseline": 0}
    assert set(by_reason(result)) == {"nouser", "suspended", "failed", "lockout",
                                      "unauthorised", "failed_recaptcha", "other"}
    assert result.summary == ("0 failed logins in the last 5m (baseline median 0 per 5m); "
                              "1 site admin")
    assert result.details["site_admins"] == [{"id": 2, "username": "admin"}]


async def test_failed_logins_are_counted_by_reason_from_json_and_serialised_rows(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.failed_logins(6, within=240, reasons=[1, 3, 3])
    s.failed_logins(4, within=240, reasons=[4, 6], serialized=True)
    s.failed_logins(3, within=3600)  # 60, 40 and 20 minutes ago: outside the window
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK
    reasons = by_reason(result)
    assert {k: v for k, v in reasons.items() if v} == {
        "nouser": 2, "failed": 4, "lockout": 2, "failed_recaptcha": 2}
    assert values(result)["lms_moodle_failed_logins"] == 10
    assert result.details["top_sources"] == [{"ip": "203.0.113.7", "count": 10}]


async def test_usernames_typed_into_the_login_form_never_leave_the_database(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.failed_logins(30, within=200, username="correct horse battery staple")
    result = await run(moodle_ctx_fast)
    assert "horse" not in repr(result)


# ------------------------------------------------------------------ spikes
@pytest.mark.parametrize(("recent", "status"), [
    (16, Status.OK),  # 8x the median, but below spike_min_count
    (30, Status.WARNING),
    (120, Status.CRITICAL)])
async def test_a_burst_against_a_quiet_baseline_is_a_possible_brute_force_attack(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext, recent: int,
        status: Status) -> None:
    moodle_db_fast.scenario.healthy_site()
    baseline(moodle_db_fast, per_bucket=2)
    moodle_db_fast.scenario.failed_logins(recent, within=280, reasons=[1, 1, 3])
    result = await run(moodle_ctx_fast)
    assert result.status == status, result.summary
    assert values(result)["lms_moodle_failed_logins_baseline"] == 2
    if status != Status.OK:
        assert result.summary.startswith(
            f"possible brute-force attack: {recent} failed logins in the last 5m, "
            f"{recent // 2}x the baseline median of 2 (mostly unknown username: ")


async def test_a_busy_but_steady_site_is_no_attack(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    baseline(moodle_db_fast, per_bucket=30)
    moodle_db_fast.scenario.failed_logins(40, within=280)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.OK, result.summary
    assert values(result)["lms_moodle_failed_logins_baseline"] == 30


async def test_absolute_limits_catch_an_attack_that_lasts_all_day(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    baseline(moodle_db_fast, per_bucket=50)
    moodle_db_fast.scenario.failed_logins(50, within=280)
    result = await run(moodle_ctx_fast, failed_warning=20, failed_critical=200)
    assert result.status == Status.WARNING
    assert result.summary == ("50 failed logins in the last 5m (baseline median 50 per 5m) "
                              "(mostly wrong password: 50)")


async def test_later_runs_read_only_new_buckets_and_agree_with_a_fresh_read(
        moodle_db_fast: MoodleDouble, now: float) -> None:
    db = moodle_db_fast
    db.scenario.healthy_site()
    baseline(db, per_bucket=2, hours=25)
    check = SecurityCheck(spec())
    contexts = [make_moodle_ctx(db.settings, now + dt, None, None) for dt in (0, 900, 1800)]
    try:
        await run(contexts[0], check)
        failed_at(db, range(int(now) - 300, int(now) + 1200, 10))  # a slow 25-minute burst
        for ctx in contexts[1:]:
            cached, fresh = await run(ctx, check), await run(ctx)
            assert cached.samples == fresh.samples
            assert cached.status == fresh.status
    finally:
        for ctx in contexts:
            ctx.site.close()


# ------------------------------------------------------------------ lockouts
def locked(db: MoodleDouble, ages: Iterable[int]) -> None:
    users = db.scenario.users(len(list(ages)))
    db.scenario.insert("user_preferences", [
        {"userid": uid, "name": "login_lockout", "value": str(db.scenario.now - age)}
        for uid, age in zip(users, ages, strict=True)])


async def test_accounts_locked_within_the_lockout_duration_are_counted(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    s.set_config("lockoutthreshold", 5)
    s.set_config("lockoutduration", 1800)
    locked(moodle_db, [60, 600, 7200])  # the last one has been unlocked by time
    result = await run(moodle_ctx, locked_warning=2)
    assert values(result)["lms_moodle_locked_accounts"] == 2
    assert result.status == Status.WARNING
    assert result.summary == "2 accounts locked out"


async def test_a_zero_lockout_duration_locks_until_an_admin_unlocks(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.set_config("lockoutthreshold", 5)
    s.set_config("lockoutduration", 0)
    locked(moodle_db_fast, [60, 30 * 86400])
    result = await run(moodle_ctx_fast)
    assert values(result)["lms_moodle_locked_accounts"] == 2 and result.status == Status.OK


async def test_without_a_lockout_threshold_no_lockout_is_reported(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    locked(moodle_db_fast, [60])  # a leftover preference: login_is_lockedout() ignores it
    result = await run(moodle_ctx_fast)
    assert "lms_moodle_locked_accounts" not in values(result)
    assert result.details["lockout_enabled"] is False


# ------------------------------------------------------------------ site administrators
async def test_an_added_administrator_is_critical_naming_who_and_by_whom(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    check = SecurityCheck(spec())
    assert (await run(moodle_ctx, check)).status == Status.OK
    eve = s.user("eve", email="eve@evil.example")
    s.admins([2, eve]).config_changed("siteadmins", f"2,{eve}", "2", plugin="core")
    result = await run(moodle_ctx, check)
    assert result.status == Status.CRITICAL
    assert result.summary == (f"site administrators changed: added eve (id {eve}); "
                              f"by admin (id 2) (config_log)")
    assert values(result)["lms_moodle_site_admins"] == 2
    assert result.details["admin_change"]["added"] == [{"id": eve, "username": "eve"}]
    assert "evil.example" not in repr(result)


async def test_an_admin_change_written_straight_into_the_database_is_called_out(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    bob = s.user("bob")
    s.admins([2, bob])
    check = SecurityCheck(spec())
    await run(moodle_ctx_fast, check)
    s.admins([bob])
    s.update("user", {"deleted": 1, "username": "admin@example.org.1800000000"},
             s.tables.user.c.id == 2)
    result = await run(moodle_ctx_fast, check)
    assert result.status == Status.CRITICAL
    assert result.summary == ("site administrators changed: removed (deleted user) (id 2); "
                              "no config_log entry: changed outside Moodle's admin pages?")
    assert "example.org" not in repr(result)


async def test_an_admin_change_stays_critical_for_the_hold_then_becomes_the_norm(
        moodle_db_fast: MoodleDouble, now: float) -> None:
    db = moodle_db_fast
    s = db.scenario.healthy_site()
    check = SecurityCheck(spec(admin_change_hold="1h"))
    times = [0, 60, 3000, 3700]
    contexts = [make_moodle_ctx(db.settings, now + dt, None, None) for dt in times]
    try:
        statuses = []
        for i, ctx in enumerate(contexts):
            if i == 1:
                s.admins([2, s.user("carol")])
            statuses.append((await run(ctx, check)).status)
        assert statuses == [Status.OK, Status.CRITICAL, Status.CRITICAL, Status.OK]
    finally:
        for ctx in contexts:
            ctx.site.close()


async def test_a_change_logged_before_vigil_started_is_still_reported_after_a_restart(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    mallory = s.user("mallory")
    s.admins([2, mallory]).config_changed("siteadmins", f"2, {mallory}", "2",
                                          at=s.now - 3600)
    result = await run(moodle_ctx_fast)
    assert result.status == Status.CRITICAL
    assert result.details["admin_change"]["since"] == s.now - 3600
    assert f"added mallory (id {mallory})" in result.summary


# ------------------------------------------------------------------ cannot judge
async def test_with_the_standard_log_store_disabled_failed_logins_are_unknown(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    s.set_plugin_config("tool_log", "enabled_stores", "")
    result = await run(moodle_ctx_fast)
    assert result.status == Status.UNKNOWN
    assert result.summary == ("the standard log store is disabled (tool_log | enabled_stores):"
                              " failed logins cannot be counted")
    assert values(result) == {"lms_moodle_site_admins": 1}


async def test_a_missing_log_table_is_unknown_with_the_cause(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    moodle_db_fast.scenario.healthy_site()
    moodle_db_fast.drop_table("logstore_standard_log")
    with pytest.raises(CheckUnavailable, match="table missing"):
        await run(moodle_ctx_fast)
