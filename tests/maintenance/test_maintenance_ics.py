"""The iCalendar feed parses with ``icalendar`` and round-trips: parsed back, each VEVENT
gives the window's rrule, local DTSTART with its TZID, duration and UID, and expanding
the parsed RRULE yields the same instants as the book."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar

from alerts.maintenance.book import MaintenanceBook
from tests.conftest import FakeClock
from tests.maintenance.conftest import spec, ts

NOW = 1_800_000_000.0


def parsed(book: MaintenanceBook, now: float = NOW) -> dict[str, Calendar]:
    cal = Calendar.from_ical(book.ics(now))
    assert cal["VERSION"] == "2.0" and "Vigil" in cal["PRODID"]
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def test_recurring_windows_round_trip_with_their_timezone(book: MaintenanceBook) -> None:
    berlin = book.add(spec(name="Sunday patching", timezone="Europe/Berlin",
                           start="2026-03-15T02:30", duration="90m",
                           rrule="FREQ=WEEKLY;BYDAY=SU", comment="OS updates"), "api")
    new_york = book.add(spec(name="2nd Tuesday", timezone="America/New_York",
                             start="2026-01-13T06:00", duration="2h",
                             rrule="FREQ=MONTHLY;BYDAY=2TU"), "api")
    events = parsed(book)
    cal = Calendar.from_ical(book.ics(NOW))
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"Europe/Berlin",
                                                                  "America/New_York"}
    for window in (berlin, new_york):
        event = events[window.uid]
        start = event.decoded("DTSTART")
        assert start.tzinfo is not None and event["DTSTART"].params["TZID"] == \
            window.spec.timezone
        assert start.replace(tzinfo=None) == window.spec.start
        assert event.decoded("DURATION") == timedelta(seconds=window.spec.length() or 0)
        assert event["RRULE"].to_ical().decode() == window.spec.rrule
        assert str(event["SUMMARY"]) == f"Maintenance: {window.spec.name}"
        # Expand what a calendar client would: the same instants as the book computes.
        zone = ZoneInfo(window.spec.timezone)
        rule = rrulestr(event["RRULE"].to_ical().decode(),
                        dtstart=start.replace(tzinfo=None))
        lo, hi = ts("2026-01-01"), ts("2026-12-31")
        theirs = [local.replace(tzinfo=zone).timestamp() for local in rule.between(
            datetime(2026, 1, 1), datetime(2026, 12, 31), inc=True)]
        ours = [o.start for o in book.occurrences_between(lo, hi) if o.window_id == window.id]
        assert theirs == ours and len(ours) >= 12
    assert "OS updates" in str(events[berlin.uid]["DESCRIPTION"])
    assert 'lms="prod"' in str(events[berlin.uid]["DESCRIPTION"])


def test_uids_are_stable_and_one_off_windows_have_a_local_dtstart(
        book: MaintenanceBook) -> None:
    window = book.add(spec(timezone="America/New_York", start="2027-07-04T22:00",
                           end="2027-07-05T01:00"), "api")
    first, second = parsed(book), parsed(book, NOW + 3600)
    assert list(first) == list(second) == [window.uid]
    event = first[window.uid]
    assert event.decoded("DTSTART") == datetime(2027, 7, 4, 22, tzinfo=ZoneInfo(
        "America/New_York"))
    assert event.decoded("DURATION") == timedelta(hours=3)
    assert "RRULE" not in event


def test_an_ended_recurring_window_gets_until_in_utc(book: MaintenanceBook,
                                                     clock: FakeClock) -> None:
    window = book.add(spec(timezone="Europe/Berlin", start="2026-12-06T02:30", duration="1h",
                           rrule="FREQ=WEEKLY;BYDAY=SU"), "api")
    book.end(window.id, now=NOW)
    rrule = parsed(book)[window.uid]["RRULE"]
    until = rrule["UNTIL"][0]
    assert until.utcoffset() == timedelta(0) and until.timestamp() == NOW
    assert rrule["FREQ"] == ["WEEKLY"]


def test_cancelled_and_manual_windows(book: MaintenanceBook, clock: FakeClock) -> None:
    future = book.add(spec(start="2027-03-01T10:00", duration="1h"), "api")
    book.end(future.id, now=NOW)
    manual = book.add(spec(kind="manual"), "cli", now=NOW - 600)
    events = parsed(book, NOW)
    assert str(events[future.uid]["STATUS"]) == "CANCELLED"
    open_event = events[manual.uid]
    assert open_event.decoded("DTSTART").timestamp() == NOW - 600
    assert open_event.decoded("DTEND").timestamp() == NOW + 3600  # shown to the next hour
    assert str(open_event["X-VIGIL-OPEN"]) == "TRUE"
    book.end(manual.id, now=NOW + 120)
    closed = parsed(book, NOW + 7200)[manual.uid]
    assert closed.decoded("DTEND").timestamp() == NOW + 120 and "X-VIGIL-OPEN" not in closed
