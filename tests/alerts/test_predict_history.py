"""The history recorder, the evaluation loop and their wiring into the runner and daemon
(alerts/history.py, alerts/evaluator.py, monitor/app/listeners.py).

Real SQLite file, real AlertService, the runner's own fan-out; time is injected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from alerts.evaluator import PolicyEvaluator
from alerts.history import History, SampleRecorder, WatchPlan
from alerts.service import AlertService
from checks.base import CheckContext
from monitor.app.config import VigilConfig, parse_config
from monitor.app.daemon import Daemon
from monitor.app.listeners import FanOut
from monitor.app.metrics import build_registry
from monitor.app.runner import CheckRunner
from monitor.app.store import StateStore
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from monitor.state.store import CheckState
from tests.alerts.history_kit import add_minutes
from tests.conftest import FakeClock

HOUR = 3600.0
DAY = 86400.0
GIB = 2.0**30
SIZE = 100 * GIB

CONFIG = """
[[lms]]
name = "prod"
url = "https://prod.example"
labels = {team = "elearning"}
[lms.checks.http]
[lms.checks.system]

[[lms]]
name = "stage"
url = "https://stage.example"
[lms.checks.system]
"""


def config(extra: str = "") -> VigilConfig:
    return parse_config(extra + CONFIG)


def system_result(free: Mapping[str, float], load: float = 0.5) -> Result:
    samples = [Sample("lms_system_load1", load)]
    for mount, avail in free.items():
        labels = {"mountpoint": mount}
        samples += [Sample("lms_system_filesystem_avail_bytes", avail, labels),
                    Sample("lms_system_filesystem_size_bytes", SIZE, labels),
                    Sample("lms_system_filesystem_files_free", 9e5, labels),
                    Sample("lms_system_filesystem_files", 1e6, labels)]
    return Result(Status.OK, "system fine", tuple(samples))


class Recording:
    """A listener that keeps what it was given (and can fail on demand)."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.calls: list[tuple[CheckState, Any, dict[str, str]]] = []
        self.fail_for = fail_for or set()

    def on_state(self, state: CheckState, spec: Any, now: float, *,
                 labels: Mapping[str, str]) -> None:
        if state.lms in self.fail_for:
            raise RuntimeError("listener broke")
        self.calls.append((state, spec, dict(labels)))


def feed(store: StateStore, recorder: SampleRecorder, lms: str, check: str, check_type: str,
         result: Result, at: float, labels: Mapping[str, str] | None = None) -> CheckState:
    """What the runner does with a result: store it, then tell the listener."""
    state = store.record_result(lms, check, check_type, result, at, 0.1)
    recorder.on_state(state, None, at, labels=dict(labels or {}))
    return state


def history_rows(store: StateStore) -> list[tuple[str, str, str, str]]:
    rows = store.db.execute("SELECT lms, check_name, metric, labels FROM sample_history"
                            " ORDER BY lms, metric, labels, at")
    return [tuple(row) for row in rows]


# -- recording ------------------------------------------------------------------------
def test_only_watched_gauges_are_kept_at_most_once_per_resolution(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config('[alerts.history]\nresolution = "1m"\n'))
    recorder = SampleRecorder(store, plan)
    for _ in range(15):  # every 20 s for 5 min
        feed(store, recorder, "prod", "system", "system", system_result({"/": 50 * GIB}),
             clock.time())
        clock.advance(20)
    rows = history_rows(store)
    metrics = {row[2] for row in rows}
    # The default rules watch free bytes and free inodes; load and sizes are not kept.
    assert metrics == {"lms_system_filesystem_avail_bytes", "lms_system_filesystem_files_free"}
    per_series = [r for r in rows if r[2] == "lms_system_filesystem_avail_bytes"]
    assert len(per_series) == 5
    assert per_series[0] == ("prod", "system", "lms_system_filesystem_avail_bytes",
                             '{"mountpoint":"/"}')


