"""Bounds on maintenance windows (issue #11): dense RRULEs, huge durations and far-off
dates are refused naming the field; expansion walks from an anchor near the asked range
and stays small; every surface (API, page, .ics, CLI) answers extreme windows and rows
stored before the bounds without a 5xx or a traceback."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr
from starlette.testclient import TestClient

from alerts.maintenance.book import MaintenanceBook, WindowError
from alerts.maintenance.calendar import window_occurrences
from alerts.maintenance.rules import ANCHOR_LEAD, MAX_PER_DAY, anchor, max_per_day
from alerts.maintenance.store import Window
from monitor.app.store import StateStore
from monitor.app.web.api import create_app
from tests.conftest import FakeClock
from tests.maintenance.conftest import spec, ts
from tests.maintenance.test_maintenance_api import AUTH, make_view
from tests.maintenance.test_maintenance_cli import vigil, write_config

ISSUE_RULE = ("FREQ=HOURLY;BYMINUTE=" + ",".join(map(str, range(60)))
              + ";BYSECOND=0,10,20,30,40,50")


def problems(**fields: object) -> list[str]:
    with pytest.raises(WindowError) as refused:
        spec(**fields)
    return refused.value.problems


def test_the_rule_from_the_issue_is_refused_naming_rrule() -> None:
    [problem] = problems(start="2026-01-01 00:00", duration="1m", rrule=ISSUE_RULE)
    assert problem.startswith("rrule: ")
    assert "8640 occurrences a day" in problem and f"at most {MAX_PER_DAY}" in problem


@pytest.mark.parametrize(("rule", "per_day"), [
    ("FREQ=WEEKLY;BYDAY=SU", 1),
    ("FREQ=HOURLY", 24),
    ("FREQ=HOURLY;INTERVAL=5", 5),
    ("FREQ=HOURLY;BYMINUTE=0,30", 48),
    ("FREQ=HOURLY;BYMINUTE=0,20,40", 72),
    ("FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=0,30", 6),
    ("FREQ=HOURLY;BYHOUR=1,2;BYMINUTE=0,1,2", 6),
    ("FREQ=DAILY;BYSECOND=0,10,20,30,40,50", 6),
    (ISSUE_RULE, 8640),
])
def test_the_daily_bound_is_read_from_the_rule_parts(rule: str, per_day: int) -> None:
    assert max_per_day(rule) == per_day


def test_a_rule_every_30_minutes_is_the_densest_accepted() -> None:
    assert spec(start="2026-01-01 00:00", duration="10m", rrule="FREQ=HOURLY;BYMINUTE=0,30")
    [problem] = problems(start="2026-01-01 00:00", duration="10m",
                         rrule="FREQ=HOURLY;BYMINUTE=0,20,40")
    assert problem.startswith("rrule: ") and "72 occurrences a day" in problem


def test_a_count_above_the_bound_is_refused() -> None:
    [problem] = problems(start="2026-01-01 00:00", duration="1h",
                         rrule="FREQ=DAILY;COUNT=99999")
    assert problem.startswith("rrule: COUNT must be at most 20000")


@pytest.mark.parametrize(("fields", "field"), [
    ({"start": "2026-01-01 00:00", "duration": 1e308}, "duration: must be at most"),
    ({"start": "2026-01-01 00:00", "duration": "32d"},
     "duration: must be at most 31 days (use kind manual"),
    ({"start": "2026-01-01 00:00", "end": "2026-03-01 00:00"}, "end: must be at most 31 days"),
    ({"start": "2026-01-01 00:00", "duration": "40d", "rrule": "FREQ=YEARLY"},
     "duration: must be at most 31 days"),
    ({"start": "1970-01-01 00:00", "duration": "1h"}, "start: must be between the years"),
    ({"start": "9999-12-31 23:00", "duration": "1h"}, "start: must be between the years"),
    ({"start": "2099-12-31 00:00", "end": "2101-01-01 00:00"}, "end: must be between"),
    ({"start": "2026-01-01 00:00", "duration": "1h", "actions": {"notify_before": "1000d"}},
     "actions.notify_before: must be at most 31 days"),
])
def test_extreme_values_are_refused_naming_the_field(fields: dict[str, object],
                                                     field: str) -> None:
    assert any(p.startswith(field) for p in problems(**fields)), problems(**fields)


def test_a_manual_window_may_stay_open_beyond_31_days() -> None:
    assert spec(kind="manual", start="2026-01-01 00:00").kind == "manual"


def from_dtstart(rule: str, start: datetime, lo: datetime, hi: datetime) -> list[datetime]:
    """The reference: dateutil walking from the window's own DTSTART."""
    return list(rrulestr(rule, dtstart=start).between(lo, hi, inc=True))


