"""Prometheus exposition: one custom collector over the state store, plus the daemon's
own instruments, all on an explicit registry (never the global default one).

Check results reach /metrics only through the store: the collector reads current
state at scrape time, so a scrape never triggers a probe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.receiver_health import receiver_states
from monitor import __version__
from monitor.app.catalogue import SAMPLE_METRICS
from monitor.app.self_metrics import DAEMON_METRICS, STATE_METRICS
from monitor.app.store import StateStore
from monitor.kernel.metric import MetricSpec
from monitor.kernel.result import Status
from monitor.state.store import CheckState

log = logging.getLogger(__name__)

_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _help(name: str) -> str:
    return DAEMON_METRICS[name].help


def _labels(name: str) -> tuple[str, ...]:
    return DAEMON_METRICS[name].labels


class DaemonMetrics:
    """Instruments for what the daemon does (runs, lag, deliveries); not for LMS facts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str) -> Counter:
            return Counter(name, _help(name), _labels(name), registry=registry)

        Info("vigil_build", _help("vigil_build_info"), registry=registry).info(
            {"version": __version__}
        )
        self.check_runs = counter("vigil_check_runs_total")
        self.check_errors = counter("vigil_check_errors_total")
        self.check_skipped = counter("vigil_check_skipped_total")
        self.config_reloads = counter("vigil_config_reloads_total")
        self.notifications = counter("vigil_notifications_total")
        self.check_duration = Histogram(
            "vigil_check_run_duration_seconds",
            _help("vigil_check_run_duration_seconds"),
            ("type",),
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.scheduler_lag = Histogram(
            "vigil_scheduler_lag_seconds",
            _help("vigil_scheduler_lag_seconds"),
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self.scheduler_jobs = Gauge(
            "vigil_scheduler_jobs", _help("vigil_scheduler_jobs"), registry=registry
        )
        self.in_flight = Gauge(
            "vigil_checks_in_flight", _help("vigil_checks_in_flight"), registry=registry
        )
        self.last_reload = Gauge(
            "vigil_config_last_reload_success_timestamp_seconds",
            _help("vigil_config_last_reload_success_timestamp_seconds"),
            registry=registry,
        )

        self.state: StateCollector | None = None  # the lms_* collector (build_registry)

    def on_notification(self, receiver: str, outcome: str) -> None:
        self.notifications.labels(receiver, outcome).inc()


class StateCollector(Collector):
    """Builds the ``lms_*`` families and the outbox/alert gauges fresh at every scrape."""

    def __init__(
        self, store: StateStore, maintenance: Callable[[], Mapping[str, bool]] | None = None
    ) -> None:
        self.store = store
        self.maintenance = maintenance  # LMS -> in a window now (MaintenanceBook.lms_activity)
        self._warned: set[str] = set()  # log each uncatalogued name once, not every scrape
        # False while /metrics renders the per-check families and vigil_maintenance_active
        # (one line per LMS) itself (monitor/app/exposition.py)
        self.per_check = True

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked collector: families depend on what checks ran

    def collect(self) -> Iterator[Metric]:
        writes = self.store.database.writes  # first: told even if the reads below fail
        yield CounterMetricFamily(
            "vigil_state_write_failures",
            _help("vigil_state_write_failures_total"),
            value=writes.failures_total,
        )
        yield GaugeMetricFamily(
            "vigil_state_writes_failing",
            _help("vigil_state_writes_failing"),
            value=float(writes.failing),
        )
        firing = {(a.lms, a.check) for a in self.store.firing_alerts()}
        if self.per_check:
            states = self.store.states()
            yield from _state_families(states, firing)
            yield from _sample_families(states, self._warned)
        outbox = GaugeMetricFamily(
            "vigil_outbox_notifications", _help("vigil_outbox_notifications"), labels=["state"]
        )
        for state, count in self.store.outbox_counts().items():
            outbox.add_metric([state], count)
        yield outbox
        yield GaugeMetricFamily("vigil_alerts_firing", _help("vigil_alerts_firing"), len(firing))
        receivers = GaugeMetricFamily(
            "vigil_receiver_up", _help("vigil_receiver_up"), labels=["receiver"]
        )
        for name, health in receiver_states(self.store).items():
            receivers.add_metric([name], float(health.up))
        yield receivers
        if self.maintenance is not None and self.per_check:
            yield _maintenance_family(self.maintenance)


def _state_families(states: list[CheckState], firing: set[tuple[str, str]]) -> Iterator[Metric]:
    def family(name: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, STATE_METRICS[name].help, labels=["lms", "check"])

    values = {
        "lms_check_status": lambda s: float(s.result.status),
        "lms_check_success": lambda s: float(s.result.status == Status.OK),
        "lms_check_duration_seconds": lambda s: s.duration,
        "lms_check_last_run_timestamp_seconds": lambda s: s.ran_at,
        "lms_check_state_change_timestamp_seconds": lambda s: s.last_change,
        "lms_check_consecutive_failures": lambda s: float(s.consecutive_fail),
        "lms_alert_firing": lambda s: float((s.lms, s.check) in firing),
    }
    for name, value in values.items():
        metric = family(name)
        for state in states:
            metric.add_metric([state.lms, state.check], value(state))
        yield metric


def _sample_families(states: list[CheckState], warned: set[str]) -> Iterator[Metric]:
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    for state in states:
        for sample in state.result.samples:
            spec = SAMPLE_METRICS.get(sample.name)
            if spec is None:
                if sample.name in warned:
                    continue
                warned.add(sample.name)
                log.warning(
                    "check %s/%s returned uncatalogued sample %s; not exported",
                    state.lms,
                    state.check,
                    sample.name,
                )
                continue
            metric = families.get(spec.name) or families.setdefault(spec.name, _new_family(spec))
            label_values = [state.lms, state.check] + [
                str(sample.labels.get(label, "")) for label in spec.labels
            ]
            metric.add_metric(label_values, sample.value)
    yield from families.values()


def _new_family(spec: MetricSpec) -> GaugeMetricFamily | CounterMetricFamily:
    labels = ["lms", "check", *spec.labels]
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=labels)


def _maintenance_family(activity: Callable[[], Mapping[str, bool]]) -> Metric:
    family = GaugeMetricFamily(
        "vigil_maintenance_active", _help("vigil_maintenance_active"), labels=["lms"]
    )
    try:
        for lms, active in sorted(activity().items()):
            family.add_metric([lms], float(active))
    except Exception:  # a broken window must not break the whole scrape
        log.exception("cannot tell which LMS are in maintenance")
    return family


def build_registry(
    store: StateStore,
    maintenance: Callable[[], Mapping[str, bool]] | None = None,
) -> tuple[CollectorRegistry, DaemonMetrics]:
    registry = CollectorRegistry(auto_describe=False)
    metrics = DaemonMetrics(registry)
    metrics.state = StateCollector(store, maintenance)
    registry.register(metrics.state)
    return registry, metrics
