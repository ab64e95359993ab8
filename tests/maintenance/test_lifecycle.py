"""MaintenanceLifecycle end to end on a real SQLite state file, the fake clock, real checks
(moodle_maintenance, code_integrity) run by the real runner and scheduler, and a fake Moodle
site directory whose fake ``php`` runs admin/cli/maintenance.php (tests/moodle_double)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertingConfig
from alerts.maintenance.book import MaintenanceBook, parse_spec
from alerts.maintenance.lifecycle import MaintenanceLifecycle
from alerts.maintenance.model import from_utc
from alerts.maintenance.store import get_occurrence
from alerts.router import Router
from checks.actions_registry import MAINTENANCE_ACTIONS
from checks.base import CheckContext
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.store import IntegrityStore
from checks.moodle.actions import MoodleActions
from checks.moodle.codebase import read_code_versions
from checks.moodle.maintenance import MaintenanceCheck, MaintenanceSpec
from checks.moodle.site import MoodleSite
from checks.moodle.upgrade import UpgradeCheck, UpgradeSpec, compare
from monitor.app.runner import CheckRunner
from monitor.app.scheduler import CheckScheduler
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from tests.conftest import FakeClock
from tests.integrity.integrity_helpers import EXTRA_CODE, write_tree
from tests.moodle_double.sitedir import FakeSite, make_site

LMS = "moodle-test"
HOUR = 3600.0


class DiskUpgradeCheck(UpgradeCheck):
    """moodle_upgrade with its own judge and the real version.php reader; only the
    database's config.version/release come from ``db`` (this test has no Moodle database)."""

    def __init__(self, spec: UpgradeSpec, db: dict[str, str]) -> None:
        super().__init__(spec)
        self.db = db

    async def run(self, ctx: CheckContext) -> Result:
        code = await ctx.run_blocking(lambda: read_code_versions(ctx.site.dirroot))
        plugins = {name: str(p.version) for name, p in code.plugins.items()}
        comparison = compare(code, plugins, float(self.db["version"]), set())
        return self._judge(ctx.now(), code, dict(self.db), comparison, None)


class Crash(BaseException):
    """The process dies: not an Exception, so nothing in the daemon catches it."""