@pytest.mark.parametrize(("rule", "start"), [
    ("FREQ=HOURLY;INTERVAL=5;BYMINUTE=7", "2000-01-01 03:00"),
    ("FREQ=HOURLY;BYMINUTE=0,30", "2001-06-15 10:15"),
    ("FREQ=DAILY;INTERVAL=3;BYHOUR=2,14", "2003-02-28 02:00"),
    ("FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR", "2005-05-05 22:00"),
    ("FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=SU,TU", "2010-08-01 01:00"),
    ("FREQ=MONTHLY", "2004-01-31 04:00"),
    ("FREQ=MONTHLY;INTERVAL=5;BYDAY=-1SU", "2002-03-03 03:00"),
    ("FREQ=YEARLY", "2000-02-29 05:00"),
    ("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "2000-03-26 01:30"),
])
def test_anchored_expansion_matches_walking_from_dtstart(rule: str, start: str) -> None:
    first = datetime.fromisoformat(start)
    window = Window(1, "u", spec(start=start, duration="10m", rrule=rule), "api", 0, 0,
                    None, False)
    lo, hi = datetime(2026, 2, 1), datetime(2026, 7, 1)  # < 20,000 instants
    got = window_occurrences(window, ts(str(lo)), ts(str(hi)))
    expected = from_dtstart(rule, first, lo - timedelta(minutes=10), hi)
    assert [o.start for o in got] == [ts(str(d)) for d in expected if d < hi]


def test_the_anchor_lies_within_about_two_months_of_the_asked_range() -> None:
    start, before = datetime(2000, 1, 1, 0, 0), datetime(2026, 7, 1)
    for rule in ("FREQ=HOURLY;BYMINUTE=0,30", "FREQ=DAILY;INTERVAL=7", "FREQ=MONTHLY",
                 "FREQ=YEARLY"):
        moved = anchor(rule, start, before)
        assert moved <= before
        assert before - moved <= 2 * ANCHOR_LEAD + timedelta(days=366)
    assert anchor("FREQ=HOURLY;BYMINUTE=0,30", start, before) >= before - 2 * ANCHOR_LEAD
    assert anchor("FREQ=DAILY;COUNT=100", start, before) == start  # COUNT counts from start


def test_listing_a_dense_window_from_2000_keeps_memory_small(book: MaintenanceBook,
                                                              clock: FakeClock) -> None:
    window = book.add(spec(start="2000-01-01 00:00", duration="29m",
                           rrule="FREQ=HOURLY;BYMINUTE=0,30"), "api")
    tracemalloc.start()
    try:
        upcoming = book.next_of(window, clock.time(), 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(upcoming) == 10
    # Walking from 2000 would hold ~460,000 instants (tens of MB) in the rule's cache.
    assert peak < 4 * 1024 * 1024


EXTREMES = [
    {"name": "dense from 2000", "lms": "prod", "start": "2000-01-01T00:00",
     "duration": "29m", "rrule": "FREQ=HOURLY;BYMINUTE=0,30"},
    {"name": "31 days at the end", "lms": "prod", "timezone": "Pacific/Kiritimati",
     "start": "2100-11-30T00:00", "duration": "31d"},
    {"name": "until 2100", "lms": "prod", "timezone": "Etc/GMT+12",
     "start": "2000-01-01T00:00", "duration": "31d",
     "rrule": "FREQ=MONTHLY;UNTIL=21001231T000000Z"},
    {"name": "open", "lms": "prod", "kind": "manual", "start": "2000-01-01T00:00"},
]


def legacy_rows(path: Path) -> None:
    """Rows a version without the bounds stored: a 1e308 duration and the issue's rule."""
    with sqlite3.connect(path) as db:
        for uid, name, rrule, duration in (("old-1", "huge", None, 1e308),
                                           ("old-2", "dense", ISSUE_RULE, 60.0)):
            db.execute(
                "INSERT INTO maintenance_windows (uid, name, kind, timezone, starts_at,"
                " rrule, duration, matchers, actions, created_by, created_at, updated_at,"
                " source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uid, name, "recurring" if rrule else "once", "UTC", "2026-01-01T00:00:00",
                 rrule, duration, '["lms=\\"prod\\""]', "{}", "api", 0.0, 0.0, "api"))


def test_every_http_surface_answers_extreme_and_legacy_windows(
        store: StateStore, clock: FakeClock, tmp_path: Path) -> None:
    view = make_view(store, clock, tmp_path)
    client = TestClient(create_app(view), raise_server_exceptions=False)
    for window in EXTREMES:
        created = client.post("/api/v1/maintenance", json=window, headers=AUTH)
        assert created.status_code == 201, created.text
    bad = client.post("/api/v1/maintenance", headers=AUTH, json={
        **EXTREMES[1], "name": "too long", "duration": 1e308})
    assert bad.status_code == 422 and bad.json()["problems"][0].startswith("duration: ")
    legacy_rows(store.path)
    listed = client.get("/api/v1/maintenance?all=1")
    assert listed.status_code == 200
    names = {w["name"] for w in listed.json()["windows"]}
    assert names == {w["name"] for w in EXTREMES} | {"weekly"}  # the legacy rows are left out
    for window in listed.json()["windows"]:
        assert client.get(f"/api/v1/maintenance/{window['id']}").status_code == 200
    page = client.get("/maintenance")
    assert page.status_code == 200 and "dense from 2000" in page.text
    ics = client.get("/maintenance.ics")
    assert ics.status_code == 200 and ics.text.count("BEGIN:VEVENT") == len(EXTREMES) + 1
    view.sites.close()


def test_the_cli_lists_extreme_and_legacy_windows_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    for window in EXTREMES:
        flags = ["--name", window["name"], "--lms", "prod", "--start",
                 window["start"].replace("T", " ")]
        if window.get("kind") == "manual":
            flags.append("--manual")
        else:
            flags += ["--duration", window["duration"]]
        if "timezone" in window:
            flags += ["--timezone", window["timezone"]]
        if "rrule" in window:
            flags += ["--rrule", window["rrule"]]
        code, _, err = vigil(capsys, "add", "-c", config, *flags)
        assert code == 0, err
    legacy_rows(tmp_path / "state" / "vigil.sqlite3")
    code, out, err = vigil(capsys, "list", "-c", config)
    assert code == 0 and "Traceback" not in err
    assert all(window["name"] in out for window in EXTREMES)
    code, _, err = vigil(capsys, "add", "-c", config, "--name", "x", "--lms", "prod",
                         "--start", "2030-01-01 10:00", "--duration", "1e308")
    assert code == 2 and "duration: " in err and "Traceback" not in err
