"""The window spec: every bad input is refused with a message naming its field; label
matchers behave like Alertmanager's."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.maintenance.book import WindowError, parse_spec
from alerts.maintenance.model import parse_matcher

BASE = {"name": "w", "lms": "prod"}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown timezone", {"timezone": "Europe/Atlantis", "start": "2026-01-01T00:00",
                          "duration": 60}, "timezone: 'Europe/Atlantis' is not an IANA"),
    ("end before start", {"start": "2026-01-01T10:00", "end": "2026-01-01T09:00"},
     "end: must be after start (2026-01-01 10:00:00 -> 2026-01-01 09:00:00 in UTC)"),
    ("end equal to start", {"start": "2026-01-01T10:00", "end": "2026-01-01T10:00"},
     "end: must be after start"),
    ("bad rrule part", {"start": "2026-01-01T10:00", "duration": 60,
                        "rrule": "FREQ=WEEKLY;BYDAY=XY"}, "rrule: 'FREQ=WEEKLY;BYDAY=XY' is "
     "not a valid RRULE"),
    ("rrule without FREQ", {"start": "2026-01-01T10:00", "duration": 60,
                            "rrule": "BYDAY=SU"}, "rrule: FREQ must be one of"),
    ("rrule too frequent", {"start": "2026-01-01T10:00", "duration": 60,
                            "rrule": "FREQ=MINUTELY"}, "rrule: FREQ must be one of HOURLY"),
    ("rrule with DTSTART", {"start": "2026-01-01T10:00", "duration": 60,
                            "rrule": "DTSTART:20260101T100000\nRRULE:FREQ=DAILY"},
     "rrule: give only the RRULE part"),
    ("rrule that never occurs", {"start": "2026-01-01T10:00", "duration": 60,
                                 "rrule": "FREQ=DAILY;UNTIL=20251231T000000Z"},
     "yields no occurrence"),
    ("recurring without duration", {"start": "2026-01-01T10:00", "rrule": "FREQ=DAILY"},
     "duration: give either duration or end"),
    ("recurring without start", {"kind": "recurring", "rrule": "FREQ=DAILY", "duration": 60},
     "start: required for a recurring window"),
    ("one-off without an end", {"start": "2026-01-01T10:00"},
     "end: give either end or duration"),
    ("one-off with an rrule", {"kind": "once", "start": "2026-01-01T10:00", "duration": 60,
                               "rrule": "FREQ=DAILY"}, "rrule: only recurring windows"),
    ("manual with a duration", {"kind": "manual", "duration": "1h"},
     "duration: a manual window stays open until ended"),
    ("not a time", {"start": "next tuesday", "duration": 60}, "start: Input should be"),
    ("negative duration", {"start": "2026-01-01T10:00", "duration": -5}, "duration: "),
    ("bad duration text", {"start": "2026-01-01T10:00", "duration": "soon"},
     "duration: 'soon' is not a duration"),
    ("unknown kind", {"kind": "sometimes"}, "kind: Input should be"),
    ("unknown field", {"starts": "2026-01-01T10:00"}, "starts: unknown field"),
    ("bad regex matcher", {"matchers": ["check=~(cron"]}, "matchers: 'check=~(cron': bad "
     "regular expression"),
    ("not a matcher", {"matchers": ["just text"]}, "matchers: 'just text' is not a label "
     "matcher"),
    ("bad receiver name", {"kind": "manual", "actions": {"notify_receivers": ["a b"]}},
     "actions.notify_receivers.0: String should match pattern"),
    ("unknown action", {"kind": "manual", "actions": {"reboot": True}},
     "actions.reboot: unknown field"),
]


@pytest.mark.parametrize(("fields", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_windows_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_spec({**BASE, **fields})
    assert any(p.startswith(message) or message in p for p in caught.value.problems), \
        caught.value.problems


def test_a_window_needs_a_scope() -> None:
    with pytest.raises(WindowError) as caught:
        parse_spec({"name": "w", "kind": "manual"})
    assert caught.value.problems == ['matchers: at least one label matcher is required, e.g. '
                                     'lms=prod (lms=~".+" covers every LMS)']


@pytest.mark.parametrize(("fields", "kind"), [
    ({"start": "2026-01-01T10:00", "duration": 60}, "once"),
    ({"start": "2026-01-01T10:00", "duration": 60, "rrule": "RRULE:freq=weekly"}, "recurring"),
    ({}, "manual"),
    ({"kind": "manual", "start": "2026-01-01T10:00"}, "manual"),
])
def test_the_kind_is_inferred_from_the_fields(fields: dict[str, Any], kind: str) -> None:
    assert parse_spec({**BASE, **fields}).kind == kind


def test_rrule_is_normalized_and_offsets_become_local_time() -> None:
    spec = parse_spec({**BASE, "timezone": "Europe/Berlin", "start": "2026-03-01T01:30:00Z",
                       "duration": "1h", "rrule": " rrule:freq=weekly;byday=su "})
    assert spec.rrule == "FREQ=WEEKLY;BYDAY=SU"
    assert spec.start is not None and spec.start.isoformat() == "2026-03-01T02:30:00"


def test_lms_and_check_shorthands_become_matchers() -> None:
    spec = parse_spec({"name": "w", "kind": "manual", "lms": "prod", "check": "cron",
                       "matchers": ["host=db1"]})
    assert spec.matchers == ('host="db1"', 'lms="prod"', 'check="cron"')


MATCHERS = [
    ('lms="prod"', {"lms": "prod"}, True),
    ("lms=prod", {"lms": "staging"}, False),
    ("lms!=prod", {"lms": "staging"}, True),
    ("host!=db1", {"lms": "x"}, True),  # a missing label is ""
    ("host=", {"lms": "x"}, True),
    ('check=~"cron|tasks"', {"check": "tasks"}, True),
    ("check=~cron|tasks", {"check": "cron_extra"}, False),  # anchored
    ("check!~cron.*", {"check": "http"}, True),
    ("check!~cron.*", {"check": "cron_x"}, False),
    ('team="a \\"quoted\\" name"', {"team": 'a "quoted" name'}, True),
]


@pytest.mark.parametrize(("text", "labels", "matches"), MATCHERS)
def test_label_matchers(text: str, labels: dict[str, str], matches: bool) -> None:
    matcher = parse_matcher(text)
    assert matcher.matches(labels) is matches
    assert parse_matcher(str(matcher)) == matcher  # round-trips through its text