class Env:
    """One daemon's worth of parts; ``restart()`` builds new ones on the same state file."""

    def __init__(self, tmp_path: Path, clock: FakeClock, site: FakeSite) -> None:
        self.tmp_path, self.clock, self.site = tmp_path, clock, site
        self.state_dir = tmp_path / "state"
        self.db = {"version": "2024100700.00", "release": "4.5 (Build: 20241007)"}
        self.receivers = ["log", "ops"]
        self.store: StateStore | None = None
        self.restart()

    def restart(self, run_blocking: Callable[..., Any] | None = None,
                router: bool = False) -> None:
        if self.store is not None:
            self.store.close()
        self.store = StateStore(self.state_dir / "vigil.sqlite3")
        target = Target(LMS, "moodle", "https://moodle.example.test")
        moodle = MoodleSite(self.site.moodle_settings(timeout=1.0))
        specs = {"maintenance": MaintenanceSpec(type="moodle_maintenance"),
                 "code": CodeIntegritySpec(type="code_integrity", ignore=[".fake"]),  # fake php
                 "upgrade": UpgradeSpec(type="moodle_upgrade", use_cli=False)}
        checks = {"maintenance": MaintenanceCheck(specs["maintenance"]),  # type: ignore[arg-type]
                  "code": CodeIntegrityCheck(specs["code"]),  # type: ignore[arg-type]
                  "upgrade": DiskUpgradeCheck(specs["upgrade"], self.db)}  # type: ignore[arg-type]
        jobs = {f"{LMS}/{n}": CheckJob(target, n, specs[n], checks[n], site=moodle)
                for n in specs}
        self.runner = CheckRunner(self.clock, store=self.store, state_dir=self.state_dir)
        self.scheduler = CheckScheduler(self.runner, self.clock)
        self.scheduler.apply(jobs)
        self.book = MaintenanceBook(self.store.database, self.clock, {LMS: {}})
        kwargs: dict[str, Any] = {"run_blocking": run_blocking} if run_blocking else {}
        if router:
            config = AlertingConfig.model_validate(
                {"receivers": [{"type": "log", "name": n} for n in self.receivers]})
            kwargs["enqueue_message"] = Router(self.store, config).enqueue_message
        self.lifecycle = MaintenanceLifecycle(
            self.store, self.book, jobs=lambda: self.scheduler.jobs,
            run_checks=self.scheduler.run_now, receivers=lambda: self.receivers,
            actions=MAINTENANCE_ACTIONS, state_dir=self.state_dir, **kwargs)
        self.runner.windows = self.lifecycle.windows_for

    def close(self) -> None:
        self.runner.close()
        assert self.store is not None
        self.store.close()

    # -- driving ---------------------------------------------------------------------
    def add_window(self, start: float, end: float | None = HOUR, **actions: Any) -> Any:
        fields: dict[str, Any] = {"name": "Moodle upgrade", "lms": LMS, "actions": actions,
                                  "start": from_utc(start, "UTC")}
        if end is None:
            fields["kind"] = "manual"
        else:
            fields["end"] = from_utc(start + end, "UTC")
        return self.book.add(parse_spec(fields), "api", now=self.clock.now)

    async def at(self, moment: float) -> None:
        self.clock.now = moment
        await self.lifecycle.step(moment)

    async def run(self, check: str) -> Result:
        return await self.runner.run(self.scheduler.jobs[f"{LMS}/{check}"])

    # -- looking -------------------------------------------------------------------------
    def outbox(self, what: str | None = None) -> list[Any]:
        assert self.store is not None
        items = self.store.outbox_items()
        return [i for i in items if what is None or i.dedup_key.endswith(":" + what)]

    def record(self, window: Any) -> Any:
        assert self.store is not None
        occ = self.book.occurrences_between(0, 4e9)
        found = [o for o in occ if o.window_id == window.id]
        return get_occurrence(self.store.database, window.id, found[0].start)

    def maintenance_calls(self, option: str | None = None) -> list[list[str]]:
        calls = [c["argv"][1:] for c in self.site.calls()
                 if c["argv"][0].endswith("maintenance.php")]
        return [c for c in calls if option is None or option in c]

    @property
    def marker(self) -> Path:
        return self.site.dataroot / "climaintenance.html"


@pytest.fixture
def env(tmp_path: Path, clock: FakeClock) -> Iterator[Env]:
    site = make_site(tmp_path, "4.5")
    write_tree(site.root, EXTRA_CODE)
    e = Env(tmp_path, clock, site)
    yield e
    e.close()


# -- notices ---------------------------------------------------------------------------
async def test_a_notice_goes_out_once_notify_before_ahead_of_the_start(env: Env) -> None:
    start = env.clock.now + 2 * HOUR
    window = env.add_window(start, notify_before=900)
    await env.at(start - 901)
    assert env.outbox() == []
    await env.at(start - 900)
    await env.at(start - 600)
    notices = env.outbox("before")
    assert sorted(n.receiver for n in notices) == ["log", "ops"]
    payload = notices[0].payload
    assert payload["reason"] == "maintenance" and payload["alerts"] == []
    assert payload["dedup_key"] == f"maintenance:{window.uid}:{int(start)}:before"
    assert payload["title"] == (f"[MAINTENANCE] Moodle upgrade starts "
                                f"{from_utc(start, 'UTC'):%Y-%m-%d %H:%M} UTC ({LMS})")
    assert "checks keep running" in payload["text"] and "<h2" in payload["html"]
    assert payload["common_labels"] == {"window": window.uid, "window_name": "Moodle upgrade",
                                        "lms": LMS}
    assert env.record(window).state == "noticed"
    env.restart()  # a restart before the start sends nothing again
    await env.at(start - 300)
    assert len(env.outbox("before")) == 2


async def test_through_the_router_notices_skip_failed_receivers_and_are_queued_once(
        env: Env) -> None:
    env.restart(router=True)
    with env.store.transaction() as db:
        db.execute("INSERT INTO receiver_health VALUES ('ops', 'failed', '401', ?)",
                   (env.clock.now,))
    start = env.clock.now + HOUR
    env.add_window(start, notify_before=600)
    await env.at(start - 600)
    env.restart(router=True)
    await env.at(start - 300)
    [notice] = env.store.outbox_items()
    assert notice.receiver == "log" and notice.payload["reason"] == "maintenance"
    assert notice.payload["title"].startswith("[MAINTENANCE] Moodle upgrade starts")
    await env.at(start)
    await env.at(start + HOUR)
    [report] = [i for i in env.store.outbox_items() if i.payload["reason"] == "report"]
    assert report.receiver == "log" and "Post-maintenance report" in report.payload["text"]


