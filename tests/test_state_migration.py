"""A state file written by the release before the per-domain split upgrades in place.

The fixtures are SQL dumps of files the previous layout wrote (commit 44593ec,
monitor/app/store.py with its linear PRAGMA user_version): ``state_v6.sql`` at its last
version with a row in every domain, ``state_v2.sql`` from an install that stopped at
version 2 (check state, alerts and integrity tables only).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alerts.maintenance.store import WindowStore
from checks.integrity.store import IntegrityStore
from checks.integrity.tables import MIGRATIONS
from monitor.app.store import DOMAINS, StateStore
from monitor.kernel.database import LAYOUT_MARK, Database
from monitor.kernel.result import Status

FIXTURES = Path(__file__).parent / "fixtures"


def legacy_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "vigil.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / name).read_text())
    db.close()
    return path


def latest() -> dict[str, int]:
    return {m.domain: len(m.steps) for m in DOMAINS}


def test_a_file_of_the_last_single_file_layout_keeps_every_row(tmp_path: Path) -> None:
    path = legacy_file(tmp_path, "state_v6.sql")
    store = StateStore(path)
    assert {m.domain: store.database.version(m.domain) for m in DOMAINS} == latest()
    state = store.get_state("prod", "http")
    assert state is not None and state.result.status == Status.CRITICAL
    assert state.result.details == {"code": 503}
    alert = store.get_alert("fp1")
    assert alert is not None and alert.state == "firing" and alert.severity == "critical"
    assert [e.kind for e in store.alert_events("fp1")] == ["firing"]
    assert [i.dedup_key for i in store.due(1e12)] == ["fp1:1"]
    assert store.installation_id == "3c9f4c83bb484b899e9fb9d94b730cb6"  # keys stay unique
    windows = WindowStore(store.database).all()
    assert [w.spec.name for w in windows] == ["Sunday patching"]
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_MARK
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_file_that_stopped_at_version_two_gains_the_later_tables(tmp_path: Path) -> None:
    path = legacy_file(tmp_path, "state_v2.sql")
    store = StateStore(path)
    assert {m.domain: store.database.version(m.domain) for m in DOMAINS} == latest()
    assert store.get_state("prod", "http").consecutive_fail == 3
    assert store.enqueue("k", "log", {}, 1.0)  # the outbox of version 1 survives
    assert WindowStore(store.database).all() == []  # maintenance tables created now
    fresh = store.database.connection.execute("PRAGMA table_info(alerts)").fetchall()
    assert "ack_by" in {row[1] for row in fresh}  # alerting's later steps ran
    store.close()


def test_one_domain_opened_alone_leaves_the_others_for_later(tmp_path: Path) -> None:
    path = legacy_file(tmp_path, "state_v2.sql")
    with IntegrityStore(path):  # `vigil integrity` before the daemon ever ran again
        pass
    only = Database(path, [])
    assert only.version("integrity") == len(MIGRATIONS.steps) and only.version("alerting") is None
    only.close()
    store = StateStore(path)  # the daemon upgrades the rest from the legacy version
    assert {m.domain: store.database.version(m.domain) for m in DOMAINS} == latest()
    store.close()
