"""Nagios/Icinga plugin output for ``vigil check``: status line, long output, perfdata.

Format from the Nagios plugin API and monitoring-plugins guidelines:
``'label'=value[UOM];[warn];[crit];[min];[max]`` after a ``|``; exit code = status.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Sample, Status


def perf_label(check_key: str, sample: Sample) -> str:
    label = f"{check_key}/{sample.name}"
    if sample.labels:
        label += "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
    # Nagios labels may not contain ' or =; quoting makes spaces safe.
    return "'" + label.replace("'", "").replace("=", ":") + "'"


def perf_unit(name: str) -> str:
    spec = CATALOGUE.get(name)
    if spec is not None and spec.type == "counter":
        return "c"
    if name.endswith("_seconds"):
        return "s"
    if name.endswith("_bytes"):
        return "B"
    return ""


def perf_number(value: float) -> str:
    """Plain decimal notation: the plugin guidelines allow [-0-9.] only, no exponents."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def perfdata(results: Sequence[tuple[str, Result]]) -> str:
    parts = []
    for key, result in results:
        for sample in result.samples:
            value = perf_number(sample.value) + perf_unit(sample.name)
            parts.append(f"{perf_label(key, sample)}={value}")
    return " ".join(parts)


def render(results: Sequence[tuple[str, Result]]) -> tuple[str, int]:
    """The plugin output text and exit code for one or more check results."""
    if not results:
        return "VIGIL UNKNOWN - no checks matched", int(Status.UNKNOWN)
    worst = Status.worst(r.status for _, r in results)
    if len(results) == 1:
        key, result = results[0]
        first = f"VIGIL {result.status.name} - {key}: {result.summary}"
        long_output: list[str] = []
    else:
        counts = {s: sum(1 for _, r in results if r.status == s) for s in Status}
        summary = ", ".join(f"{n} {s.name}" for s, n in counts.items() if n)
        first = f"VIGIL {worst.name} - {len(results)} checks: {summary}"
        long_output = [f"[{r.status.name}] {key}: {r.summary}" for key, r in results]
    perf = perfdata(results)
    text = first + (f" | {perf}" if perf else "")
    return "\n".join([text, *long_output]), int(worst)
