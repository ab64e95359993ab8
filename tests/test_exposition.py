"""/metrics's cached per-check lines (monitor/app/exposition.py) say exactly what
prometheus_client's own encoders say over the same registry, byte for byte, in both
formats, and follow each new state, firing flag, deleted check or site and reload;
promtool accepts the result."""

from __future__ import annotations

import math
import random
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client import openmetrics as om
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.registry import Collector

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
    http = (
        Sample("lms_http_duration_seconds", 0.05, {"phase": "connect"}),
        Sample("lms_http_status_code", 200),
        Sample("not_in_catalogue", 1.0),
    )
    store.record_result("moodle", "http", "http", Result(Status.OK, "fine", http), 5.0, 0.3)
    disk = (
        Sample("lms_system_disk_read_bytes_total", 1.5e12, {"device": "sda"}),
        Sample("lms_system_disk_read_bytes_total", 7, {"device": 'we"ird\\dev\nice'}),
    )
    store.record_result(
        'odd "lms"\\', "system", "system", Result(Status.CRITICAL, "disk", disk), 6.0, 0.01
    )
    store.save_alert(
        AlertRecord(
            fingerprint("moodle", "http"),
            "moodle",
            "http",
            "firing",
            Status.CRITICAL,
            "down",
            {},
            5.0,
            None,
            1,
        )
    )


def both(store: StateStore, openmetrics: bool) -> tuple[str, str]:
    registry, metrics = build_registry(store)
    assert isinstance(metrics.state, StateCollector)
    encoder = om.exposition.generate_latest if openmetrics else generate_latest
    fast = render(registry, metrics.state, CheckLines(), encoder, openmetrics).decode()
    assert metrics.state.per_check is True  # switched back on after the render
    return fast, encoder(registry).decode()


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_cached_lines_say_what_the_encoder_says(store: StateStore, openmetrics: bool) -> None:
    fill(store)
    fast, reference = both(store, openmetrics)
    assert fast == reference  # byte for byte, families in the collector's order
    parser = parse_om if openmetrics else parse_text
    assert families(fast, parser) == families(reference, parser)
    assert 'lms_alert_firing{check="http",lms="moodle"} 1.0' in fast
    assert "not_in_catalogue" not in fast
    if openmetrics:
        assert fast.endswith("# EOF\n") and fast.count("# EOF") == 1


