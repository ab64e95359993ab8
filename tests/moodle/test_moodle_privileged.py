"""The moodle_privileged_accounts probe on PostgreSQL and MariaDB: site administrators and
managers at the system context, who was added or removed and by whom, the hold after which
a change becomes the baseline, and the baseline kept across restarts. Also the shared hold
rule (checks/moodle/held_change.py) the security probe and config drift use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import CheckContext
from checks.moodle.held_change import Hold
from checks.moodle.privileged import METRICS, ROLE_UNASSIGNED, PrivilegedCheck, PrivilegedSpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle.conftest import MoodleDouble, make_moodle_ctx
from tests.moodle_double.scenario import Scenario

SYSTEM_CONTEXT, MANAGER = 1, 1  # install_basics: the first context and the first role
Runner = Callable[..., Awaitable[Result]]


def spec(**fields: object) -> PrivilegedSpec:
    return PrivilegedSpec.model_validate({"type": "moodle_privileged_accounts", **fields})


def counts(result: Result) -> dict[str, float]:
    return {s.labels.get("role", s.name): s.value for s in result.samples}


def assign(s: Scenario, userid: int, *, contextid: int = SYSTEM_CONTEXT, roleid: int = MANAGER,
           by: int = 2, ago: int = 3 * 86400) -> None:
    s.insert("role_assignments", {"roleid": roleid, "contextid": contextid, "userid": userid,
                                  "timemodified": s.now - ago, "modifierid": by,
                                  "component": "", "itemid": 0, "sortorder": 0})


def unassign(s: Scenario, userid: int) -> None:
    ra = s.tables.role_assignments
    s.delete("role_assignments", ra.c.userid == userid, ra.c.contextid == SYSTEM_CONTEXT)


@pytest.fixture
async def runner(moodle_db_fast: MoodleDouble, tmp_path: Path) -> AsyncIterator[Runner]:
    """Runs a fresh check object ``at`` seconds after ``now``: progress lives in the state
    directory, as after a restart of the daemon."""
    contexts: list[CheckContext] = []

    async def run(at: float = 0, state: bool = True, **fields: object) -> Result:
        ctx = make_moodle_ctx(moodle_db_fast.settings, moodle_db_fast.now + at, None, None)
        ctx.state_dir = tmp_path / "state" if state else None
        contexts.append(ctx)
        result = await PrivilegedCheck(spec(**fields)).run(ctx)
        for sample in result.samples:
            assert sample.name in CATALOGUE and sample.name in METRICS
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels)
        assert "\n" not in result.summary and "@" not in repr(result)  # no e-mail addresses
        return result

    yield run
    for ctx in contexts:
        ctx.site.close()


# ------------------------------------------------------------------ spec
def test_defaults_watch_site_admins_and_managers_with_a_day_of_hold() -> None:
    s = spec()
    assert (s.site_admins, s.roles, s.change_status, s.change_hold) == (
        True, ["manager"], "CRITICAL", 86400)
    with pytest.raises(ValidationError, match="string_pattern_mismatch|should match"):
        spec(roles=["man ager"])


# ------------------------------------------------------------------ healthy
async def test_a_healthy_site_lists_its_admins_and_system_managers(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    assign(s, s.user("mia"))
    course_manager = s.user("carl")
    assign(s, course_manager, contextid=s.insert("context", {"contextlevel": 50,
                                                             "instanceid": 9, "depth": 3})[0])
    result = await PrivilegedCheck(spec()).run(moodle_ctx)
    assert result.status == Status.OK
    assert result.summary == "1 site admin, 1 manager at system level"
    assert counts(result) == {"siteadmin": 1, "manager": 1,
                              "lms_moodle_privileged_account_changes": 0}
    assert result.details["members"]["manager"][0]["username"] == "mia"


# ------------------------------------------------------------------ changes
async def test_a_new_system_manager_is_critical_naming_who_assigned_the_role(
        moodle_db: MoodleDouble, moodle_ctx: CheckContext) -> None:
    s = moodle_db.scenario.healthy_site()
    check = PrivilegedCheck(spec())
    assert (await check.run(moodle_ctx)).status == Status.OK
    eve = s.user("eve", email="eve@evil.example")
    assign(s, eve, ago=30)
    result = await check.run(moodle_ctx)
    assert result.status == Status.CRITICAL
    assert result.summary == (f"privileged accounts changed: manager at system level: added "
                              f"eve (id {eve}) by admin (id 2) (becomes the baseline in 1d "
                              "unless it changes again)")
    assert result.details["change"]["manager"]["added"] == [{"id": eve, "username": "eve"}]
    assert counts(result)["lms_moodle_privileged_account_changes"] == 1
    assert "evil.example" not in repr(result)


async def test_a_removed_manager_is_named_with_who_unassigned_from_the_log(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    bob, ann = s.user("bob"), s.user("ann")
    assign(s, bob)
    assign(s, ann)
    await runner(0)
    unassign(s, bob)
    s.log_event(ROLE_UNASSIGNED, userid=2, at=s.now + 250, objecttable="role",
                objectid=MANAGER, relateduserid=bob, crud="d")
    unassign(s, ann)  # straight in the database: no event
    result = await runner(300)
    assert result.status == Status.CRITICAL
    assert (f"manager at system level: removed bob (id {bob}), ann (id {ann}) by admin (id 2)"
            in result.summary)
    no_log = await runner(360, roles=["manager"])
    assert "by admin (id 2)" in no_log.summary
    s.set_plugin_config("tool_log", "enabled_stores", "")
    assert "(no record of who)" in (await runner(420)).summary


async def test_site_admin_changes_are_read_from_config_and_config_log(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    await runner(0)
    eve = s.user("eve")
    s.admins([2, eve]).config_changed("siteadmins", f"2,{eve}", "2", plugin="core",
                                      at=s.now + 100)
    result = await runner(120)
    assert result.summary.startswith(
        f"privileged accounts changed: site administrators: added eve (id {eve}) by admin "
        "(id 2)")
    s.admins([eve])
    s.update("user", {"deleted": 1, "username": "admin@example.org.1800000000"},
             s.tables.user.c.id == 2)
    both = await runner(180)
    assert (f"site administrators: added eve (id {eve}); removed (deleted user) (id 2)"
            in both.summary)


async def test_a_change_alerts_for_the_hold_then_becomes_the_baseline(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    statuses = []
    for at in (0, 60, 3000, 3500, 7000, 7200):
        if at == 60:
            assign(s, s.user("carol"), ago=-60)
        if at == 3500:  # a further change restarts the hold
            assign(s, s.user("dave"), ago=-3500)
        statuses.append((await runner(at, change_hold="1h")).status)
    assert statuses == [Status.OK, Status.CRITICAL, Status.CRITICAL, Status.CRITICAL,
                        Status.CRITICAL, Status.OK]


async def test_a_change_reverted_within_the_hold_clears_at_once(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    await runner(0)
    frank = s.user("frank")
    assign(s, frank, ago=-60)
    assert (await runner(60)).status == Status.CRITICAL
    unassign(s, frank)
    assert (await runner(120)).status == Status.OK


async def test_a_change_made_before_vigil_first_looked_still_alerts(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    old, recent = s.user("old"), s.user("recent")
    assign(s, old, ago=10 * 86400)
    assign(s, recent, ago=3600)
    result = await runner(0, state=False)
    assert result.status == Status.CRITICAL
    assert f"added recent (id {recent}) by admin (id 2)" in result.summary
    assert f"id {old})" not in result.summary
    assert result.details["change"]["since"] == s.now - 3600


async def test_without_a_state_directory_the_check_object_keeps_the_baseline(
        moodle_db_fast: MoodleDouble, moodle_ctx_fast: CheckContext) -> None:
    s = moodle_db_fast.scenario.healthy_site()
    check = PrivilegedCheck(spec())
    await check.run(moodle_ctx_fast)
    assign(s, s.user("gina"), ago=0)
    assert (await check.run(moodle_ctx_fast)).status == Status.CRITICAL


async def test_a_watched_role_that_does_not_exist_is_a_warning(
        moodle_db_fast: MoodleDouble, runner: Runner) -> None:
    moodle_db_fast.scenario.healthy_site()
    result = await runner(0, roles=["manager", "sitemanager"])
    assert result.status == Status.WARNING
    assert result.summary == ("1 site admin, 0 managers at system level, 0 sitemanagers at "
                              "system level; no role with shortname sitemanager")


async def test_a_corrupt_state_file_starts_a_new_baseline(
        moodle_db_fast: MoodleDouble, runner: Runner, tmp_path: Path) -> None:
    moodle_db_fast.scenario.healthy_site()
    await runner(0)
    [state] = (tmp_path / "state").rglob("moodle_privileged_accounts.json")
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    state.write_text("{not json")
    assert (await runner(60)).status == Status.OK


# ------------------------------------------------------------------ the hold rule
def test_the_hold_accepts_the_first_value_alerts_on_a_change_and_adopts_it_later() -> None:
    hold: Hold[frozenset[int]] = Hold(frozenset({2}))
    assert hold.observe(frozenset({2}), 0, 100) is None
    assert hold.observe(frozenset({2, 7}), 10, 100) == 10
    assert hold.observe(frozenset({2, 7}), 90, 100) == 10
    assert hold.observe(frozenset({2, 7, 8}), 95, 100) == 10  # restarts the hold at 95
    assert hold.observe(frozenset({2, 7, 8}), 150, 100) == 10
    assert hold.observe(frozenset({2, 7, 8}), 195, 100) is None
    assert hold.accepted == frozenset({2, 7, 8}) and hold.pending is None


def test_the_hold_survives_a_round_trip_through_json() -> None:
    hold: Hold[list[int]] = Hold([2])
    hold.observe([2, 5], 10, 100)
    again: Hold[list[int]] = Hold.from_json(hold.to_json())
    assert (again.accepted, again.pending, again.since, again.changed) == ([2], [2, 5], 10, 10)
    with pytest.raises(KeyError):
        Hold.from_json({})
