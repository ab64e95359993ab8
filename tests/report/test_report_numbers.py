"""The report's numbers from a seeded week (tests/report/seed.py): availability against
the SLO, incidents with MTTA and MTTR, maintenance windows held, and the other sections."""

from __future__ import annotations

from monitor.app.config import VigilConfig
from monitor.app.report.gather import gather
from monitor.app.store import StateStore
from tests.report.seed import DAY, EXPECTED, T0, UNTIL


def _report(seeded_store: tuple[VigilConfig, StateStore]) -> dict:
    config, store = seeded_store
    return gather(config, store, "prod", T0, UNTIL, UNTIL + DAY)


def test_availability_counts_the_probes_of_the_period_only(seeded_store):
    availability = _report(seeded_store)["availability"]
    assert availability["check"] == "http" and availability["objective"] == 0.99
    assert (availability["good"], availability["total"]) == (EXPECTED["good"], EXPECTED["total"])
    assert availability["bad_minutes"] == EXPECTED["bad_minutes"]
    assert availability["ratio"] == EXPECTED["ratio"]
    assert availability["met"] is True
    assert abs(availability["budget_spent"] - EXPECTED["budget_spent"]) < 1e-9


def test_incidents_mtta_and_mttr_are_exact(seeded_store):
    report = _report(seeded_store)
    for key in ("incident_count", "acknowledged_count", "resolved_count", "mtta", "mttr"):
        assert report[key] == EXPECTED[key], key
    rows = [(i["check"], i["fired_at"] - T0, i["time_to_ack"], i["time_to_resolve"],
             i["acked_by"]) for i in report["incidents"]]
    assert rows == [
        ("http", 60000.0, 300.0, 1800.0, "alice"),
        ("backups", 3 * DAY + 7200, None, DAY, None),
        ("http", 300000.0, 900.0, 3600.0, "bob"),
        ("port", 6 * DAY, None, None, None),  # acked and resolved only after the period
        ("os", 6 * DAY + 3600, None, None, None),
        ("updates", 6 * DAY + 3600, None, None, None),
    ]


def test_windows_held_leave_out_missed_other_lms_and_later_ones(seeded_store):
    maintenance = _report(seeded_store)["maintenance"]
    assert maintenance["held"] == EXPECTED["held"]
    names = [(m["name"], m["held"], m["outcome"]) for m in maintenance["occurrences"]]
    assert names == [("kernel update", True, "same"), ("db upgrade", False, None),
                     *[("nightly cache purge", True, None)] * 3]


def test_patch_backups_integrity_and_usage_sections(seeded_store):
    report = _report(seeded_store)
    patch = {p["check"]: (p["status"], p["security_pending"]) for p in report["patch_level"]}
    assert patch == {"updates": ("WARNING", 2.0), "os": ("WARNING", 5.0)}
    [backup] = report["backups"]
    assert backup["runs"] == {"OK": 6, "CRITICAL": 1}
    assert backup["last_success"] == T0 + 6 * DAY + 3600
    runs = [(r["kind"], r["actor"], r["added"], r["modified"]) for r in
            report["integrity"]["runs"]]
    assert runs == [("verify", "vigil", 1, 2), ("accept", "alice", 0, 0)]  # not the one before
    usage = {u["metric"]: u for u in report["usage"]}
    active = usage["lms_moodle_active_users"]  # window=24h only: 100 + hour
    assert (active["points"], active["first"], active["last"]) == (168, 100.0, 267.0)
    assert active["svg"].startswith("<svg") and "<script" not in active["svg"]


def test_a_period_without_data_says_so_instead_of_inventing_numbers(seeded_store):
    config, store = seeded_store
    report = gather(config, store, "prod", T0 - 30 * DAY, T0 - 20 * DAY, UNTIL)
    assert report["availability"]["total"] == 0 and report["availability"]["ratio"] is None
    assert report["incident_count"] == 0 and report["mtta"] is None and report["mttr"] is None
    assert report["usage"] == [] and report["maintenance"]["held"] == 0
