"""Recurring windows land at the right local times across DST changes (RFC 5545 rules).

Each case: a window spec, a range, and the local start times (with UTC offset) of its
occurrences. Times in a spring-forward gap follow RFC 5545 3.3.5 (the offset before the
gap, so 02:30 becomes 03:30 new time); ambiguous autumn times take the first occurrence.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerts.maintenance.book import MaintenanceBook
from tests.conftest import FakeClock
from tests.maintenance.conftest import local, spec, ts

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"

CASES: list[tuple[str, dict[str, Any], str, str, list[str]]] = [
    ("weekly Sunday 02:30 Berlin across the March change",
     {"timezone": BERLIN, "start": "2026-03-15T02:30", "duration": "1h",
      "rrule": "FREQ=WEEKLY;BYDAY=SU"}, "2026-03-14", "2026-04-06",
     ["2026-03-15 02:30 +0100", "2026-03-22 02:30 +0100", "2026-03-29 03:30 +0200",
      "2026-04-05 02:30 +0200"]),
    ("weekly Sunday 02:30 Berlin across the October change (ambiguous: first)",
     {"timezone": BERLIN, "start": "2026-10-18T02:30", "duration": "1h",
      "rrule": "FREQ=WEEKLY;BYDAY=SU"}, "2026-10-17", "2026-11-02",
     ["2026-10-18 02:30 +0200", "2026-10-25 02:30 +0200", "2026-11-01 02:30 +0100"]),
    ("daily 09:00 New York keeps 09:00 local across the March change",
     {"timezone": NEW_YORK, "start": "2026-03-06T09:00", "duration": "30m",
      "rrule": "FREQ=DAILY"}, "2026-03-06", "2026-03-10",
     ["2026-03-06 09:00 -0500", "2026-03-07 09:00 -0500", "2026-03-08 09:00 -0400",
      "2026-03-09 09:00 -0400"]),
    ("weekly Sunday 02:30 New York on the spring-forward night",
     {"timezone": NEW_YORK, "start": "2026-03-01T02:30", "duration": "1h",
      "rrule": "FREQ=WEEKLY;BYDAY=SU"}, "2026-03-01", "2026-03-16",
     ["2026-03-01 02:30 -0500", "2026-03-08 03:30 -0400", "2026-03-15 02:30 -0400"]),
    ("Sunday 01:30 New York on the fall-back night (first, EDT)",
     {"timezone": NEW_YORK, "start": "2026-10-25T01:30", "duration": "1h",
      "rrule": "FREQ=WEEKLY;BYDAY=SU"}, "2026-10-25", "2026-11-09",
     ["2026-10-25 01:30 -0400", "2026-11-01 01:30 -0400", "2026-11-08 01:30 -0500"]),
    ("monthly on the last day of the month, 23:00 Berlin",
     {"timezone": BERLIN, "start": "2026-01-31T23:00", "duration": "2h",
      "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1"}, "2026-01-01", "2026-05-01",
     ["2026-01-31 23:00 +0100", "2026-02-28 23:00 +0100", "2026-03-31 23:00 +0200",
      "2026-04-30 23:00 +0200"]),
    ("second Tuesday of the month, 06:00 New York",
     {"timezone": NEW_YORK, "start": "2026-01-13T06:00", "duration": "2h",
      "rrule": "FREQ=MONTHLY;BYDAY=2TU"}, "2026-01-01", "2026-05-01",
     ["2026-01-13 06:00 -0500", "2026-02-10 06:00 -0500", "2026-03-10 06:00 -0400",
      "2026-04-14 06:00 -0400"]),
    ("monthly by day of month (the 15th), with COUNT",
     {"timezone": BERLIN, "start": "2026-01-15T20:00", "duration": "1h",
      "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=3"}, "2026-01-01", "2027-01-01",
     ["2026-01-15 20:00 +0100", "2026-02-15 20:00 +0100", "2026-03-15 20:00 +0100"]),
    ("UNTIL in UTC (as RFC 5545 wants beside a TZID) is inclusive",
     {"timezone": BERLIN, "start": "2026-03-22T02:30", "duration": "1h",
      "rrule": "FREQ=WEEKLY;BYDAY=SU;UNTIL=20260405T003000Z"}, "2026-03-01", "2026-06-01",
     ["2026-03-22 02:30 +0100", "2026-03-29 03:30 +0200", "2026-04-05 02:30 +0200"]),
    ("a one-off window in local time",
     {"timezone": NEW_YORK, "start": "2026-07-04T22:00", "end": "2026-07-05T01:00"},
     "2026-07-01", "2026-07-10", ["2026-07-04 22:00 -0400"]),
]


@pytest.mark.parametrize(("fields", "lo", "hi", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_occurrences_land_at_local_times(book: MaintenanceBook, fields: dict[str, Any],
                                         lo: str, hi: str, expected: list[str]) -> None:
    window = book.add(spec(**fields), "api")
    found = book.occurrences_between(ts(lo, window.spec.timezone), ts(hi, window.spec.timezone))
    assert [local(o.start, window.spec.timezone) for o in found] == expected


def test_duration_is_elapsed_time_even_across_the_change(book: MaintenanceBook) -> None:
    book.add(spec(timezone=BERLIN, start="2026-03-29T01:00", duration="4h"), "api")
    [occ] = book.occurrences_between(ts("2026-03-28"), ts("2026-03-30"))
    assert (local(occ.start, BERLIN), local(occ.end or 0, BERLIN)) == (
        "2026-03-29 01:00 +0100", "2026-03-29 06:00 +0200")


def test_an_end_given_for_a_recurring_window_sets_each_occurrences_length(
        book: MaintenanceBook) -> None:
    window = book.add(spec(timezone=BERLIN, start="2026-03-01T22:00", end="2026-03-02T01:30",
                           rrule="FREQ=WEEKLY"), "api")
    assert window.spec.length() == 3.5 * 3600
    occ = book.occurrences_between(ts("2026-03-08"), ts("2026-03-09"))[0]
    assert occ.end is not None and occ.end - occ.start == 3.5 * 3600


def test_a_running_occurrence_that_began_before_the_range_is_included(
        book: MaintenanceBook) -> None:
    book.add(spec(start="2026-05-01T22:00", duration="4h", rrule="FREQ=DAILY"), "api")
    found = book.occurrences_between(ts("2026-05-03 00:00"), ts("2026-05-03 01:00"))
    assert [local(o.start, "UTC") for o in found] == ["2026-05-02 22:00 +0000"]


def test_covering_and_active_follow_local_time_across_the_change(
        book: MaintenanceBook, clock: FakeClock) -> None:
    book.add(spec(timezone=BERLIN, start="2026-03-22T02:30", duration="1h",
                  rrule="FREQ=WEEKLY;BYDAY=SU"), "api")
    labels = {"lms": "prod", "check": "http"}
    for at, covered in [("2026-03-29 01:29", False), ("2026-03-29 01:30", True),
                        ("2026-03-29 02:29", True), ("2026-03-29 02:30", False),
                        ("2026-04-05 00:30", True), ("2026-04-05 01:30", False)]:
        occ = book.covering(labels, ts(at))
        assert (occ is not None) == covered, at
        assert book.active_for_lms("prod", ts(at)) == covered, at
