"""How prometheus_client's encoders write a line, for the lines /metrics renders itself
(monitor/app/exposition.py): label escaping, Go's float format, sorted label sets,
counter sample names and HELP/TYPE headers, in text and OpenMetrics. Byte for byte what
``generate_latest`` and ``openmetrics.exposition.generate_latest`` write
(tests/test_exposition.py compares whole bodies)."""

from __future__ import annotations

import functools

from prometheus_client.utils import floatToGoString

from monitor.app.catalogue import SAMPLE_METRICS
from monitor.app.self_metrics import DAEMON_METRICS, STATE_METRICS


def escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def go(value: float) -> str:
    """``floatToGoString``, with its common case (a finite float Python and Go print
    alike) first: it runs ~40,000 times a scrape."""
    d = float(value)
    text = repr(d)
    if text[-1] in "0123456789" and not (d > 0 and text.find(".") > 6):
        return text
    return floatToGoString(d)


@functools.cache
def label_format(extra: tuple[str, ...]) -> str:
    """``check="{check}",...`` with the labels sorted, as the encoder writes them."""
    return ",".join(f'{n}="{{{n}}}"' for n in sorted({"lms", "check", *extra}))


@functools.cache
def sample_name(name: str, kind: str) -> str:
    return name if kind != "counter" or name.endswith("_total") else f"{name}_total"


@functools.cache
def header(name: str, openmetrics: bool) -> bytes:
    spec = STATE_METRICS.get(name) or DAEMON_METRICS.get(name) or SAMPLE_METRICS[name]
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    kind = spec.type
    if kind == "counter":
        base = name[: -len("_total")] if name.endswith("_total") else name
        shown = base if openmetrics else f"{base}_total"
    else:
        shown = name
    if openmetrics:
        help_text = help_text.replace('"', r"\"")
    return f"# HELP {shown} {help_text}\n# TYPE {shown} {kind}\n".encode()