def test_a_rule_label_filter_limits_what_is_kept(store: StateStore, clock: FakeClock) -> None:
    plan = WatchPlan.from_config(config("""
[[alerts.predict]]
name = "var"
metric = "lms_system_filesystem_avail_bytes"
labels = {mountpoint = "/var", lms = "prod"}
levels = [{horizon = "4h", severity = "critical"}]
"""))
    recorder = SampleRecorder(store, plan)
    for lms in ("prod", "stage"):
        feed(store, recorder, lms, "system", "system",
             system_result({"/": 1 * GIB, "/var": 2 * GIB}), clock.time())
    assert history_rows(store) == [
        ("prod", "system", "lms_system_filesystem_avail_bytes", '{"mountpoint":"/var"}')]


def test_the_last_point_survives_a_restart_of_the_recorder(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config())
    feed(store, SampleRecorder(store, plan), "prod", "system", "system",
         system_result({"/": 1 * GIB}), clock.time())
    clock.advance(30)  # a fresh recorder must not store a second point within 5 min
    feed(store, SampleRecorder(store, plan), "prod", "system", "system",
         system_result({"/": 1 * GIB}), clock.time())
    assert len(history_rows(store)) == 2  # avail + files_free, once each


def test_retention_prunes_old_samples_and_slo_minutes(store: StateStore, clock: FakeClock) -> None:
    plan = WatchPlan.from_config(config('[alerts.history]\nretention = "8d"\n'))
    history = History(store)
    now = clock.time()
    history.add_samples(("prod", "system", "lms_system_filesystem_avail_bytes", "{}",
                         now - day * DAY, 1.0) for day in range(12))
    add_minutes(history, "prod", [(int((now - day * DAY) // 60), 1, 1) for day in range(40)])
    recorder = SampleRecorder(store, plan)
    # Kept: exactly 8 d old and younger; SLO minutes for the 30 d period + 1 d.
    assert recorder.prune(now) == (3, 8)  # days 9..11 and 32..39
    ages = [row[0] for row in store.db.execute("SELECT at FROM sample_history")]
    assert min(ages) == now - 8 * DAY
    assert store.db.execute("SELECT COUNT(*) FROM slo_minutes").fetchone()[0] == 32


def test_pruning_runs_from_on_state_every_prune_interval(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config('[alerts.history]\nretention = "8d"\n'
                                        'prune_interval = "1h"\nresolution = "1m"\n'))
    recorder = SampleRecorder(store, plan)
    feed(store, recorder, "prod", "system", "system", system_result({"/": 1 * GIB}),
         clock.time())
    History(store).add_samples([("prod", "system", "lms_system_filesystem_avail_bytes", "{}",
                                 clock.time() - 9 * DAY, 1.0)])
    clock.advance(59 * 60)
    feed(store, recorder, "prod", "system", "system", system_result({"/": 1 * GIB}),
         clock.time())
    assert store.db.execute("SELECT COUNT(*) FROM sample_history").fetchone()[0] == 5
    clock.advance(60)
    feed(store, recorder, "prod", "system", "system", system_result({"/": 1 * GIB}),
         clock.time())
    assert store.db.execute("SELECT COUNT(*) FROM sample_history").fetchone()[0] == 6


def test_retention_is_never_shorter_than_the_longest_rule_window() -> None:
    plan = WatchPlan.from_config(config("""
[alerts.history]
retention = "1d"
[[alerts.predict]]
name = "slow"
metric = "lms_system_filesystem_avail_bytes"
window = "3d"
levels = [{horizon = "30d", severity = "warning"}]
"""))
    assert plan.retention == 3 * DAY


# -- evaluation -----------------------------------------------------------------------
def fill_disk(store: StateStore, recorder: SampleRecorder, clock: FakeClock, lms: str,
              free_now: float, per_hour: float, hours: float = 6) -> None:
    """Run the system check every 5 min for ``hours``, ending with ``free_now`` left."""
    steps = int(hours * 12)
    for i in range(steps, -1, -1):
        free = free_now - per_hour * (i / 12)
        feed(store, recorder, lms, "system", "system", system_result({"/var": free}),
             clock.time())
        if i:
            clock.advance(300)


def test_a_filling_disk_fires_an_alert_and_exports_its_forecast(
    store: StateStore, clock: FakeClock
) -> None:
    cfg = config()
    plan = WatchPlan.from_config(cfg)
    recorder = SampleRecorder(store, plan)
    alerts = AlertService(store, cfg.alerts)
    evaluator = PolicyEvaluator(store, plan, listener=alerts)
    fill_disk(store, recorder, clock, "prod", free_now=15 * GIB, per_hour=-5 * GIB)

    assert evaluator.step(clock.time()) >= 1
    state = store.get_state("prod", "predict_disk_space")
    assert state is not None and state.check_type == "predict"
    assert state.result.status is Status.CRITICAL
    assert state.result.summary.startswith("disk /var 15% left, runs out in 3h")
    firing = {(a.lms, a.check): a for a in alerts.firing()}
    assert ("prod", "predict_disk_space") in firing
    assert firing[("prod", "predict_disk_space")].labels["team"] == "elearning"

    registry, _ = build_registry(store)
    exposition = generate_latest(registry).decode()
    assert ('lms_prediction_seconds_to_threshold{check="predict_disk_space",lms="prod",'
            'rule="disk_space",series="system{mountpoint=/var}"} 10800.0') in exposition
    assert 'lms_check_status{check="predict_disk_space",lms="prod"} 2.0' in exposition


def test_a_disk_with_room_stays_ok_and_resolves_a_firing_forecast(
    store: StateStore, clock: FakeClock
) -> None:
    cfg = config()
    plan = WatchPlan.from_config(cfg)
    recorder = SampleRecorder(store, plan)
    alerts = AlertService(store, cfg.alerts)
    evaluator = PolicyEvaluator(store, plan, listener=alerts)
    fill_disk(store, recorder, clock, "prod", free_now=15 * GIB, per_hour=-5 * GIB)
    evaluator.step(clock.time())
    clock.advance(300)
    # An admin freed 60 GiB; the last 6 h now trend upward.
    fill_disk(store, recorder, clock, "prod", free_now=75 * GIB, per_hour=1 * GIB)
    evaluator.step(clock.time())
    state = store.get_state("prod", "predict_disk_space")
    assert state is not None and state.result.status is Status.OK
    assert ("prod", "predict_disk_space") not in {(a.lms, a.check) for a in alerts.firing()}


def test_a_forecast_whose_samples_stopped_resolves_like_an_empty_range(
    store: StateStore, clock: FakeClock
) -> None:
    cfg = config()
    plan = WatchPlan.from_config(cfg)
    recorder = SampleRecorder(store, plan)
    alerts = AlertService(store, cfg.alerts)
    evaluator = PolicyEvaluator(store, plan, listener=alerts)
    fill_disk(store, recorder, clock, "prod", free_now=15 * GIB, per_hour=-5 * GIB)
    evaluator.step(clock.time())
    assert ("prod", "predict_disk_space") in {(a.lms, a.check) for a in alerts.firing()}
    clock.advance(7 * HOUR)  # the system check was removed: no sample in the 6 h window
    evaluator.step(clock.time())
    state = store.get_state("prod", "predict_disk_space")
    assert state is not None and state.result.status is Status.OK
    assert state.result.summary == ("no samples of lms_system_filesystem_avail_bytes in the "
                                    "last 6h: nothing to forecast")
    assert ("prod", "predict_disk_space") not in {(a.lms, a.check) for a in alerts.firing()}


def test_missing_history_is_shown_but_never_alerts(store: StateStore, clock: FakeClock) -> None:
    plan = WatchPlan.from_config(config())
    recorder = SampleRecorder(store, plan)
    listener = Recording()
    evaluator = PolicyEvaluator(store, plan, listener=listener)
    fill_disk(store, recorder, clock, "prod", free_now=1 * GIB, per_hour=-5 * GIB, hours=0.25)
    evaluator.step(clock.time())
    state = store.get_state("prod", "predict_disk_space")
    assert state is not None and state.result.status is Status.UNKNOWN
    assert "not enough history" in state.result.summary
    assert [c[0].check for c in listener.calls if c[0].check.startswith("predict_")] == []
    # LMS without the metric get no synthetic check at all; nor does a rule with no data.
    assert store.get_state("prod", "predict_tls_cert_expiry") is None


def test_results_reach_the_listener_as_one_shot_checks_with_lms_labels(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config())
    recorder = SampleRecorder(store, plan)
    listener = Recording()
    fill_disk(store, recorder, clock, "prod", free_now=30 * GIB, per_hour=-2 * GIB)
    PolicyEvaluator(store, plan, listener=listener).step(clock.time())
    calls = {c[0].check: c for c in listener.calls}
    state, spec, labels = calls["predict_disk_space"]
    assert state.result.status is Status.WARNING
    assert isinstance(spec, CheckSpec) and spec.type == "predict"
    assert (spec.failure_threshold, spec.success_threshold) == (1, 1)
    assert labels == {"team": "elearning"}


def test_one_failing_lms_does_not_stop_the_others(store: StateStore, clock: FakeClock) -> None:
    plan = WatchPlan.from_config(config())
    recorder = SampleRecorder(store, plan)
    listener = Recording(fail_for={"prod"})
    for lms in ("prod", "stage"):
        clock.now = 1_800_000_000.0
        fill_disk(store, recorder, clock, lms, free_now=30 * GIB, per_hour=-2 * GIB)
    evaluator = PolicyEvaluator(store, plan, listener=listener)
    evaluator.step(clock.time())
    assert {c[0].lms for c in listener.calls} == {"stage"}
    state = store.get_state("prod", "predict_disk_space")
    assert state is not None and state.result.status is Status.WARNING  # recorded anyway


def test_synthetic_checks_are_kept_when_the_daemon_forgets_unconfigured_checks(
    store: StateStore, clock: FakeClock
) -> None:
    cfg = config()
    evaluator = PolicyEvaluator(store, WatchPlan.from_config(cfg))
    keys = evaluator.check_keys()
    assert {("prod", "predict_disk_space"), ("stage", "predict_tls_cert_expiry"),
            ("prod", "slo_availability")} <= keys
    assert ("stage", "slo_availability") not in keys  # stage has no http check


async def test_run_forever_steps_until_stopped(store: StateStore) -> None:
    plan = WatchPlan.from_config(config("[alerts]\nevaluation_interval = 0.01\n"))
    evaluator = PolicyEvaluator(store, plan)
    stop = asyncio.Event()
    steps: list[float] = []

    def now() -> float:
        steps.append(1.0)
        if len(steps) == 2:
            stop.set()
        return 1_800_000_000.0

    await asyncio.wait_for(evaluator.run_forever(now, stop), timeout=5)
    assert len(steps) == 2



def _judged_in(evaluator: PolicyEvaluator, monkeypatch: Any) -> list[str]:
    """The LMSs whose rules the evaluator judges, in order (one entry per rule)."""
    seen: list[str] = []

    def judge(lms: str, rule: Any, current: Any, now: float) -> int:
        seen.append(f"judged {lms}")
        return 0

    monkeypatch.setattr(evaluator, "_predict", judge)
    return seen


async def test_the_daemon_task_lets_other_work_run_between_two_lmss(
    store: StateStore, monkeypatch: Any
) -> None:
    # At 1,000 sites one step held the event loop ~1.8 s and every check due meanwhile
    # started late: the task now gives the loop back after each LMS.
    plan = WatchPlan.from_config(config("[alerts]\nevaluation_interval = 0.01\n"))
    first, second = plan.lms_names[:2]
    evaluator = PolicyEvaluator(store, plan)
    seen = _judged_in(evaluator, monkeypatch)
    stop = asyncio.Event()

    async def other_work() -> None:
        while not stop.is_set():
            seen.append("other work")
            if f"judged {second}" in seen:
                stop.set()
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(
        evaluator.run_forever(lambda: 1_800_000_000.0, stop), other_work()), timeout=5)
    steps = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    start = steps.index(f"judged {first}")
    assert steps[start:start + 3] == [f"judged {first}", "other work", f"judged {second}"]


def test_a_reload_between_two_lmss_ends_that_step(store: StateStore, monkeypatch: Any) -> None:
    plan = WatchPlan.from_config(config())
    first = plan.lms_names[0]
    evaluator = PolicyEvaluator(store, plan)
    seen = _judged_in(evaluator, monkeypatch)
    step = evaluator._each_lms(1_800_000_000.0)
    next(step)  # the first LMS judged; the daemon task gives the loop back here
    evaluator.configure(WatchPlan.from_config(config()))  # a reload meanwhile
    assert list(step) == []  # the old plan's other LMSs are not judged any more
    assert set(seen) == {f"judged {first}"}
    evaluator.step(1_800_000_000.0)  # the next step judges the new plan, every LMS of it
    assert len(set(seen)) == len(plan.lms_names)


# -- wiring ---------------------------------------------------------------------------
class ScriptedCheck:
    def __init__(self, results: list[Result]) -> None:
        self.results = results

    async def run(self, ctx: CheckContext) -> Result:
        return self.results.pop(0)


async def test_the_runner_fans_out_to_the_recorder_and_past_a_broken_listener(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config())
    recorder = SampleRecorder(store, plan)
    after = Recording()
    runner = CheckRunner(clock, store=store,
                         listener=FanOut([Recording(fail_for={"prod"}), recorder, after]))
    spec = CheckSpec(type="http")
    job = CheckJob(Target("prod", "generic"), "http", spec,
                   ScriptedCheck([Result(Status.OK, "up"), Result(Status.CRITICAL, "down")]))
    await runner.run(job)
    clock.advance(60)
    await runner.run(job)
    runner.close()
    rows = store.db.execute("SELECT good, total FROM slo_minutes WHERE lms = 'prod'").fetchall()
    assert [tuple(r) for r in rows] == [(1, 1), (0, 1)]
    assert [c[0].result.status for c in after.calls] == [Status.OK, Status.CRITICAL]


async def test_the_fan_out_passes_on_the_alert_services_soft_retry(
    store: StateStore, clock: FakeClock
) -> None:
    plan = WatchPlan.from_config(config())
    service = AlertService(store, config().alerts)
    runner = CheckRunner(clock, store=store, listener=FanOut([SampleRecorder(store, plan),
                                                              service]))
    spec = CheckSpec(type="http", retry_interval=10)
    await runner.run(CheckJob(Target("prod", "generic"), "http", spec,
                              ScriptedCheck([Result(Status.CRITICAL, "down")])))
    runner.close()
    assert runner.retry_at == {"prod/http": clock.time() + 10}


def test_the_daemon_wires_recorder_and_evaluator(tmp_path: Path) -> None:
    cfg = parse_config(f'[state]\ndir = "{tmp_path}"\n' + CONFIG)
    daemon = Daemon(cfg)
    try:
        listener = daemon.runner.listener
        assert isinstance(listener, FanOut)
        assert listener.listeners == (daemon.recorder, daemon.alerts)
        assert daemon.policy.listener is daemon.alerts
        assert daemon.recorder.plan.slo["prod"].check == "http"
    finally:
        daemon.runner.close()
        daemon.store.close()


def test_a_reload_keeps_the_fan_out_and_applies_new_rules(tmp_path: Path) -> None:
    cfg = parse_config(f'[state]\ndir = "{tmp_path}"\n' + CONFIG)
    daemon = Daemon(cfg)

    async def apply() -> None:
        daemon.apply(parse_config(f'[state]\ndir = "{tmp_path}"\n[alerts]\npredict = []\n'
                                  + CONFIG))

    try:
        asyncio.run(apply())
        assert isinstance(daemon.runner.listener, FanOut)
        assert daemon.runner.listener.listeners == (daemon.recorder, daemon.alerts)
        assert daemon.recorder.plan.rules == () and daemon.policy.plan.rules == ()
        assert daemon.policy.listener is daemon.alerts
    finally:
        daemon.runner.close()
        daemon.store.close()