async def test_notices_go_only_to_the_named_receivers(env: Env) -> None:
    start = env.clock.now + HOUR
    env.add_window(start, notify_before=600, notify_at_end=True, notify_receivers=["ops"],
                   report_receivers=["log", "pager"])
    for moment in (start - 600, start, start + HOUR):
        await env.at(moment)
    assert [n.receiver for n in env.outbox("before")] == ["ops"]
    assert [n.receiver for n in env.outbox("end")] == ["ops"]
    assert [n.receiver for n in env.outbox("report")] == ["log"]  # "pager" is not configured


async def test_a_window_ended_before_its_start_is_cancelled_quietly(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, notify_before=1800)
    await env.at(start - 1800)
    env.book.end(window.id, now=start - 60)
    await env.at(start + 10)
    assert env.maintenance_calls() == [] and env.outbox("report") == []
    row = env.store.db.execute("SELECT state FROM maintenance_occurrences").fetchone()
    assert row["state"] == "cancelled"


# -- LMS maintenance mode ------------------------------------------------------------------
async def test_maintenance_mode_is_on_inside_the_window_and_off_after_it(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True, notify_at_end=True)
    await env.at(start + 2)
    assert env.marker.exists()
    assert env.maintenance_calls() == [[], ["--enable"]]  # status, then enable
    inside = await env.run("maintenance")
    assert inside.status == Status.OK and "covered by a Vigil maintenance window" in inside.summary
    log = env.record(window).actions_log
    assert [(a["action"], a["ok"], a["detail"]) for a in log] == [
        ("snapshot", True, "3 check(s) in scope"),
        ("maintenance_mode_on", True, "CLI maintenance mode has been enabled.")]
    await env.at(start + HOUR + 3)
    assert not env.marker.exists()
    after = await env.run("maintenance")
    assert after.status == Status.OK and after.summary == "not in maintenance mode"
    record = env.record(window)
    assert record.state == "done" and record.ends_at == start + HOUR
    end_text = env.outbox("end")[0].payload["text"]
    assert "LMS maintenance mode off on moodle-test: ok - Maintenance mode has been disabled." \
        in end_text
    report = env.outbox("report")[0].payload
    assert report["reason"] == "report" and report["status"] == "resolved"
    assert "LMS maintenance mode on on moodle-test: ok" in report["text"]


async def test_maintenance_mode_left_on_after_the_window_alerts(env: Env) -> None:
    assert (await env.run("maintenance")).status == Status.OK
    start = env.clock.now + HOUR
    env.add_window(start, lms_maintenance_mode=True)
    await env.at(start + 1)
    env.site.cli_mode("maintenance.php", "fatal")  # --disable will die
    await env.at(start + HOUR)
    assert env.marker.exists()
    result = await env.run("maintenance")
    assert result.status == Status.CRITICAL
    assert "not covered by a Vigil maintenance window" in result.summary
    report = env.outbox("report")[0].payload
    assert report["status"] == "firing"  # something is worse: the site still says 503
    assert "moodle-test: maintenance (moodle_maintenance) OK -> CRITICAL" in report["text"]
    assert "LMS maintenance mode off on moodle-test: FAILED - admin/cli/maintenance.php " \
           "died with a PHP fatal error" in report["text"]
    assert report["title"].endswith("1 check(s) worse than before, 1 action(s) failed")


async def test_an_admins_own_maintenance_mode_is_left_alone(env: Env) -> None:
    env.site.enable_cli_maintenance()
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start)
    await env.at(start + HOUR)
    assert env.marker.exists()
    assert env.maintenance_calls() == [[]]  # asked once, never switched
    assert env.record(window).actions_log[1]["detail"] == \
        "already on before the window: left on at the end"


