"""A state database with a known week for the stakeholder report tests.

Written through the real repositories and services, as the daemon writes it: check
results through ``CheckStateStore.record_result``, then the history recorder (SLO
minutes, usage samples) and the alert service (firing, acknowledged, resolved events);
maintenance windows through the book and occurrence records through the lifecycle's
store helpers; integrity runs through ``IntegrityStore``. Every timestamp is fixed, so
the report's numbers are known exactly (see EXPECTED).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alerts.engine import fingerprint
from alerts.history import SampleRecorder, WatchPlan
from alerts.maintenance.book import MaintenanceBook, parse_spec
from alerts.maintenance.store import OccurrenceRecord, save_occurrence
from alerts.service import AlertService
from checks.integrity.store import IntegrityStore
from monitor.app.config import load_config
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.result import Result, Sample, Status
from tests.alerts.smtp_server import PASSWORD
from tests.conftest import FakeClock

DAY, STEP = 86400.0, 600.0  # the availability check probes every 10 minutes
T0 = datetime(2024, 3, 4, tzinfo=UTC).timestamp()  # a Monday, long past
UNTIL = T0 + 7 * DAY
SINCE_ARG, UNTIL_ARG = "2024-03-04T00:00:00+00:00", "2024-03-11T00:00:00+00:00"
SECRET = PASSWORD  # the SMTP password: what the report must never show
# Probe k runs at T0 + k * STEP; these fail. -12..-11 and 1010 lie outside the period.
FAILING = {-12, -11, 100, 101, 102, 500, 501, 502, 503, 504, 505, 1010}
PROBES = range(-18, 1015)

CONFIG = """
[state]
dir = "{state}"

[alerts]
failure_threshold = 1
success_threshold = 1

[alerts.slo]
objective = 0.99

