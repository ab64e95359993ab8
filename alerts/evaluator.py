"""The evaluation loop for predictive rules and availability SLOs.

Runs beside the checks (a daemon task, every ``[alerts] evaluation_interval``): for
each LMS, ``PolicyEvaluator.step(now)`` reads the history the recorder kept
(alerts/history.py), judges every predictive rule (alerts/predict.py) and the LMS's
SLO (alerts/slo.py), stores each verdict as a synthetic check result
(``predict_<rule>``, ``slo_availability``) and hands the new state to the alert
service, so forecasts reach the status page, /metrics and the alert pipeline exactly
like check results. One LMS or rule that fails is logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterator
from itertools import groupby
from operator import attrgetter

from alerts import predict, slo
from alerts.history import History, WatchPlan, labels_key
from alerts.predict import SeriesInput, evaluate_rule, nothing_to_forecast, series_key
from alerts.predict_rules import PredictRule
from alerts.store import AlertingState
from monitor.kernel.metric import Metrics, merge
from monitor.kernel.result import Result
from monitor.kernel.spec import CheckSpec
from monitor.state.listener import StateListener
from monitor.state.store import CheckState

PREDICT_TYPE = "predict"
SLO_TYPE = "slo"
# Samples of the synthetic checks this evaluator records; the shell catalogues them.
POLICY_METRICS: Metrics = merge(predict.METRICS, slo.METRICS)
CurrentSamples = dict[tuple[str, str, str, str], float]  # (lms, check, metric, labels) -> value


class PolicyEvaluator:
    def __init__(
        self, store: AlertingState, plan: WatchPlan, *, listener: StateListener | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.history = History(store)
        self.listener = listener
        self.logger = logger or logging.getLogger("vigil.policy")
        self.plan = plan

    def configure(self, plan: WatchPlan, listener: StateListener | None = None) -> None:
        self.plan = plan
        if listener is not None:
            self.listener = listener

    def check_keys(self) -> set[tuple[str, str]]:
        """The synthetic checks this plan may write (so a reload does not forget them)."""
        keys = {(lms, rule.check_name) for lms in self.plan.lms_names for rule in self.plan.rules}
        return keys | {(lms, slo.CHECK_NAME) for lms in self.plan.slo}

    # -- one step -------------------------------------------------------------------
    def step(self, now: float) -> int:
        """Judge every rule and SLO of every LMS once; return the results recorded."""
        return sum(self._each_lms(now))

    def _each_lms(self, now: float) -> Iterator[int]:
        """One LMS at a time, yielding the results recorded for it: the daemon task gives
        the event loop back in between (at 1,000 sites a whole step held it ~1.8 s on a
        2-core VM, and every check due meanwhile started late). Ends early if the plan is
        replaced meanwhile (a reload): the next step judges the new one."""
        plan = self.plan
        states = {lms: list(group) for lms, group in groupby(self.store.states(),
                                                              key=attrgetter("lms"))}
        wanted = {name for rule in plan.rules for name in (rule.metric, rule.reference) if name}
        for lms in plan.lms_names:
            if self.plan is not plan:
                return
            current = _current_samples(states.get(lms, []), wanted)
            recorded = 0
            for rule in plan.rules:
                try:
                    recorded += self._predict(lms, rule, current, now)
                except Exception:  # one bad rule or LMS must not stop the others
                    self.logger.exception("predictive rule %s failed for %s", rule.name, lms)
            target = plan.slo.get(lms)
            if target is not None:
                try:
                    recorded += self._slo(target, now)
                except Exception:
                    self.logger.exception("availability SLO failed for %s", lms)
            yield recorded

    def _predict(self, lms: str, rule: PredictRule, current: CurrentSamples, now: float) -> int:
        series = []
        found = self.history.series(lms, rule.metric, now - rule.window, now)
        for (check, key), points in sorted(found.items()):
            labels = json.loads(key)
            if not rule.matches(lms, check, labels):
                continue
            reference = None
            if rule.reference is not None:
                reference = current.get((lms, check, rule.reference, key))
            name = f"{check}{{{series_key(labels)}}}" if labels else check
            series.append(SeriesInput(labels, points, current.get((lms, check, rule.metric, key)),
                                      reference, name))
        result = evaluate_rule(rule, series, now)
        if result is None:
            if self.store.get_state(lms, rule.check_name) is None:
                return 0  # this LMS never had the metric: no synthetic check at all
            result = nothing_to_forecast(rule)
        self._emit(lms, rule.check_name, PREDICT_TYPE, result, now)
        return 1

    def _slo(self, target: slo.SloTarget, now: float) -> int:
        sums = self.history.probe_sums(target.lms, slo.windows_for(target.period), now)
        watched = self.history.minutes_watched(target.lms, now - target.period, now)
        result = slo.evaluate_slo(target, sums, minutes_watched=watched)
        self._emit(target.lms, slo.CHECK_NAME, SLO_TYPE, result, now)
        return 1

    def _emit(self, lms: str, check: str, check_type: str, result: Result, now: float) -> None:
        state = self.store.record_result(lms, check, check_type, result, now, 0.0)
        # Missing history is shown (status page, /metrics) but never alerts: a new install
        # or a new rule must not page anyone while the first hours of data come in.
        if result.details.get("gathering_history") or self.listener is None:
            return
        spec = self._spec(check_type)
        labels = {**self.plan.lms_labels.get(lms, {}), **spec.labels}
        self.listener.on_state(state, spec, now, labels=labels)

    def _spec(self, check_type: str) -> CheckSpec:
        # A verdict already spans hours of data: one result fires, one result resolves.
        interval = self.plan.interval
        return CheckSpec(type=check_type, interval=interval, timeout=interval,
                         failure_threshold=1, success_threshold=1)

    # -- the daemon task ------------------------------------------------------------
    async def run_forever(self, now: Callable[[], float], stop: asyncio.Event) -> None:
        """Step every ``evaluation_interval`` until ``stop``; the first step waits one
        interval so the checks have run. Never raises."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.plan.interval)
            if stop.is_set():
                return
            try:
                for _ in self._each_lms(now()):
                    await asyncio.sleep(0)  # checks due meanwhile start on time
                    if stop.is_set():
                        return
            except Exception:
                self.logger.exception("prediction/SLO evaluation failed; retrying next interval")


def _current_samples(states: list[CheckState], wanted: set[str]) -> CurrentSamples:
    """The latest value of each sample the rules read (``wanted`` metric names)."""
    current: CurrentSamples = {}
    for state in states:
        for sample in state.result.samples:
            # NaN would make every comparison false
            if sample.name in wanted and math.isfinite(sample.value):
                key = (state.lms, state.check, sample.name, labels_key(sample.labels))
                current[key] = float(sample.value)
    return current