@pytest.mark.parametrize(("mode", "expected"), [
    ("fatal", "admin/cli/maintenance.php died with a PHP fatal error"),
    ("hang", "admin/cli/maintenance.php did not finish within 1s"),
    ("garbage", "admin/cli/maintenance.php printed no status line"),
])
async def test_a_failing_maintenance_cli_is_recorded_and_reported(
        env: Env, mode: str, expected: str) -> None:
    env.site.cli_mode("maintenance.php", mode)
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start)
    failed = env.record(window).actions_log[-1]
    assert (failed["action"], failed["ok"]) == ("maintenance_mode_on", False)
    assert failed["detail"].startswith(expected)
    await env.at(start + HOUR)
    record = env.record(window)
    assert record.state == "done"
    assert [a["action"] for a in record.actions_log if not a["ok"]] == ["maintenance_mode_on"]
    assert "FAILED - " + expected in env.outbox("report")[0].payload["text"]


async def test_no_cli_configured_is_a_clear_failure(env: Env) -> None:
    site = env.scheduler.jobs[f"{LMS}/maintenance"].site
    site.settings = site.settings.model_copy(update={"cli": None})
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start)
    assert "add [lms.moodle.cli]" in env.record(window).actions_log[-1]["detail"]


# -- crash safety ----------------------------------------------------------------------------
async def test_a_restart_inside_the_window_does_not_enable_again(env: Env) -> None:
    start = env.clock.now + HOUR
    env.add_window(start, lms_maintenance_mode=True)
    await env.at(start)
    env.restart()
    await env.at(start + 60)
    await env.at(start + 120)
    assert env.maintenance_calls("--enable") == [["--enable"]]
    await env.at(start + HOUR)
    env.restart()
    await env.at(start + HOUR + 10)
    assert env.maintenance_calls("--disable") == [["--disable"]]
    assert len(env.outbox("report")) == 2  # one report, for each of the two receivers


async def test_a_crash_right_after_the_enable_ran_is_not_repeated(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)

    async def dies_after_enabling(fn: Callable[[], Any]) -> Any:
        result = fn()
        if getattr(fn, "args", ())[-1:] == (True,):  # partial(switch, kind, site, True)
            raise Crash
        return result

    env.restart(run_blocking=dies_after_enabling)
    with pytest.raises(Crash):
        await env.at(start)
    assert env.record(window).snapshot["mode"] == {LMS: "enabling"}
    env.restart()
    await env.at(start + 5)
    assert env.maintenance_calls("--enable") == [["--enable"]]
    record = env.record(window)
    assert record.snapshot["mode"] == {LMS: "on"}
    assert record.actions_log[-1]["detail"] == "found on after a restart"
    await env.at(start + HOUR)
    assert not env.marker.exists()  # it is ours, so it is switched off


async def test_a_crash_after_the_disable_ran_neither_repeats_nor_skips_the_report(
        env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start)

    async def dies_after_disabling(fn: Callable[[], Any]) -> Any:
        result = fn()
        if getattr(fn, "args", ())[-1:] == (False,):
            raise Crash
        return result

    env.restart(run_blocking=dies_after_disabling)
    with pytest.raises(Crash):
        await env.at(start + HOUR)
    assert env.record(window).state == "ending" and not env.marker.exists()
    env.restart()
    await env.at(start + HOUR + 5)
    assert env.maintenance_calls("--disable") == [["--disable"]]
    assert env.record(window).state == "done"
    assert len(env.outbox("report")) == 2


# -- report and integrity --------------------------------------------------------------------
async def test_the_report_compares_with_the_snapshot_and_lists_versions(env: Env) -> None:
    env.db["version"] = "2024100600.00"  # code newer than the database: upgrade pending
    for check in ("maintenance", "code", "upgrade"):
        await env.run(check)
    start = env.clock.now + HOUR
    window = env.add_window(start, accept_integrity_changes=True)  # the upgrade's new files
    await env.at(start)
    assert env.record(window).snapshot["before"]["checks"][f"{LMS}/upgrade"]["status"] == \
        "WARNING"
    env.site.set_core_version(2024100702.0, "4.5.2 (Build: 20250210)")  # the upgrade
    env.db.update(version="2024100702.00", release="4.5.2 (Build: 20250210)")
    await env.at(start + HOUR)
    report = env.record(window).report
    assert [(c["check"], c["before"], c["after"]) for c in report["better"]] == [
        ("upgrade", "WARNING", "OK")]
    assert report["worse"] == []
    changed = {v["name"]: (v["before"], v["after"]) for v in report["versions"] if v["changed"]}
    assert changed["release (code)"] == ("4.5 (Build: 20241007)", "4.5.2 (Build: 20250210)")
    assert changed["core version (database)"] == ("2024100600.0", "2024100702.0")
    text = env.outbox("report")[0].payload["text"]
    assert "Nothing is worse than before the window." in text
    assert "* moodle-test: release (code): 4.5 (Build: 20241007) -> 4.5.2 (Build: 20250210)" \
        in text
    assert report["checks"] == 3  # every check of the scope ran at the end
    assert report["integrity"][0]["paths"] == ["version.php"]


