"""History for predictions and SLOs: what to keep, the recorder that keeps it, and reads.

Sits beside the alert service as a runner listener (monitor/app/listeners.py fans each
new check state out to both): ``SampleRecorder.on_state`` stores the samples of the
gauges that predictive rules watch (only those, at most one point per series per
``resolution``) into ``sample_history``, and counts the probes of each LMS's
availability check per minute into ``slo_minutes``. alerts/evaluator.py reads both
through ``History``. Tables: migration 6 in monitor/app/store.py.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alerts.predict_rules import PredictRule
from alerts.slo import SloTarget, resolve_target
from alerts.store import AlertingState
from monitor.kernel.result import Status
from monitor.kernel.spec import PositiveDuration, StrictModel
from monitor.state.store import CheckState

if TYPE_CHECKING:
    from monitor.app.config import VigilConfig

SeriesKey = tuple[str, str]  # (check, labels as sorted JSON)
# Usage gauges of the moodle_usage check kept for the stakeholder report's trend charts
# (monitor/app/report/), whatever the predictive rules watch: a few series, one point per
# ``resolution``, so the default 8-day retention holds a weekly report.
TREND_METRICS = frozenset({"lms_moodle_active_users", "lms_moodle_logins",
                           "lms_moodle_course_completions"})
# (alert labels, now) -> a maintenance window covers them (MaintenanceBook.covering).
InMaintenance = Callable[[Mapping[str, str], float], bool]


class HistorySettings(StrictModel):
    """The ``[alerts.history]`` table."""

    # Sample history older than this is deleted (never less than the longest rule window).
    retention: PositiveDuration = 8 * 86400.0
    # At most one stored point per series per this long: a 6 h window holds 72 points,
    # and 8 days of one series stay under 0.5 MB.
    resolution: PositiveDuration = 300.0
    prune_interval: PositiveDuration = 3600.0


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """What the recorder keeps and the evaluator judges, derived once from the config."""

    rules: tuple[PredictRule, ...] = ()
    slo: Mapping[str, SloTarget] = field(default_factory=dict)  # lms -> its SLO
    lms_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    history: HistorySettings = HistorySettings()
    exclude_maintenance: bool = True
    interval: float = 60.0

    @classmethod
    def from_config(cls, config: VigilConfig) -> WatchPlan:
        alerts = config.alerts
        targets = {}
        owned = config.fleet.owned(config.lms)  # this instance's shard
        for site in owned:
            checks = {name: spec.type for name, spec in site.checks.items() if spec.enabled}
            target = resolve_target(alerts.slo, site.name, checks)
            if target is not None:
                targets[site.name] = target
        labels = {site.name: {**site.labels, **config.fleet.label()} for site in owned}
        return cls(tuple(alerts.predict), targets, labels, alerts.history,
                   alerts.slo.exclude_maintenance, alerts.evaluation_interval)

    @property
    def lms_names(self) -> tuple[str, ...]:
        return tuple(self.lms_labels)

    @property
    def retention(self) -> float:
        return max([self.history.retention, *(rule.window for rule in self.rules)])

    @property
    def slo_retention(self) -> float:
        return max((t.period for t in self.slo.values()), default=0.0) + 86400.0

    def watches(self, lms: str, check: str, metric: str, labels: Mapping[str, str]) -> bool:
        return metric in TREND_METRICS or any(
            rule.metric == metric and rule.matches(lms, check, labels) for rule in self.rules)


class History:
    """Reads and writes of ``sample_history`` and ``slo_minutes`` (monitor/app/store.py)."""

    def __init__(self, store: AlertingState) -> None:
        self.store = store

    def add_samples(self, rows: Iterable[tuple[str, str, str, str, float, float]]) -> None:
        """Rows of (lms, check, metric, labels_key, at, value)."""
        with self.store.transaction() as db:
            db.executemany("INSERT INTO sample_history (lms, check_name, metric, labels, at,"
                           " value) VALUES (?,?,?,?,?,?)", rows)

    def last_at(self, lms: str, check: str, metric: str, labels: str) -> float | None:
        row = self.store.db.execute(
            "SELECT MAX(at) FROM sample_history WHERE lms = ? AND metric = ?"
            " AND check_name = ? AND labels = ?", (lms, metric, check, labels)
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def series(
        self, lms: str, metric: str, since: float, until: float
    ) -> dict[SeriesKey, list[tuple[float, float]]]:
        """Every series of ``metric`` on ``lms`` with points in [since, until], oldest first."""
        rows = self.store.db.execute(
            "SELECT check_name, labels, at, value FROM sample_history WHERE lms = ?"
            " AND metric = ? AND at >= ? AND at <= ? ORDER BY at", (lms, metric, since, until)
        )
        found: dict[SeriesKey, list[tuple[float, float]]] = {}
        for row in rows:
            found.setdefault((row[0], row[1]), []).append((row[2], row[3]))
        return found

    def probe_totals(self, lms: str, since: float, until: float) -> tuple[int, int, int]:
        """(good probes, all probes, minutes with a failed probe) of the availability
        check in the minutes that start in [since, until)."""
        row = self.store.db.execute(
            "SELECT COALESCE(SUM(good), 0), COALESCE(SUM(total), 0),"
            " COALESCE(SUM(good < total), 0) FROM slo_minutes"
            " WHERE lms = ? AND minute >= ? AND minute < ?",
            (lms, math.ceil(since / 60), math.ceil(until / 60))).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def count_probe(self, lms: str, at: float, good: bool) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO slo_minutes (lms, minute, good, total) VALUES (?,?,?,1)"
                " ON CONFLICT (lms, minute) DO UPDATE SET good = good + excluded.good,"
                " total = total + 1", (lms, math.floor(at / 60), int(good))
            )

    def probe_sums(
        self, lms: str, windows: Mapping[str, float], now: float
    ) -> dict[str, tuple[int, int]]:
        """(good, total) per window label: minutes that started after ``now - window``,
        the current one included, in one scan of the longest window."""
        if not windows:
            return {}
        names = list(windows)
        starts = [math.floor((now - windows[name]) / 60) for name in names]
        columns = ", ".join(
            "COALESCE(SUM(CASE WHEN minute > ? THEN good END), 0),"
            " COALESCE(SUM(CASE WHEN minute > ? THEN total END), 0)" for _ in names
        )
        params: list[Any] = [value for start in starts for value in (start, start)]
        row = self.store.db.execute(
            f"SELECT {columns} FROM slo_minutes WHERE lms = ? AND minute > ? AND minute <= ?",
            (*params, lms, min(starts), math.floor(now / 60)),
        ).fetchone()
        return {name: (int(row[2 * i]), int(row[2 * i + 1])) for i, name in enumerate(names)}

    def minutes_watched(self, lms: str, since: float, now: float) -> int | None:
        """Minutes from the LMS's first probe bucket after ``since`` to ``now``, the current
        one included; None without any."""
        first = self.store.db.execute(
            "SELECT MIN(minute) FROM slo_minutes WHERE lms = ? AND minute > ?",
            (lms, math.floor(since / 60)),
        ).fetchone()[0]
        return None if first is None else math.floor(now / 60) - int(first) + 1

    def prune(self, samples_before: float, minutes_before: float) -> tuple[int, int]:
        with self.store.transaction() as db:
            samples = db.execute("DELETE FROM sample_history WHERE at < ?", (samples_before,))
            minutes = db.execute("DELETE FROM slo_minutes WHERE minute < ?",
                                 (math.floor(minutes_before / 60),))
        return samples.rowcount, minutes.rowcount


class SampleRecorder:
    """Runner listener (same ``on_state`` as AlertService) that feeds ``History``."""

    def __init__(
        self, store: AlertingState, plan: WatchPlan, *,
        in_maintenance: InMaintenance | None = None, logger: logging.Logger | None = None,
    ) -> None:
        self.history = History(store)
        self.plan = plan
        self.in_maintenance = in_maintenance
        self.logger = logger or logging.getLogger("vigil.history")
        self._last: dict[tuple[str, str, str, str], float] = {}
        self._next_prune: float | None = None

    def configure(self, plan: WatchPlan) -> None:
        """Apply a reloaded config; the last-recorded cache stays valid."""
        self.plan = plan

    def on_state(
        self, state: CheckState, spec: Any, now: float, *, labels: Mapping[str, str]
    ) -> None:
        rows = self._due_samples(state)
        if rows:
            self.history.add_samples(rows)
            self._last.update({row[:4]: row[4] for row in rows})
        target = self.plan.slo.get(state.lms)
        if target is not None and target.check == state.check and not self._paused(
                state, labels, now):
            self.history.count_probe(state.lms, state.ran_at, state.result.status is Status.OK)
        if self._next_prune is None or now >= self._next_prune:
            self.prune(now)

    def _due_samples(self, state: CheckState) -> list[tuple[str, str, str, str, float, float]]:
        rows: list[tuple[str, str, str, str, float, float]] = []
        if not self.plan.rules:  # no predictive rule: nothing to keep (most results)
            return rows
        # Checks run with jitter: a point a little early for the grid still counts.
        spacing = self.plan.history.resolution * 0.9
        for sample in state.result.samples:
            if not self.plan.watches(state.lms, state.check, sample.name, sample.labels):
                continue
            if not math.isfinite(sample.value):
                continue
            key = (state.lms, state.check, sample.name, labels_key(sample.labels))
            last = self._last.get(key)
            if last is None:
                last = self.history.last_at(*key)
            if last is not None and state.ran_at - last < spacing:
                continue
            rows.append((*key, state.ran_at, float(sample.value)))
        return rows

    def _paused(self, state: CheckState, labels: Mapping[str, str], now: float) -> bool:
        """Whether a maintenance window covers the availability check right now."""
        if not self.plan.exclude_maintenance or self.in_maintenance is None:
            return False
        scope = {**labels, "lms": state.lms, "check": state.check,
                 "check_type": state.check_type}
        try:
            return self.in_maintenance(scope, now)
        except Exception:  # a broken maintenance lookup must not stop the counting
            self.logger.exception("maintenance lookup failed for %s; counting the probe",
                                  state.lms)
            return False

    def prune(self, now: float) -> tuple[int, int]:
        """Delete history past retention; runs every ``prune_interval`` from ``on_state``."""
        self._next_prune = now + self.plan.history.prune_interval
        samples, minutes = self.history.prune(now - self.plan.retention,
                                              now - self.plan.slo_retention)
        if samples or minutes:
            self.logger.info("pruned %d history samples and %d SLO minutes", samples, minutes)
        # Forget cache entries of series that were pruned away entirely.
        horizon = now - self.plan.retention
        self._last = {key: at for key, at in self._last.items() if at >= horizon}
        return samples, minutes
