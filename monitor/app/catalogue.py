"""The metric catalogue: every metric Vigil exports, assembled from where each is declared.

Nothing is declared here. Each producer declares its metrics once, next to the code that
makes them: check modules (their ``METRICS``, listed in checks/registry.py and
checks/moodle/registry.py), alerting's synthetic checks (alerts/evaluator.py) and the
shell itself (monitor/app/self_metrics.py; monitor/app/blocking.py for its thread
pools). ``merge`` fails on a name declared twice (for check modules: on the first
complete load, checks/lazy.py LazyMetrics). The collector (monitor/app/metrics.py)
exports only catalogued samples, and tests check that dashboards and rules use only
these names. Check modules are read as they are imported: a lookup of a name none of the
imported ones declares imports them all, so the catalogue answers as if complete.
"""

from __future__ import annotations

from alerts.evaluator import POLICY_METRICS
from checks.lazy import GaugeNames, LazyMetrics
from checks.moodle.registry import MOODLE_METRICS
from checks.registry import CHECK_METRICS
from monitor.app.blocking import BLOCKING_METRICS
from monitor.app.fleet import FLEET_METRICS
from monitor.app.self_metrics import DAEMON_METRICS, STATE_METRICS
from monitor.kernel.metric import merge

_CHECK_MODULES = CHECK_METRICS.modules + MOODLE_METRICS.modules

# What results carry (Result.samples): checks' samples and the synthetic checks'.
SAMPLE_METRICS = LazyMetrics(_CHECK_MODULES, fixed=POLICY_METRICS)

CATALOGUE = LazyMetrics(_CHECK_MODULES, fixed=merge(
    STATE_METRICS, POLICY_METRICS, DAEMON_METRICS, BLOCKING_METRICS, FLEET_METRICS))

# The gauges checks return: what a predictive rule may forecast (alerts/predict_rules.py
# receives these names as validation context when monitor/app/config.py loads the config).
CHECK_GAUGES = GaugeNames(LazyMetrics(_CHECK_MODULES))