async def test_integrity_changes_inside_the_window_are_accepted_and_older_ones_kept(
        env: Env) -> None:
    assert (await env.run("code")).summary.startswith("baseline created")
    write_tree(env.site.root, {"lib/evil.php": "<?php eval($_GET['x']);\n"})  # before
    start = env.clock.now + HOUR
    window = env.add_window(start, accept_integrity_changes=True)
    await env.at(start)
    write_tree(env.site.root, {"lib/weblib.php": "<?php\nfunction format_text($t) {}\n",
                               "local/new/version.php": "<?php $plugin->version = 1;\n"})
    inside = await env.run("code")
    assert inside.status == Status.CRITICAL  # still judged; the router holds the alert
    await env.at(start + HOUR)
    record = env.record(window)
    [accepted] = record.snapshot["integrity_result"]
    assert accepted["paths"] == ["lib/weblib.php", "local/new/version.php"]
    assert (accepted["count"], accepted["kept"], accepted["error"]) == (2, 1, None)
    with IntegrityStore.in_state_dir(env.state_dir) as istore:
        baseline = istore.load(LMS, str(env.site.root), "baseline")
    assert baseline["lib/weblib.php"].accepted_by == "maintenance window Moodle upgrade"
    assert "lib/evil.php" not in baseline  # a change from before the window is not blessed
    after = record.snapshot["after"]["checks"][f"{LMS}/code"]
    assert after["status"] == "CRITICAL" and "evil.php" in json.dumps(
        env.store.get_state(LMS, "code").result.details)
    assert "weblib" not in json.dumps(env.store.get_state(LMS, "code").result.details)
    text = env.outbox("report")[0].payload["text"]
    assert "Integrity changes accepted into the baseline (2):" in text
    assert "2 file(s); 1 change(s) from before the window left for review" in text


async def test_integrity_without_a_baseline_is_reported_not_fatal(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, accept_integrity_changes=True)
    await env.at(start)
    await env.at(start + HOUR)
    record = env.record(window)
    assert record.state == "done"
    assert record.snapshot["integrity_result"][0]["error"].startswith("no baseline for")


async def test_an_occurrence_vigil_slept_through_is_marked_missed(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, notify_before=600, lms_maintenance_mode=True)
    await env.at(start - 600)
    await env.at(start + 2 * HOUR)  # down for the whole window
    assert env.record(window).state == "missed"
    assert env.maintenance_calls() == [] and env.outbox("report") == []


async def test_starting_late_still_snapshots_and_says_so(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start + 600)  # Vigil came up ten minutes into the window
    record = env.record(window)
    assert record.state == "started" and env.marker.exists()
    assert record.actions_log[0]["detail"] == "3 check(s) in scope, 600s after the " \
                                              "scheduled start"


async def test_a_window_moved_while_running_ends_its_running_occurrence(env: Env) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)
    await env.at(start + 60)
    env.book.edit(window.id, {"start": from_utc(start + 5 * HOUR, "UTC"),
                              "end": from_utc(start + 6 * HOUR, "UTC")}, now=start + 100)
    await env.at(start + 120)
    assert not env.marker.exists()
    row = env.store.db.execute("SELECT state, ends_at FROM maintenance_occurrences WHERE"
                               " starts_at = ?", (start,)).fetchone()
    assert (row["state"], row["ends_at"]) == ("done", start + 120)
    assert len(env.outbox("report")) == 2


async def test_a_manual_window_ends_when_an_admin_ends_it(env: Env) -> None:
    start = env.clock.now
    window = env.add_window(start, end=None, lms_maintenance_mode=True)
    await env.at(start + 1)
    await env.at(start + 5 * HOUR)
    assert env.marker.exists() and env.outbox("report") == []
    env.book.end(window.id, now=start + 5 * HOUR + 30)
    await env.at(start + 5 * HOUR + 35)
    assert not env.marker.exists()
    assert env.record(window).ends_at == start + 5 * HOUR + 30
    assert len(env.outbox("report")) == 2


