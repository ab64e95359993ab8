"""The audit log (issue #11): a row for every write over the API and with the CLI, refused
and failed ones included, never a secret; read with GET /api/v1/audit (read scope, paged)
and `vigil audit list`; its own table with bounded retention."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from alerts.service import AlertService
from monitor.app.audit import AuditLog
from monitor.app.cli.main import main as vigil
from monitor.app.config import parse_config
from monitor.app.store import StateStore
from monitor.kernel.database import Database
from monitor.kernel.result import Result, Status
from tests.conftest import FakeClock
from tests.token_kit import FP, TOKENS, WINDOW, View, auth, client_for, config_text, make_view

ME = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}"


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[View]:
    view = make_view(store, clock, config_text(tmp_path))
    yield view
    view.sites.close()


@pytest.fixture
def client(view: View) -> TestClient:
    return client_for(view)


def rows(store: StateStore) -> list[dict[str, Any]]:
    """Oldest first, straight from the table."""
    return [dict(r) for r in store.database.connection.execute(
        "SELECT at, actor, operation, target, summary, outcome, reason FROM audit_log "
        "ORDER BY id")]


def test_api_writes_are_recorded_with_the_token_name_target_and_summary(
        client: TestClient, store: StateStore, clock: FakeClock) -> None:
    assert client.post(f"/api/v1/alerts/{FP}/ack", headers=auth("oncall"), json={
        "by": "ann", "comment": "restarting php-fpm", "expires_in": "2h"}).status_code == 200
    assert client.request("DELETE", f"/api/v1/alerts/{FP}/ack", headers=auth("oncall"),
                          json={"by": "ann"}).status_code == 200
    created = client.post("/api/v1/maintenance", headers=auth("lmsops"), json={
        **WINDOW, "actions": {"lms_maintenance_mode": True}})
    wid = str(created.json()["window"]["id"])
    assert client.patch(f"/api/v1/maintenance/{wid}", headers=auth("lmsops"),
                        json={"comment": "moved"}).status_code == 200
    assert client.delete(f"/api/v1/maintenance/{wid}", headers=auth("ops")).status_code == 200
    found = rows(store)
    assert [(r["actor"], r["operation"], r["target"], r["outcome"]) for r in found] == [
        ("oncall", "alert.ack", FP, "ok"), ("oncall", "alert.unack", FP, "ok"),
        ("lmsops", "maintenance.create", wid, "ok"), ("lmsops", "maintenance.edit", wid, "ok"),
        ("ops", "maintenance.end", wid, "ok")]
    assert found[0]["summary"] == "ack by 'ann', sticky, expires in 7200 s, with a comment"
    assert found[0]["at"] == clock.time()
    assert found[1]["summary"] == "unack by 'ann'"
    assert found[2]["summary"] == ("add 'db upgrade'; fields: duration, lms, start, timezone; "
                                   "LMS actions: lms_maintenance_mode")
    assert found[3]["summary"] == "edit; fields: comment"
    assert found[4]["summary"] == "end now"
    assert all(r["reason"] == "" for r in found)
    assert "restarting php-fpm" not in json.dumps(found)  # free text stays out


def test_refused_and_failed_api_writes_are_recorded_with_the_reason(
        client: TestClient, store: StateStore) -> None:
    client.post(f"/api/v1/alerts/{FP}/ack", headers=auth("viewer"), json={"by": "ann"})
    client.post("/api/v1/maintenance", json=WINDOW)  # no token
    client.post("/api/v1/maintenance", headers=auth("ops"),
                json={**WINDOW, "actions": {"accept_integrity_changes": True}})
    client.delete("/api/v1/maintenance/999", headers=auth("ops"))
    client.delete("/api/v1/maintenance/1", headers=auth("ops"))  # "weekly", from the config
    client.post("/api/v1/maintenance", headers=auth("ops"), json={**WINDOW, "force": "no"})
    client.post("/maintenance", data={"name": "x", "token": TOKENS["oncall"][0]})
    found = [(r["actor"], r["operation"], r["target"], r["outcome"], r["reason"])
             for r in rows(store)]
    assert found[:4] == [
        ("viewer", "alert.ack", FP, "refused", "token 'viewer' lacks the scope 'ack'"),
        ("unauthenticated", "maintenance.create", "", "refused",
         "missing or wrong bearer token"),
        ("ops", "maintenance.create", "", "refused",
         "token 'ops' lacks the scope 'lms-actions', needed because the window switches the "
         "LMS's maintenance mode or accepts file integrity changes "
         "(actions.lms_maintenance_mode, actions.accept_integrity_changes)"),
        ("ops", "maintenance.end", "999", "error", "no maintenance window with id 999"),
    ]
    assert found[4][:4] == ("ops", "maintenance.end", "1", "refused")
    assert "config" in found[4][4]
    assert found[5] == ("ops", "maintenance.create", "", "error",
                        "force: Input should be a valid boolean")
    assert found[6] == ("oncall", "maintenance.create", "", "refused",
                        "token 'oncall' lacks the scope 'maintenance'")


def test_no_token_ever_reaches_the_audit_log(client: TestClient, store: StateStore) -> None:
    for name in TOKENS:
        client.post(f"/api/v1/alerts/{FP}/ack", headers=auth(name), json={"by": name})
        client.post(f"/alerts/{FP}/ack", data={"by": name, "token": TOKENS[name][0]})
        client.post("/maintenance", data={"name": "n", "token": TOKENS[name][0]})
    client.post("/api/v1/maintenance", json=WINDOW,
                headers={"Authorization": "Bearer guessed-token-000000000"})
    text = json.dumps(rows(store))
    assert len(rows(store)) == 3 * len(TOKENS) + 1
    for token, _ in TOKENS.values():
        assert token not in text
    assert "guessed-token" not in text


def test_the_audit_api_needs_the_read_scope_and_pages_back(
        client: TestClient, store: StateStore, clock: FakeClock) -> None:
    log = AuditLog(store.database)
    for n in range(5):
        log.record(clock.time() + n, "cli:ann", "alert.ack", target=f"t{n}")
    assert client.get("/api/v1/audit").status_code == 401
    refused = client.get("/api/v1/audit", headers=auth("ops"))
    assert refused.status_code == 403
    assert refused.json() == {"error": "token 'ops' lacks the scope 'read'"}
    first = client.get("/api/v1/audit", params={"limit": 2}, headers=auth("viewer")).json()
    assert [e["target"] for e in first["entries"]] == ["t4", "t3"]
    assert first["entries"][0] == {"id": 5, "at": clock.time() + 4, "actor": "cli:ann",
                                   "operation": "alert.ack", "target": "t4", "summary": "",
                                   "outcome": "ok", "reason": ""}
    second = client.get("/api/v1/audit", params={"limit": 2, "before": first["next_before"]},
                        headers=auth("root")).json()
    assert [e["target"] for e in second["entries"]] == ["t2", "t1"]
    last = client.get("/api/v1/audit", params={"limit": 2, "before": second["next_before"]},
                      headers=auth("oncall")).json()
    assert [e["target"] for e in last["entries"]] == ["t0"] and last["next_before"] is None
    for params in ({"limit": "0"}, {"limit": "501"}, {"before": "²"}, {"before": "x"}):
        bad = client.get("/api/v1/audit", params=params, headers=auth("viewer"))
        assert bad.status_code == 422, params
        assert bad.json()["problems"][0].startswith(next(iter(params)) + ":")
    assert len(rows(store)) == 5  # reading is not a write: no row


def test_retention_drops_rows_older_than_90_days_and_beyond_the_row_cap(
        store: StateStore) -> None:
    day = 86400.0
    log = AuditLog(store.database, keep_rows=4)
    log.record(0.0, "a", "op", target="ancient")
    log.record(10 * day, "a", "op", target="old")
    log.record(95 * day, "a", "op", target="new")  # "ancient" is now older than 90 days
    assert [e.target for e in log.entries()] == ["new", "old"]
    for n in range(4):
        log.record(96 * day + n, "a", "op", target=f"n{n}")
    assert [e.target for e in log.entries()] == ["n3", "n2", "n1", "n0"]


def test_the_audit_log_is_its_own_domain(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite3")
    try:
        assert store.database.version("audit") == 1
    finally:
        store.close()
    alone = Database(tmp_path / "other.sqlite3", [])  # a tool that opens no domain
    try:
        assert alone.version("audit") is None
    finally:
        alone.close()


# -- the CLI ---------------------------------------------------------------------------
@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text('[state]\ndir = "state"\n[[lms]]\nname = "prod"\n'
                    'url = "https://prod.example"\n[[maintenance]]\nname = "weekly"\n'
                    'start = 2027-01-03T02:30:00\nduration = "1h"\n'
                    'rrule = "FREQ=WEEKLY;BYDAY=SU"\nlms = "prod"\n')
    store = StateStore(tmp_path / "state" / "vigil.sqlite3")
    try:
        config = parse_config(path.read_text())
        service = AlertService(store, config.alerts)
        for n in range(3):
            state = store.record_result("prod", "http", "http",
                                        Result(Status.CRITICAL, "HTTP 503"), 100.0 + n, 0.1)
            service.on_state(state, None, 100.0 + n)
    finally:
        store.close()
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        vigil(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out + err


def cli_rows(config_file: Path) -> list[dict[str, Any]]:
    store = StateStore(config_file.parent / "state" / "vigil.sqlite3")
    try:
        return rows(store)
    finally:
        store.close()


def test_cli_writes_are_recorded_as_the_unix_user(
        config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config_file)
    assert cli(capsys, "alerts", "ack", "-c", c, "prod/http", "--by", "ann")[0] == 0
    assert cli(capsys, "alerts", "unack", "-c", c, FP, "--by", "ann")[0] == 0
    assert cli(capsys, "alerts", "unack", "-c", c, FP, "--by", "ann")[0] == 1  # not acked
    assert cli(capsys, "alerts", "ack", "-c", c, "prod/nope")[0] == 1  # no such alert
    assert cli(capsys, "alerts", "resend", "-c", c)[0] == 0
    assert cli(capsys, "maintenance", "add", "-c", c, "--name", "kernel", "--lms", "prod",
               "--start", "2027-02-01 06:00", "--duration", "1h",
               "--lms-maintenance-mode")[0] == 0
    assert cli(capsys, "maintenance", "edit", "-c", c, "2", "--comment", "later")[0] == 0
    assert cli(capsys, "maintenance", "edit", "-c", c, "1", "--comment", "x")[0] == 2
    assert cli(capsys, "maintenance", "end", "-c", c, "2")[0] == 0
    assert cli(capsys, "maintenance", "end", "-c", c, "77")[0] == 2
    assert cli(capsys, "alerts", "list", "-c", c)[0] == 0  # reads leave no row
    found = cli_rows(config_file)
    assert {r["actor"] for r in found} == {ME}
    assert [(r["operation"], r["target"], r["outcome"]) for r in found] == [
        ("alert.ack", FP, "ok"), ("alert.unack", FP, "ok"), ("alert.unack", FP, "refused"),
        ("alert.ack", "prod/nope", "error"), ("notifications.resend", "all receivers", "ok"),
        ("maintenance.create", "2", "ok"), ("maintenance.edit", "2", "ok"),
        ("maintenance.edit", "1", "refused"), ("maintenance.end", "2", "ok"),
        ("maintenance.end", "77", "error")]
    assert found[0]["summary"] == "ack by 'ann', sticky"
    assert "is not acknowledged" in found[2]["reason"]
    assert "no alert 'prod/nope'" in found[3]["reason"]
    assert found[4]["summary"] == "0 failed notification(s) queued again"
    assert found[5]["summary"] == ("add 'kernel'; fields: duration, lms, start; "
                                   "LMS actions: lms_maintenance_mode")
    assert found[6]["summary"] == "edit; fields: comment"
    assert "config" in found[7]["reason"]


def test_vigil_audit_list_prints_newest_first_as_text_or_json(
        config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config_file)
    code, out = cli(capsys, "audit", "list", "-c", c)
    assert code == 0 and "no audit entries" in out
    cli(capsys, "alerts", "ack", "-c", c, "prod/http", "--by", "ann")
    cli(capsys, "maintenance", "end", "-c", c, "77")
    code, out = cli(capsys, "audit", "list", "-c", c)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert f"{ME}" in lines[0] and "maintenance.end 77: end now -> error (" in lines[0]
    assert f"alert.ack {FP}: ack by 'ann', sticky -> ok" in lines[1]
    code, out = cli(capsys, "audit", "list", "-c", c, "--json", "--limit", "1")
    entries = json.loads(out)
    assert code == 0 and [e["operation"] for e in entries] == ["maintenance.end"]
    assert set(entries[0]) == {"id", "at", "actor", "operation", "target", "summary",
                               "outcome", "reason"}
    code, out = cli(capsys, "audit", "list", "-c", c, "--limit", "0")
    assert code == 2 and "must be 1..100000" in out
