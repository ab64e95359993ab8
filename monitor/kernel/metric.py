"""How a metric is declared: the one type every layer uses to say what it exports.

Each producer declares its own metrics next to the code that makes them (a check module's
``METRICS``, alerting's synthetic checks, the shell's collector and instruments); the shell
merges those declarations into the catalogue the exporter reads (monitor/app/catalogue.py).
``lms_*`` metrics are facts about a watched LMS and always carry ``lms`` and ``check``
labels (added by the collector); the ``labels`` declared here are the extra ones a
producer adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    type: str  # "gauge" | "counter" | "histogram" | "info"
    help: str
    labels: tuple[str, ...] = ()


Metrics = Mapping[str, MetricSpec]


def declare(*specs: MetricSpec) -> Metrics:
    """A producer's metrics by name (read-only); a name declared twice is a bug."""
    return merge(*({spec.name: spec} for spec in specs))


def merge(*groups: Metrics) -> Metrics:
    """Declarations from several producers as one mapping; fails on a name declared twice.

    Two producers may share one declaration (the same MetricSpec object, e.g. both
    integrity checks report skipped files); two MetricSpecs of the same name may not.
    """
    merged: dict[str, MetricSpec] = {}
    for group in groups:
        for name, spec in group.items():
            if name != spec.name:
                raise ValueError(f"metric {spec.name!r} is filed under {name!r}")
            if merged.get(name, spec) is not spec:
                raise ValueError(f"metric {name!r} is declared twice")
            merged[name] = spec
    return MappingProxyType(merged)
