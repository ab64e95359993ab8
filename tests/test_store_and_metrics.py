"""State survives restarts; /metrics exposition is built from it and passes promtool."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from monitor.app.cli.nagios import render
from monitor.app.metrics import build_registry
from monitor.app.store import DOMAINS, StateStore
from monitor.kernel.database import LAYOUT_MARK, StoreError
from monitor.kernel.result import Result, Sample, Status


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "vigil.sqlite3"
    first = StateStore(path)
    first.record_result("m", "http", "http", Result(Status.CRITICAL, "down"), 10.0, 0.2)
    first.enqueue("fp:1", "log", {"status": "firing"}, 10.0)
    first.close()
    again = StateStore(path)
    state = again.get_state("m", "http")
    assert state.result.summary == "down" and state.consecutive_fail == 1
    assert [i.dedup_key for i in again.due(11.0)] == ["fp:1"]
    assert {m.domain: again.database.version(m.domain) for m in DOMAINS} == {
        m.domain: len(m.steps) for m in DOMAINS}
    assert again.database.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_consecutive_counters_follow_results(store: StateStore) -> None:
    for status in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN):
        state = store.record_result("m", "c", "http", Result(status, "x"), 1.0, 0.1)
    assert (state.consecutive_fail, state.consecutive_ok) == (3, 0)
    state = store.record_result("m", "c", "http", Result(Status.OK, "x"), 2.0, 0.1)
    assert (state.consecutive_fail, state.consecutive_ok, state.last_change) == (0, 1, 2.0)


def test_history_is_bounded(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", history_limit=10)
    for i in range(25):
        store.record_result("m", "c", "http", Result(Status.OK, f"run {i}"), float(i), 0.1)
    history = store.history("m", "c", limit=100)
    assert len(history) == 10
    assert history[0][2] == "run 24"


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_versions SET version = version + 5 WHERE domain = 'alerting'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="alerting schema version .* newer than this Vigil"):
        StateStore(path)


def test_a_newer_layout_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={LAYOUT_MARK + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this Vigil supports"):
        StateStore(path)


def test_same_notification_is_queued_once(store: StateStore) -> None:
    assert store.enqueue("fp:1", "log", {}, 1.0) is True
    assert store.enqueue("fp:1", "log", {}, 2.0) is False
    assert store.enqueue("fp:1", "webhook", {}, 2.0) is True


def exposition(store: StateStore) -> bytes:
    registry, _ = build_registry(store)
    return generate_latest(registry)


def test_collector_exports_state_and_catalogued_samples_only(store: StateStore) -> None:
    samples = (Sample("lms_http_duration_seconds", 0.05, {"phase": "connect"}),
               Sample("not_in_catalogue", 1.0))
    store.record_result("m", "http", "http", Result(Status.WARNING, "slow", samples), 5.0, 0.3)
    text = exposition(store).decode()
    assert 'lms_check_status{check="http",lms="m"} 1.0' in text
    assert 'lms_http_duration_seconds{check="http",lms="m",phase="connect"} 0.05' in text
    assert "not_in_catalogue" not in text
    assert 'vigil_outbox_notifications{state="pending"} 0.0' in text


@pytest.mark.needs("promtool")
def test_promtool_finds_no_problems_in_the_exposition(store: StateStore) -> None:
    samples = (Sample("lms_http_duration_seconds", 0.05, {"phase": "connect"}),)
    store.record_result("m", "http", "http", Result(Status.OK, "ok", samples), 5.0, 0.3)
    proc = subprocess.run(["promtool", "check", "metrics"], input=exposition(store),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == b"" and proc.stderr.strip() == b""


def test_nagios_output_has_status_line_perfdata_and_exit_code() -> None:
    result = Result(Status.WARNING, "HTTP 200 in 2.5s",
                    (Sample("lms_http_response_time_seconds", 2.5),))
    text, code = render([("m/http", result)])
    assert code == 1
    assert text == ("VIGIL WARNING - m/http: HTTP 200 in 2.5s | "
                    "'m/http/lms_http_response_time_seconds'=2.5s")


def test_nagios_output_for_several_checks_reports_the_worst() -> None:
    text, code = render([("m/a", Result(Status.OK, "fine")),
                         ("m/b", Result(Status.CRITICAL, "down"))])
    assert code == 2
    lines = text.splitlines()
    assert lines[0] == "VIGIL CRITICAL - 2 checks: 1 OK, 1 CRITICAL"
    assert lines[1:] == ["[OK] m/a: fine", "[CRITICAL] m/b: down"]


@pytest.mark.parametrize("value, text", [(2.34e-05, "0.000023"), (5.0, "5"), (0.5, "0.5"),
                                         (-1.25, "-1.25"), (1e-9, "0")])
def test_perfdata_numbers_never_use_exponents(value: float, text: str) -> None:
    from monitor.app.cli.nagios import perf_number

    assert perf_number(value) == text