async def test_a_broken_step_is_logged_and_the_next_step_retries(
        env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    start = env.clock.now + HOUR
    window = env.add_window(start, lms_maintenance_mode=True)

    def broken(actions: MoodleActions, site: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(MoodleActions, "mode_status", broken)
    await env.at(start)
    await env.at(start + 5)
    assert sum("occurrence" in r.message for r in caplog.records) == 1  # logged once
    monkeypatch.undo()
    await env.at(start + 10)
    assert env.record(window).snapshot["mode"] == {LMS: "on"}


async def test_run_now_runs_known_checks_at_once_and_skips_unknown_keys(env: Env) -> None:
    results = await env.scheduler.run_now([f"{LMS}/maintenance", "nope/nothing",
                                           f"{LMS}/maintenance"])
    assert list(results) == [f"{LMS}/maintenance"]
    assert env.store.get_state(LMS, "maintenance") is not None


async def test_a_scheduled_run_is_skipped_while_run_now_runs_the_same_check(
        env: Env) -> None:
    gate, runs = asyncio.Event(), []

    class Slow:
        async def run(self, ctx: CheckContext) -> Result:
            runs.append(ctx.now())
            await gate.wait()
            return Result(Status.OK, "done")

    job = CheckJob(Target(LMS, "moodle"), "slow", CheckSpec(type="slow"), Slow())
    env.scheduler.apply({**env.scheduler.jobs, job.key: job})
    manual = asyncio.create_task(env.scheduler.run_now([job.key]))
    await asyncio.sleep(0.01)
    scheduled = asyncio.create_task(env.scheduler._fire(job.key))  # APScheduler's call
    await asyncio.sleep(0.01)
    gate.set()
    assert (await manual)[job.key].summary == "done"
    await scheduled
    assert len(runs) == 1


@pytest.mark.parametrize(("matchers", "covered"), [
    ({"lms": LMS}, {"maintenance", "code", "upgrade"}),
    ({"lms": LMS, "check": "maintenance"}, {"maintenance"}),
    ({"lms": LMS, "check": "cron"}, set()),
    ({"lms": LMS, "matchers": ["check_type=~moodle_.*"]}, {"maintenance", "upgrade"}),
])
async def test_checks_learn_the_windows_that_cover_them(
        env: Env, matchers: dict[str, Any], covered: set[str]) -> None:
    start = env.clock.now
    fields = {"name": "w", "kind": "manual", "start": from_utc(start, "UTC"), **matchers}
    env.book.add(parse_spec(fields), "api", now=start)
    got = {job.name for job in env.scheduler.jobs.values()
           if env.lifecycle.windows_for(job, start + 10) == ((start, math.inf),)}
    assert got == covered
    assert all(env.lifecycle.windows_for(job, start - 10) == ()
               for job in env.scheduler.jobs.values())


async def test_the_scope_stays_covered_until_the_end_actions_are_done(env: Env) -> None:
    """The router asks ``lifecycle.covering``: after the end, an alert of the scope stays
    suppressed while the end actions are unfinished (at most END_GRACE), then not."""
    from alerts.maintenance.lifecycle import END_GRACE
    from alerts.maintenance.store import OccurrenceRecord, save_occurrence

    start = env.clock.now + 60
    window = env.add_window(start, end=HOUR)
    labels = {"lms": LMS, "check": "code", "check_type": "code_integrity"}
    assert env.lifecycle.covering(labels, start + 10) is not None
    assert env.lifecycle.covering({"lms": "elsewhere"}, start + 10) is None
    end = start + HOUR
    assert env.lifecycle.covering(labels, end + 5) is None  # no record: nothing pending
    record = OccurrenceRecord(window.id, start, end, "checked", None, None, [])
    save_occurrence(env.store.database, record)
    assert env.lifecycle.covering(labels, end + 5) is not None
    assert env.lifecycle.covering(labels, end + END_GRACE + 1) is None  # capped
    save_occurrence(env.store.database,
                    OccurrenceRecord(window.id, start, end, "done", None, None, []))
    assert env.lifecycle.covering(labels, end + 5) is None
