"""MaintenanceBook: which windows cover an alert now, manual windows, changes, and the
[[maintenance]] windows from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.maintenance.book import MaintenanceBook, ReadOnlyWindow, WindowError, WindowNotFound
from monitor.app.config import parse_config
from monitor.app.store import StateStore
from tests.conftest import FakeClock
from tests.maintenance.conftest import LMS_LABELS, spec, ts

NOW = 1_800_000_000.0  # FakeClock's start: 2027-01-15 08:00 UTC

SCOPES = [  # matchers, alert labels, covered
    (["lms=prod"], {"lms": "prod", "check": "http"}, True),
    (["lms=prod"], {"lms": "staging", "check": "http"}, False),
    (["lms=prod", "check=cron"], {"lms": "prod", "check": "cron"}, True),
    (["lms=prod", "check=cron"], {"lms": "prod", "check": "http"}, False),
    (["host=db1"], {"lms": "staging", "check": "db", "host": "db1"}, True),
    (["host=db1"], {"lms": "exams", "check": "db", "host": "db2"}, False),
    (['lms=~"prod|staging"', "severity!=page"], {"lms": "staging", "severity": "warning"},
     True),
    (['lms=~"prod|staging"', "severity!=page"], {"lms": "staging", "severity": "page"}, False),
]


@pytest.mark.parametrize(("matchers", "labels", "covered"), SCOPES)
def test_a_window_covers_the_alerts_its_matchers_select(
        book: MaintenanceBook, matchers: list[str], labels: dict[str, str],
        covered: bool) -> None:
    book.add(spec(kind="manual", lms=None, matchers=matchers), "api", now=NOW - 60)
    assert (book.covering(labels, NOW) is not None) is covered


@pytest.mark.parametrize(("matchers", "active_lms"), [
    (["lms=prod"], {"prod"}),
    (["lms=prod", "check=cron"], {"prod"}),  # part of the LMS is in maintenance
    (["host=db1"], {"prod", "staging"}),
    (["team=elearning"], {"prod"}),
    (['lms=~".+"', "host!=db1"], {"exams"}),
])
def test_the_lms_gauge_shows_every_lms_a_window_may_cover(
        book: MaintenanceBook, matchers: list[str], active_lms: set[str]) -> None:
    book.add(spec(kind="manual", lms=None, matchers=matchers), "api", now=NOW - 60)
    activity = book.lms_activity(NOW)
    assert {lms for lms, on in activity.items() if on} == active_lms
    assert set(activity) == set(LMS_LABELS)
    assert book.active_for_lms("prod", NOW) == ("prod" in active_lms)


def test_a_manual_window_is_open_until_ended(book: MaintenanceBook, clock: FakeClock) -> None:
    window = book.add(spec(kind="manual"), "cli")
    occ = book.covering({"lms": "prod"}, NOW + 86400 * 30)
    assert occ is not None and occ.end is None and occ.start == NOW
    assert occ.window_id == window.id and occ.uid == window.uid and occ.kind == "manual"
    clock.advance(3600)
    ended = book.end(window.id)
    assert ended.ended_at == NOW + 3600
    assert book.covering({"lms": "prod"}, NOW + 3599) is not None
    assert book.covering({"lms": "prod"}, NOW + 3600) is None
    [past] = book.occurrences_between(NOW - 10, NOW + 86400)
    assert (past.start, past.end) == (NOW, NOW + 3600)
    assert book.end(window.id).ended_at == NOW + 3600  # ending again changes nothing


def test_a_manual_window_with_a_later_start_waits_for_it(book: MaintenanceBook) -> None:
    book.add(spec(kind="manual", start="2027-01-15T10:00"), "api")
    assert book.active(NOW) == []
    assert book.covering({"lms": "prod"}, ts("2027-01-15 10:00")) is not None


def test_ending_a_recurring_window_cuts_the_running_occurrence_and_drops_later_ones(
        book: MaintenanceBook, clock: FakeClock) -> None:
    window = book.add(spec(start="2027-01-01T07:00", duration="2h", rrule="FREQ=DAILY"), "api")
    assert [o.start for o in book.active(NOW)] == [ts("2027-01-15 07:00")]
    clock.advance(1800)
    book.end(window.id)
    [occ] = book.occurrences_between(NOW, NOW + 7 * 86400)
    assert (occ.start, occ.end) == (ts("2027-01-15 07:00"), NOW + 1800)


def test_when_several_windows_cover_the_longest_is_reported(book: MaintenanceBook) -> None:
    book.add(spec(name="short", start="2027-01-15T07:00", duration="2h"), "api")
    book.add(spec(name="long", start="2027-01-15T07:30", duration="6h"), "api")
    occ = book.covering({"lms": "prod"}, NOW)
    assert occ is not None and occ.name == "long"
    assert sorted(o.name for o in book.active(NOW)) == ["long", "short"]


def test_edit_changes_fields_and_keeps_the_uid(book: MaintenanceBook) -> None:
    window = book.add(spec(start="2027-02-01T22:00", end="2027-02-01T23:00"), "api")
    edited = book.edit(window.id, {"duration": "3h", "comment": "longer", "check": "cron"})
    assert edited.uid == window.uid
    assert (edited.spec.length(), edited.spec.end, edited.spec.comment) == (10800, None, "longer")
    assert edited.spec.matchers == ('lms="prod"', 'check="cron"')
    with pytest.raises(WindowError, match="end: must be after start"):
        book.edit(window.id, {"end": "2027-01-01T00:00"})
    with pytest.raises(WindowNotFound, match="no maintenance window with id 99"):
        book.edit(99, {"comment": "x"})


def test_unknown_lms_is_refused_with_the_known_names(book: MaintenanceBook) -> None:
    with pytest.raises(WindowError) as caught:
        book.add(spec(kind="manual", lms="prd"), "api")
    assert caught.value.problems == ["lms: no LMS named 'prd' in the config "
                                     "(known: exams, prod, staging)"]
    with pytest.raises(WindowError, match="no configured LMS matches 'moodle-.*'"):
        book.add(spec(kind="manual", lms=None, matchers=["lms=~moodle-.*"]), "api")


CONFIG = """
[state]
dir = "{dir}"
[[lms]]
name = "prod"
url = "https://prod.example"
{extra}
"""

WEEKLY = """
[[maintenance]]
name = "weekly"
timezone = "Europe/Berlin"
start = 2027-01-03T02:30:00
duration = "{duration}"
rrule = "FREQ=WEEKLY;BYDAY=SU"
lms = "prod"
"""


def test_config_windows_are_synced_and_api_windows_survive_reloads(
        store: StateStore, clock: FakeClock, tmp_path: Path) -> None:
    book = MaintenanceBook(store.database, clock)
    api_window = book.add(spec(kind="manual"), "api")
    config = parse_config(CONFIG.format(dir=tmp_path, extra=WEEKLY.format(duration="1h")))
    book.apply_config(config)
    [from_config] = [w for w in book.list() if w.source == "config"]
    assert from_config.spec.name == "weekly" and from_config.ended_at is None
    book.apply_config(config)  # unchanged: same row, untouched
    assert book.get(from_config.id).updated_at == from_config.updated_at
    clock.advance(60)
    longer = parse_config(CONFIG.format(dir=tmp_path, extra=WEEKLY.format(duration="2h")))
    assert book.sync_config(longer.maintenance, clock.time()) == (0, 1, 0)
    changed = book.get(from_config.id)
    assert (changed.uid, changed.spec.length()) == (from_config.uid, 7200)
    with pytest.raises(ReadOnlyWindow, match=r"defined in the config file"):
        book.end(from_config.id)
    with pytest.raises(ReadOnlyWindow):
        book.edit(from_config.id, {"comment": "x"})
    clock.advance(60)
    assert book.sync_config([], clock.time()) == (0, 0, 1)  # removed from the config: ended
    assert book.get(from_config.id).ended_at == clock.time()
    assert book.get(api_window.id).ended_at is None
    assert book.sync_config(longer.maintenance, clock.time()) == (0, 1, 0)  # back again
    assert book.get(from_config.id).ended_at is None


def test_the_config_refuses_bad_and_duplicate_windows(tmp_path: Path) -> None:
    from monitor.app.config import ConfigError

    twice = WEEKLY.format(duration="1h") * 2
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(dir=tmp_path, extra=twice))
    assert caught.value.problems == ["maintenance[1].name: 'weekly' is used twice; window "
                                     "names must be unique"]
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(dir=tmp_path, extra=WEEKLY.format(duration="1h").replace(
            'lms = "prod"', 'lms = "nope"')))
    assert caught.value.problems == ['maintenance[0].matchers: lms="nope" matches no LMS in '
                                     "[[lms]] (known: prod)"]
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(dir=tmp_path, extra=WEEKLY.format(duration="1h").replace(
            "Europe/Berlin", "Europe/Berln")))
    assert caught.value.problems == ["maintenance[0].timezone: 'Europe/Berln' is not an IANA "
                                     "timezone (e.g. Europe/Berlin, America/New_York, UTC)"]


def test_a_window_added_by_another_process_is_seen_at_once(
        store: StateStore, clock: FakeClock) -> None:
    daemon_book = MaintenanceBook(store.database, clock, LMS_LABELS)
    assert daemon_book.covering({"lms": "prod"}, NOW) is None
    cli_store = StateStore(store.path)  # what `vigil maintenance add` opens
    try:
        cli_book = MaintenanceBook(cli_store.database, clock, LMS_LABELS)
        window = cli_book.add(spec(kind="manual"), "cli")
        occ = daemon_book.covering({"lms": "prod"}, NOW)
        assert occ is not None and occ.window_id == window.id
        MaintenanceBook(cli_store.database, clock, LMS_LABELS).end(window.id, now=NOW + 5)
    finally:
        cli_store.close()
    assert daemon_book.covering({"lms": "prod"}, NOW + 10) is None


def test_a_scope_that_matches_no_check_of_any_lms_is_refused(book: MaintenanceBook) -> None:
    """host="db9" when no LMS has that host would silence nothing: say so."""
    with pytest.raises(WindowError) as caught:
        book.add(spec(kind="manual", lms=None, matchers=['host="db9"']), "api")
    assert caught.value.problems == ['matchers: host="db9" match no check of any configured LMS']
    window = book.add(spec(kind="manual", lms=None, matchers=['host="db2"']), "api")
    assert book.lms_scope(window.spec) == ["exams"]