[[alerts.receivers]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {smtp_port}
security = "starttls"{ca_file}
username = "vigil"
password = "${{SMTP_PASSWORD}}"
from = "vigil@example.org"
to = ["boss@example.org"]

[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[[lms]]
name = "prod"
url = "https://lms.example.org"

[lms.checks.http]
type = "http"

[lms.checks.port]
type = "tcp"
port = 443

[[lms]]
name = "staging"
url = "https://staging.example.org"

[lms.checks.http]
type = "http"
{report}"""

# In the period: 1008 probes (k = 0..1007), 9 of them failed (k = 100..102, 500..505).
# Incidents (failure_threshold 1: every non-OK result fires): http at k=100 (acked
# +300 s, resolved +1800 s) and k=500 (acked +900 s, resolved +3600 s); backups on day 3
# (resolved a day later); port at T0+6d (acked and resolved after the period: open);
# updates and os (WARNING at T0+6d+1h, never resolved). The http incident before the
# period, the one after it, and staging's are not prod's week.
EXPECTED = {
    "good": 999, "total": 1008, "bad_minutes": 9, "ratio": 999 / 1008,
    "budget_spent": (9 / 1008) / 0.01, "incident_count": 6, "acknowledged_count": 2,
    "resolved_count": 3, "mtta": (300 + 900) / 2, "mttr": (1800 + 3600 + 86400) / 3,
    "held": 4, "occurrences": 5,
}


def write_config(directory: Path, *, smtp_port: int = 2525, ca_file: Path | None = None,
                 report: str = "") -> Path:
    path = directory / "vigil.toml"
    ca = f'\nca_file = "{ca_file}"' if ca_file else ""
    path.write_text(CONFIG.format(state=directory / "state", smtp_port=smtp_port, ca_file=ca,
                                  report=report), encoding="utf-8")
    return path


def seed(config_path: Path) -> None:
    config = load_config(config_path, env={"SMTP_PASSWORD": SECRET})
    config.state.dir.mkdir(parents=True, exist_ok=True)
    store = StateStore(config.state.dir / STATE_FILE)
    try:
        _seed(config_path, store)
    finally:
        store.close()


def _seed(config_path: Path, store: StateStore) -> None:
    config = load_config(config_path, env={"SMTP_PASSWORD": SECRET})
    recorder = SampleRecorder(store, WatchPlan.from_config(config))
    alerts = AlertService(store, config.alerts)

    def result(lms: str, check: str, kind: str, status: Status, summary: str, at: float,
               samples: tuple[Sample, ...] = ()) -> None:
        state = store.record_result(lms, check, kind, Result(status, summary, samples), at, 0.1)
        recorder.on_state(state, None, at, labels={})
        alerts.on_state(state, None, at)

    for k in PROBES:
        at = T0 + k * STEP
        bad = k in FAILING
        result("prod", "http", "http", Status.CRITICAL if bad else Status.OK,
               "HTTP 503" if bad else "HTTP 200", at)
        if k == 100:
            alerts.ack(fingerprint("prod", "http"), "alice", "on it", now=at + 300)
        if k == 500:
            alerts.ack(fingerprint("prod", "http"), "bob", "", now=at + 900)
    result("prod", "port", "tcp", Status.OK, "port 443 open", T0 + 3600)
    result("prod", "port", "tcp", Status.CRITICAL, "port 443 refused", T0 + 6 * DAY)
    alerts.ack(fingerprint("prod", "port"), "carol", "", now=UNTIL + 3600)
    result("prod", "port", "tcp", Status.OK, "port 443 open", UNTIL + 7200)
    result("staging", "http", "http", Status.CRITICAL, "HTTP 500", T0 + DAY)  # not prod's
    _checks(result)
    _usage(result)
    _windows(store, config)
    with IntegrityStore(config.state.dir / STATE_FILE) as integrity:
        integrity.add_run("prod", "/var/www/moodle", "verify", T0 + 2 * DAY, "vigil",
                          files=1200, added=1, modified=2)
        integrity.add_run("prod", "/var/www/moodle", "accept", T0 + 2 * DAY + 600, "alice",
                          files=3)
        integrity.add_run("prod", "/var/www/moodle", "verify", T0 - DAY, "vigil", files=1200)


def _checks(result: Result | object) -> None:
    record = result  # the closure above
    at = T0 + 6 * DAY + 3600
    record("prod", "updates", "moodle_updates", Status.WARNING,  # type: ignore[operator]
           "security update: Moodle 4.1.12 available for 3d (site runs 4.1.9+)", at,
           (Sample("lms_moodle_update_security_pending", 2.0),))
    # A summary that leaked a secret: the report must mask it.
    record("prod", "os", "os_updates", Status.WARNING,  # type: ignore[operator]
           f"5 security updates pending (apt token {SECRET})", at,
           (Sample("lms_os_updates_pending", 5.0, {"kind": "security"}),
            Sample("lms_os_updates_pending", 12.0, {"kind": "all"})))
    for day in range(7):
        ok = day != 3
        record("prod", "backups", "moodle_backups",  # type: ignore[operator]
               Status.OK if ok else Status.CRITICAL,
               "backups ok" if ok else "3 courses failed to back up", T0 + day * DAY + 7200,
               (Sample("lms_moodle_backup_last_success_timestamp_seconds",
                       T0 + day * DAY + 3600),
                Sample("lms_moodle_backup_courses", 40.0, {"status": "ok"})))
    record("prod", "code", "code_integrity", Status.OK,  # type: ignore[operator]
           "1200 files match the baseline", T0 + 2 * DAY + 900)


def _usage(result: object) -> None:
    for hour in range(7 * 24):
        at = T0 + hour * 3600 + 30
        samples = (Sample("lms_moodle_active_users", 100.0 + hour, {"window": "24h"}),
                   Sample("lms_moodle_active_users", 5.0, {"window": "5m"}),
                   Sample("lms_moodle_logins", float(20 + hour % 24)),
                   Sample("lms_moodle_course_completions", float(hour % 3)))
        result("prod", "usage", "moodle_usage", Status.OK,  # type: ignore[operator]
               "usage", at, samples)


def _windows(store: StateStore, config: object) -> None:
    book = MaintenanceBook(store.database, FakeClock(T0 - DAY))
    book.apply_config(config, now=T0 - DAY)  # type: ignore[arg-type]

    def add(name: str, lms: str, start: str, **more: str) -> int:
        spec = parse_spec({"name": name, "lms": lms, "start": start, "duration": "1h",
                           "timezone": "UTC", **more})
        return book.add(spec, "cli", now=T0 - DAY).id

    held = add("kernel update", "prod", "2024-03-06T02:00")
    save_occurrence(store.database, OccurrenceRecord(
        held, T0 + 2 * DAY + 7200, T0 + 2 * DAY + 10800, "done", None,
        {"outcome": "same"}, []))
    missed = add("db upgrade", "prod", "2024-03-07T02:00")
    save_occurrence(store.database, OccurrenceRecord(
        missed, T0 + 3 * DAY + 7200, None, "missed", None, None, []))
    add("nightly cache purge", "prod", "2024-03-08T03:00", rrule="FREQ=DAILY;COUNT=3")
    add("staging rebuild", "staging", "2024-03-06T02:00")
    add("next week", "prod", "2024-03-12T02:00")
