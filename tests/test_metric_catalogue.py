"""One source of truth for metrics: each is declared once, and the catalogue holds them all.

Producers declare their metrics next to their code (a check module's ``METRICS``,
alerts/predict.py and alerts/slo.py, monitor/app/self_metrics.py); monitor/app/catalogue.py
only assembles them. These tests read the declarations two independent ways: from the
source (every ``MetricSpec(...)`` call) and from the check registry's modules.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

import pytest

from alerts import predict, slo
from alerts.evaluator import POLICY_METRICS
from alerts.predict_rules import default_predict_rules
from checks.registry import CHECK_TYPES
from monitor.app import self_metrics
from monitor.app.blocking import BLOCKING_METRICS
from monitor.app.catalogue import CATALOGUE, CHECK_GAUGES, SAMPLE_METRICS
from monitor.kernel.metric import MetricSpec, declare, merge

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("monitor", "checks", "alerts")


def _declared_in_source() -> list[tuple[str, str]]:
    """(metric name, file) for every ``MetricSpec(<name>, ...)`` call in Vigil's code.

    The name is a string literal or a module-level string constant of the same file.
    """
    found: list[tuple[str, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {
                target.id: node.value.value
                for node in tree.body if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                for target in node.targets if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "MetricSpec" and node.args):
                    continue
                first = node.args[0]
                name = (first.value if isinstance(first, ast.Constant)
                        else constants.get(first.id) if isinstance(first, ast.Name) else None)
                assert isinstance(name, str), f"{path}:{node.lineno}: unresolvable metric name"
                found.append((name, str(path.relative_to(ROOT))))
    return found


def test_no_metric_is_declared_twice_in_the_source() -> None:
    declared = _declared_in_source()
    counts = Counter(name for name, _ in declared)
    twice = {name: [f for n, f in declared if n == name] for name, c in counts.items() if c > 1}
    assert not twice, f"declared more than once: {twice}"


def test_the_catalogue_is_exactly_the_declared_metrics() -> None:
    assert {name for name, _ in _declared_in_source()} == set(CATALOGUE)
    assert all(name == spec.name for name, spec in CATALOGUE.items())


def test_the_catalogue_declares_nothing_itself() -> None:
    source = (ROOT / "monitor" / "app" / "catalogue.py").read_text(encoding="utf-8")
    assert "MetricSpec(" not in source


def _check_modules() -> dict[str, object]:
    """Each registered check type's module, found from the registry, not from its lists."""
    return {sys.modules[check_cls.__module__].__name__: sys.modules[check_cls.__module__]
            for _, check_cls in CHECK_TYPES.values()}


@pytest.mark.parametrize("module_name", sorted(_check_modules()))
def test_every_check_module_declares_its_metrics_and_they_are_catalogued(
    module_name: str,
) -> None:
    metrics = getattr(_check_modules()[module_name], "METRICS", None)
    assert metrics, f"{module_name} declares no METRICS"
    for name, spec in metrics.items():
        assert isinstance(spec, MetricSpec) and spec.name == name
        # The same object: the catalogue holds the module's declaration, not a copy.
        assert SAMPLE_METRICS.get(name) is spec, f"{module_name}: {name} not catalogued"


def test_alerting_and_shell_declarations_are_catalogued() -> None:
    groups = (predict.METRICS, slo.METRICS, POLICY_METRICS,
              self_metrics.STATE_METRICS, self_metrics.DAEMON_METRICS, BLOCKING_METRICS)
    for group in groups:
        assert all(CATALOGUE[name] is spec for name, spec in group.items())
    assert not set(self_metrics.STATE_METRICS) & set(SAMPLE_METRICS)
    assert all(name.startswith("vigil_") for name in self_metrics.DAEMON_METRICS)


def test_merge_refuses_a_second_declaration_of_a_name() -> None:
    first = MetricSpec("lms_x", "gauge", "One.")
    again = MetricSpec("lms_x", "gauge", "One.")  # equal, but a second declaration
    with pytest.raises(ValueError, match="'lms_x' is declared twice"):
        declare(first, again)
    with pytest.raises(ValueError, match="'lms_x' is declared twice"):
        merge(declare(first), declare(again))
    with pytest.raises(ValueError, match="'lms_x' is filed under 'lms_y'"):
        merge({"lms_y": first})
    # Two producers may share one declaration (as both integrity checks do).
    assert dict(merge(declare(first), {"lms_x": first})) == {"lms_x": first}


def test_declarations_are_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE["lms_x"] = MetricSpec("lms_x", "gauge", "One.")  # type: ignore[index]


def test_check_gauges_are_the_gauges_checks_return_and_cover_the_default_rules() -> None:
    assert CHECK_GAUGES == {name for name, spec in SAMPLE_METRICS.items()
                            if spec.type == "gauge" and name not in POLICY_METRICS}
    for rule in default_predict_rules():
        assert rule.metric in CHECK_GAUGES, rule.name
        assert rule.reference is None or rule.reference in CHECK_GAUGES, rule.name
