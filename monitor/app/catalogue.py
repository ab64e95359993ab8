"""The metric catalogue: every metric Vigil exports, assembled from where each is declared.

Nothing is declared here. Each producer declares its metrics once, next to the code that
makes them: check modules (their ``METRICS``, listed in checks/registry.py and
checks/moodle/registry.py), alerting's synthetic checks (alerts/evaluator.py) and the
shell itself (monitor/app/self_metrics.py; monitor/app/blocking.py for its thread
pools). ``merge`` fails at import on a name declared twice. The collector
(monitor/app/metrics.py) exports only catalogued samples, and tests check that
dashboards and rules use only these names.
"""

from __future__ import annotations

from alerts.evaluator import POLICY_METRICS
from checks.moodle.registry import MOODLE_METRICS
from checks.registry import CHECK_METRICS
from monitor.app.blocking import BLOCKING_METRICS
from monitor.app.fleet import FLEET_METRICS
from monitor.app.self_metrics import DAEMON_METRICS, STATE_METRICS
from monitor.kernel.metric import Metrics, merge

# What results carry (Result.samples): checks' samples and the synthetic checks'.
SAMPLE_METRICS: Metrics = merge(CHECK_METRICS, MOODLE_METRICS, POLICY_METRICS)

CATALOGUE: Metrics = merge(STATE_METRICS, SAMPLE_METRICS, DAEMON_METRICS, BLOCKING_METRICS,
                           FLEET_METRICS)

# The gauges checks return: what a predictive rule may forecast (alerts/predict_rules.py
# receives these names as validation context when monitor/app/config.py loads the config).
CHECK_GAUGES: frozenset[str] = frozenset(
    name for name, spec in merge(CHECK_METRICS, MOODLE_METRICS).items() if spec.type == "gauge")
