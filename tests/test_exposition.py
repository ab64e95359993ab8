"""/metrics's cached per-check lines (monitor/app/exposition.py) say exactly what
prometheus_client's own encoders say over the same registry, in both formats, and follow
each new state; promtool accepts the result."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client import openmetrics as om
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from alerts.engine import fingerprint
from alerts.store import AlertRecord
from monitor.app.exposition import CheckLines, render
from monitor.app.metrics import StateCollector, build_registry
from monitor.app.store import StateStore
from monitor.kernel.result import Result, Sample, Status


def families(text: str, parser: Any) -> dict[str, tuple[str, str, set[Any]]]:
    """name -> (type, help, {(sample name, sorted labels, value)}) of an exposition."""
    found = {}
    for family in parser(text):
        samples = {(s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples}
        found[family.name] = (family.type, family.documentation, samples)
    return found


def fill(store: StateStore) -> None:
    http = (Sample("lms_http_duration_seconds", 0.05, {"phase": "connect"}),
            Sample("lms_http_status_code", 200), Sample("not_in_catalogue", 1.0))
    store.record_result("moodle", "http", "http", Result(Status.OK, "fine", http), 5.0, 0.3)
    disk = (Sample("lms_system_disk_read_bytes_total", 1.5e12, {"device": "sda"}),
            Sample("lms_system_disk_read_bytes_total", 7, {"device": 'we"ird\\dev\nice'}))
    store.record_result('odd "lms"\\', "system", "system",
                        Result(Status.CRITICAL, "disk", disk), 6.0, 0.01)
    store.save_alert(AlertRecord(fingerprint("moodle", "http"), "moodle", "http", "firing",
                                 Status.CRITICAL, "down", {}, 5.0, None, 1))


def both(store: StateStore, openmetrics: bool) -> tuple[str, str]:
    registry, metrics = build_registry(store)
    assert isinstance(metrics.state, StateCollector)
    encoder = om.exposition.generate_latest if openmetrics else generate_latest
    fast = render(registry, metrics.state, CheckLines(), encoder, openmetrics).decode()
    assert metrics.state.per_check is True  # switched back on after the render
    return fast, encoder(registry).decode()


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_cached_lines_say_what_the_encoder_says(store: StateStore, openmetrics: bool
                                                    ) -> None:
    fill(store)
    fast, reference = both(store, openmetrics)
    parser = parse_om if openmetrics else parse_text
    assert families(fast, parser) == families(reference, parser)
    assert 'lms_alert_firing{check="http",lms="moodle"} 1.0' in fast
    assert "not_in_catalogue" not in fast
    if openmetrics:
        assert fast.endswith("# EOF\n") and fast.count("# EOF") == 1


def test_a_new_state_replaces_the_cached_lines_and_a_gone_check_drops_out(
    store: StateStore
) -> None:
    fill(store)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    lines = CheckLines()
    first = render(registry, metrics.state, lines, generate_latest, False).decode()
    assert 'lms_check_status{check="http",lms="moodle"} 0.0' in first
    store.record_result("moodle", "http", "http", Result(Status.WARNING, "slow"), 9.0, 0.3)
    store.forget_checks_except({("moodle", "http")})
    again = render(registry, metrics.state, lines, generate_latest, False).decode()
    assert 'lms_check_status{check="http",lms="moodle"} 1.0' in again
    assert "lms_http_status_code" not in again  # the new result has no samples
    assert "system" not in again
    assert families(again, parse_text) == families(generate_latest(registry).decode(),
                                                   parse_text)


@pytest.mark.needs("promtool")
def test_promtool_accepts_the_cached_exposition(store: StateStore) -> None:
    fill(store)
    fast, _ = both(store, openmetrics=False)
    proc = subprocess.run(["promtool", "check", "metrics"], input=fast.encode(),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