def test_a_new_state_replaces_the_cached_lines_and_a_gone_check_drops_out(
    store: StateStore,
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
    assert again == generate_latest(registry).decode()


# Values the encoders print in their own ways: Go's exponents, signs, NaN, huge integers.
VALUES = (
    0.0,
    -0.0,
    1.0,
    0.25,
    1e-9,
    1234567.0,
    12345678.5,
    1.5e12,
    1e22,
    -3.5,
    math.inf,
    -math.inf,
    math.nan,
    200,
    7,
)
SAMPLES = (
    ("lms_http_duration_seconds", ("phase",)),
    ("lms_http_status_code", ()),
    ("lms_system_disk_read_bytes_total", ("device",)),
    ("lms_tcp_connect_seconds", ()),
    ("lms_dns_answers", ()),
    ("not_in_catalogue", ()),
)
NAMES = ("moodle", "canvas", 'odd "lms"\\', "new\nline", "sité-ü")


class Later(Collector):
    """A collector registered after the StateCollector, as vigil_blocking_* are."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("vigil_blocking_threads", "Threads.", value=2.0)


def random_result(rnd: random.Random) -> Result:
    samples = []
    for name, labels in rnd.sample(SAMPLES, rnd.randint(0, len(SAMPLES))):
        for _ in range(rnd.randint(1, 2)):
            samples.append(
                Sample(name, rnd.choice(VALUES), {label: rnd.choice(NAMES) for label in labels})
            )
    return Result(rnd.choice(list(Status)), "s", tuple(samples))


def step(store: StateStore, rnd: random.Random, at: float) -> None:
    """One random change: new results, a firing or resolved alert, checks or a site gone."""
    keys = [(lms, check) for lms in NAMES for check in ("http", "tls", "dns", "x y")]
    kind = rnd.random()
    if kind < 0.6:
        for lms, check in rnd.sample(keys, rnd.randint(1, 6)):
            store.record_result(lms, check, check, random_result(rnd), at, rnd.random())
    elif kind < 0.8:
        lms, check = rnd.choice(keys)
        state = "firing" if rnd.random() < 0.6 else "resolved"
        store.save_alert(
            AlertRecord(
                fingerprint(lms, check), lms, check, state, Status.CRITICAL, "down", {}, at, None, 1
            )
        )
    elif kind < 0.9:  # a reload that dropped some checks
        kept = {(s.lms, s.check) for s in store.states() if rnd.random() < 0.7}
        store.forget_checks_except(kept)
    else:  # a whole site removed from the config
        gone = rnd.choice(NAMES)
        store.forget_checks_except({(s.lms, s.check) for s in store.states() if s.lms != gone})


@pytest.mark.parametrize("seed", range(6))
def test_after_any_sequence_of_changes_the_body_is_the_encoders(
    store: StateStore, seed: int
) -> None:
    rnd = random.Random(seed)
    windows: dict[str, bool] = {}

    def maintenance() -> dict[str, bool]:
        if windows.get("broken"):
            raise RuntimeError("a broken window")  # the family is then left empty
        return windows

    registry, metrics = build_registry(store, maintenance)
    registry.register(Later())  # as the daemon registers the pools' and fleet's collectors
    assert metrics.state is not None
    lines = CheckLines()  # one cache through the whole sequence, as in the daemon
    for n in range(40):
        step(store, rnd, 100.0 + n)
        windows.clear()
        windows.update({lms: rnd.random() < 0.5 for lms in NAMES if rnd.random() < 0.7})
        windows["broken"] = rnd.random() < 0.1
        if rnd.random() < 0.3:
            lines.update(store.states(), {(a.lms, a.check) for a in store.firing_alerts()})
        openmetrics = rnd.random() < 0.5
        encoder = om.exposition.generate_latest if openmetrics else generate_latest
        fast = render(registry, metrics.state, lines, encoder, openmetrics)
        assert fast == encoder(registry), f"seed {seed}, step {n}"


def test_only_checks_with_a_new_state_or_firing_flag_are_rendered_again(store: StateStore) -> None:
    for i in range(50):
        store.record_result(f"site{i}", "http", "http", Result(Status.OK, "fine"), 1.0, 0.1)
    registry, metrics = build_registry(store)
    assert metrics.state is not None
    lines = CheckLines()
    render(registry, metrics.state, lines, generate_latest, False)
    assert lines.renders == 50
    render(registry, metrics.state, lines, generate_latest, False)
    assert lines.renders == 50  # nothing changed: nothing rendered
    store.record_result("site7", "http", "http", Result(Status.OK, "fine"), 2.0, 0.1)
    store.save_alert(
        AlertRecord(
            fingerprint("site9", "http"),
            "site9",
            "http",
            "firing",
            Status.CRITICAL,
            "down",
            {},
            2.0,
            None,
            1,
        )
    )
    render(registry, metrics.state, lines, generate_latest, False)
    assert lines.renders == 52
    store.forget_checks_except({(f"site{i}", "http") for i in range(49)})  # a reload
    body = render(registry, metrics.state, lines, generate_latest, False)
    assert lines.renders == 52  # the other checks keep their lines
    assert b"site49" not in body and body == generate_latest(registry)


@pytest.mark.needs("promtool")
def test_promtool_accepts_the_cached_exposition(store: StateStore) -> None:
    fill(store)
    fast, _ = both(store, openmetrics=False)
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=fast.encode(), capture_output=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
