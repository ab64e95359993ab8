"""/metrics for a thousand sites: the per-check ``lms_*`` lines rendered once per new state.

prometheus_client's encoders spend ~6 us per sample (label-name validation and escaping
on every line); ten thousand checks export ~190,000 samples, so a scrape took seconds of
event-loop time (bench/scale.py). The values of a check change only when it records a
new state, so ``CheckLines`` keeps each check's rendered lines per family and renders
again only the checks whose ``CheckState`` object (or firing flag) changed since the
last scrape. Everything else (``vigil_*`` families, histograms, the pools) still goes
through prometheus_client's encoder on the same registry, with the StateCollector's
per-check families switched off for that call. Same families, names, HELP, TYPE, labels
and values as the StateCollector yields (tests/test_exposition.py compares the two).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

from monitor.app.catalogue import SAMPLE_METRICS
from monitor.app.metrics import StateCollector
from monitor.app.self_metrics import STATE_METRICS
from monitor.kernel.result import Status
from monitor.state.store import CheckState

log = logging.getLogger(__name__)
EOF = "# EOF\n"
Key = tuple[str, str]
_STATE_VALUES: dict[str, Callable[[CheckState, bool], float]] = {
    "lms_check_status": lambda s, _: float(s.result.status),
    "lms_check_success": lambda s, _: float(s.result.status == Status.OK),
    "lms_check_duration_seconds": lambda s, _: s.duration,
    "lms_check_last_run_timestamp_seconds": lambda s, _: s.ran_at,
    "lms_check_state_change_timestamp_seconds": lambda s, _: s.last_change,
    "lms_check_consecutive_failures": lambda s, _: float(s.consecutive_fail),
    "lms_alert_firing": lambda s, firing: float(firing),
}


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class CheckLines:
    """Each check's lines per family, kept until its state changes."""

    def __init__(self) -> None:
        # key -> (the state rendered, firing then, {family: its lines for this check})
        self._cache: dict[Key, tuple[CheckState, bool, dict[str, str]]] = {}
        self._warned: set[str] = set()

    def families(self, states: list[CheckState], firing: set[Key]
                 ) -> dict[str, list[str]]:
        """Family name -> its sample lines, state families first, then sample families."""
        out: dict[str, list[str]] = {name: [] for name in _STATE_VALUES}
        cache: dict[Key, tuple[CheckState, bool, dict[str, str]]] = {}
        for state in states:
            key = (state.lms, state.check)
            fire = key in firing
            entry = self._cache.get(key)
            if entry is None or entry[0] is not state or entry[1] != fire:
                entry = (state, fire, self._render(state, fire))
            cache[key] = entry
            for name, lines in entry[2].items():
                family = out.get(name)
                if family is None:
                    family = out[name] = []
                family.append(lines)
        self._cache = cache  # checks gone from the config drop out here
        return out

    def _render(self, state: CheckState, firing: bool) -> dict[str, str]:
        escaped = {"lms": _escape(state.lms), "check": _escape(state.check)}
        base = f'check="{escaped["check"]}",lms="{escaped["lms"]}"'  # sorted, as always
        rendered = {name: f"{name}{{{base}}} {floatToGoString(value(state, firing))}\n"
                    for name, value in _STATE_VALUES.items()}
        for sample in state.result.samples:
            spec = SAMPLE_METRICS.get(sample.name)
            if spec is None:  # logged once by name, as the StateCollector does
                if sample.name not in self._warned:
                    self._warned.add(sample.name)
                    log.warning("check %s/%s returned uncatalogued sample %s; not exported",
                                state.lms, state.check, sample.name)
                continue
            labels = base
            if spec.labels:
                values = {**escaped, **{label: _escape(str(sample.labels.get(label, "")))
                                        for label in spec.labels}}
                labels = ",".join(f'{n}="{values[n]}"' for n in _sorted_names(spec.labels))
            name = spec.name if spec.type != "counter" else _counter_sample(spec.name)
            line = f"{name}{{{labels}}} {floatToGoString(sample.value)}\n"
            rendered[spec.name] = rendered.get(spec.name, "") + line
        return rendered


@functools.cache
def _sorted_names(extra: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({"lms", "check", *extra}))


def _counter_sample(name: str) -> str:
    return name if name.endswith("_total") else f"{name}_total"


def _header(name: str, openmetrics: bool) -> str:
    spec = STATE_METRICS.get(name) or SAMPLE_METRICS[name]
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    kind = spec.type
    if kind == "counter":
        base = name[:-len("_total")] if name.endswith("_total") else name
        shown = base if openmetrics else f"{base}_total"
    else:
        shown = name
    if openmetrics:
        help_text = help_text.replace('"', r"\"")
    return f"# HELP {shown} {help_text}\n# TYPE {shown} {kind}\n"


def render(registry: CollectorRegistry, collector: StateCollector, lines: CheckLines,
           encoder: Callable[[CollectorRegistry], bytes], openmetrics: bool) -> bytes:
    """The whole /metrics body in the format ``encoder`` writes."""
    collector.per_check = False
    try:
        head = encoder(registry).decode()
    finally:
        collector.per_check = True
    if openmetrics and head.endswith(EOF):
        head = head[:-len(EOF)]
    store = collector.store
    firing = {(a.lms, a.check) for a in store.firing_alerts()}
    parts = [head]
    for name, family in lines.families(store.states(), firing).items():
        if name in STATE_METRICS or family:  # state families always; samples if any
            parts.append(_header(name, openmetrics))
            parts.extend(family)
    if openmetrics:
        parts.append(EOF)
    return "".join(parts).encode()
