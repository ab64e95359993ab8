"""Route tree, matchers, time intervals and escalation policies: config and pure logic."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alerts.config import AlertingConfig
from alerts.matchers import Matcher, parse_matchers
from alerts.routing import EscalationPolicy, RouteSpec, compile_route
from alerts.time_intervals import NamedTimeInterval
from monitor.app.config import ConfigError, parse_config


@pytest.mark.parametrize(("text", "expected"), [
    ('severity=~"critical|page"', [("severity", "=~", "critical|page")]),
    ("team!=ops", [("team", "!=", "ops")]),
    ('{lms="moodle-prod", check!~"cron|tls"}', [("lms", "=", "moodle-prod"),
                                                ("check", "!~", "cron|tls")]),
    ('summary="a, \\"quoted\\" value"', [("summary", "=", 'a, "quoted" value')]),
    ('lms=""', [("lms", "=", "")]),
])
def test_alertmanager_matcher_strings_parse(text: str, expected: list[tuple[str, ...]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize("text", ["severity", "=critical", 'a=~"("', "9lms=x"])
def test_bad_matcher_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_matchers(text)


@pytest.mark.parametrize(("matcher", "labels", "matches"), [
    (("severity", "=", "critical"), {"severity": "critical"}, True),
    (("severity", "=", "critical"), {}, False),
    (("team", "!=", "ops"), {}, True),  # a missing label is the empty string
    (("severity", "=~", "crit"), {"severity": "critical"}, False),  # anchored, as Alertmanager
    (("severity", "=~", "critical|page"), {"severity": "page"}, True),
    (("lms", "!~", "moodle-.*"), {"lms": "canvas"}, True),
    (("lms", "!~", "moodle-.*"), {"lms": "moodle-prod"}, False),
    (("host", "=", ""), {}, True),
])
def test_matchers_follow_alertmanager_semantics(
    matcher: tuple[str, str, str], labels: dict[str, str], matches: bool
) -> None:
    name, op, value = matcher
    assert Matcher(name=name, op=op, value=value).matches(labels) is matches  # type: ignore[arg-type]


TREE: dict[str, Any] = {
    "receiver": "ops", "group_by": ["lms"], "routes": [
        {"receiver": "pager", "matchers": ['severity="page"'], "continue": True,
         "group_by": ["host"], "group_wait": "0s"},
        {"matchers": {"team": "elearning"}, "receiver": "elearning", "routes": [
            {"matchers": "check=~\"cron|tasks\"", "receiver": "moodle-admins"}]},
        {"matchers": ['severity=~"warning|info"'], "receiver": "tickets",
         "repeat_interval": "1d"},
    ]}


@pytest.mark.parametrize(("labels", "expected"), [
    ({"severity": "page", "team": "elearning"}, ["route.routes[0]", "route.routes[1]"]),
    ({"severity": "page"}, ["route.routes[0]"]),  # continue, but no later sibling matches
    ({"team": "elearning", "check": "cron"}, ["route.routes[1].routes[0]"]),
    ({"team": "elearning", "check": "homepage"}, ["route.routes[1]"]),
    ({"severity": "warning"}, ["route.routes[2]"]),
    ({"severity": "critical"}, ["route"]),
])
def test_an_alert_walks_the_tree_like_alertmanager(
    labels: dict[str, str], expected: list[str]
) -> None:
    root = compile_route(RouteSpec.model_validate(TREE))
    assert [route.path for route in root.match(labels)] == expected


def test_route_ids_follow_the_definition_not_the_position() -> None:
    first = compile_route(RouteSpec.model_validate(TREE))
    moved = dict(TREE, routes=[{"receiver": "new", "matchers": "a=b"}, *reversed(TREE["routes"])])
    second = compile_route(RouteSpec.model_validate(moved))
    ids = {route.path: route.id for route in first.walk()}
    again = {route.path: route.id for route in second.walk()}
    assert ids["route"] == again["route"] == "route"
    # Same routes at new places keep their ids (children too), paths change.
    assert ids["route.routes[0]"] == again["route.routes[3]"]
    assert ids["route.routes[1].routes[0]"] == again["route.routes[2].routes[0]"]
    assert len(set(ids.values())) == len(ids)  # unique within a tree
    changed = dict(TREE, routes=[dict(TREE["routes"][0], receiver="ops")])
    assert compile_route(RouteSpec.model_validate(changed)).routes[0].id != ids[
        "route.routes[0]"]
    twins = compile_route(RouteSpec.model_validate({"routes": [{"receiver": "a"}] * 2}))
    assert twins.routes[0].id != twins.routes[1].id  # identical siblings stay apart


def test_children_inherit_receiver_grouping_and_timings_but_not_intervals() -> None:
    spec = RouteSpec.model_validate({
        "receiver": "ops", "group_by": ["host"], "group_interval": "2m",
        "mute_time_intervals": ["nights"], "send_resolved": False,
        "routes": [{"matchers": "a=b", "group_wait": "1s"}, {"group_by": ["..."]}]})
    root = compile_route(spec)
    first, second = root.routes
    assert (first.receiver, first.group_by, first.group_wait, first.group_interval) == (
        "ops", ("host",), 1.0, 120.0)
    assert first.repeat_interval == 4 * 3600 and first.send_resolved is False
    assert first.mute_time_intervals == ()
    assert second.group_by is None and second.group_labels({"b": "2", "a": "1"}) == {
        "a": "1", "b": "2"}


def test_the_default_tree_sends_everything_to_every_receiver_grouped_by_lms() -> None:
    root = compile_route(AlertingConfig().route)
    assert (root.receiver, root.group_by, root.group_wait) == (None, ("lms",), 10.0)
    assert (root.group_interval, root.repeat_interval) == (60.0, 4 * 3600.0)


def _config_problems(alerts_toml: str) -> list[str]:
    text = '[[lms]]\nname = "a"\nurl = "https://a.example.org"\n' + alerts_toml
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[alerts.route.routes]]\nreceiver = "ops"\n[[alerts.route.routes]]\nreceiver = "pagr"\n',
     "alerts.route.routes[1].receiver: unknown receiver 'pagr' (configured: log)"),
    ('[alerts.route]\nreceiver = "log"\nactive_time_intervals = ["office"]\n',
     "alerts.route.active_time_intervals[0]: unknown time interval 'office'"),
    ('[[alerts.escalations]]\nname = "e"\nlevels = [{after = "5m", receivers = ["boss"]}]\n',
     "alerts.escalations[0].levels[0].receivers[0]: unknown receiver 'boss'"),
    ('[[alerts.escalations]]\nname = "e"\nlevels = [{after = "15m", receivers = ["log"]},'
     ' {after = "10m", receivers = ["log"]}]\n',
     "alerts.escalations[0]: levels[1].after (600s) must be later than levels[0].after"),
    ('[alerts.route]\nmatchers = ["severity"]\n', "alerts.route.matchers: 'severity' is not a"),
    ('[alerts.route]\ngroup_wait = "soon"\n', "alerts.route.group_wait: 'soon' is not a duration"),
    ('[alerts.route]\ncontinu = true\n', "alerts.route.continu: unknown key"),
    ('[[alerts.time_intervals]]\nname = "x"\nlocation = "Mars/Olympus"\n',
     "alerts.time_intervals[0].time_intervals[0].location: 'Mars/Olympus' is not an IANA"),
    ('[[alerts.time_intervals]]\nname = "x"\nweekdays = ["friday:monday"]\n',
     "'friday:monday': the range must not end before it starts"),
    ('[[alerts.time_intervals]]\nname = "x"\n'
     'times = [{start_time = "22:00", end_time = "06:00"}]\n',
     "end_time 06:00 must be after start_time 22:00"),
    ('[[alerts.time_intervals]]\nname = "x"\nweekdays = ["funday"]\n', "'funday' is not a weekday"),
    ('[[alerts.time_intervals]]\nname = "x"\n[[alerts.time_intervals]]\nname = "x"\n',
     "alerts.time_intervals[1].name: duplicate name 'x'"),
])
def test_routing_config_errors_name_the_field(toml: str, problem: str) -> None:
    problems = _config_problems(toml)
    assert any(problem in p for p in problems), problems


def test_a_full_routing_config_loads() -> None:
    config = parse_config('''
[alerts]
grafana_url = "https://grafana.example.org"
[[alerts.receivers]]
type = "log"
name = "ops"
[[alerts.receivers]]
type = "log"
name = "tickets"
[alerts.route]
receiver = "ops"
group_by = ["host"]
[[alerts.route.routes]]
receiver = "tickets"
matchers = ['severity="warning"']
active_time_intervals = ["office-hours"]
[[alerts.time_intervals]]
name = "office-hours"
[[alerts.time_intervals.time_intervals]]
weekdays = ["monday:friday"]
times = [{start_time = "09:00", end_time = "17:00"}]
location = "Europe/Berlin"
[[alerts.escalations]]
name = "pages"
severity = ["page"]
levels = [{after = "15m", receivers = ["ops"]}]
''')
    assert config.alerts.route.routes[0].active_time_intervals == ["office-hours"]
    assert config.alerts.time_intervals[0].time_intervals[0].weekdays == [(0, 4)]
    assert config.alerts.escalations[0].levels[0].after == 900.0


def _at(local: str, zone: str) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp()


OFFICE = {"name": "office", "weekdays": ["monday:friday"],
          "times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/Berlin"}


@pytest.mark.parametrize(("interval", "moment", "zone", "inside"), [
    (OFFICE, "2026-03-27 09:00", "Europe/Berlin", True),    # Friday before the DST change
    (OFFICE, "2026-03-27 08:59", "Europe/Berlin", False),
    (OFFICE, "2026-03-27 17:00", "Europe/Berlin", False),   # end_time is exclusive
    (OFFICE, "2026-03-30 09:00", "Europe/Berlin", True),    # Monday after: CEST, still 09:00
    (OFFICE, "2026-03-30 07:30", "UTC", True),              # = 09:30 CEST
    (OFFICE, "2026-03-27 07:30", "UTC", False),             # = 08:30 CET
    (OFFICE, "2026-03-28 10:00", "Europe/Berlin", False),   # Saturday
    ({"name": "ny", "times": [{"start_time": "09:00", "end_time": "17:00"}],
      "location": "America/New_York"}, "2026-11-02 14:30", "UTC", True),  # 09:30 EST
    ({"name": "ny", "times": [{"start_time": "09:00", "end_time": "17:00"}],
      "location": "America/New_York"}, "2026-10-30 13:30", "UTC", True),  # 09:30 EDT
    ({"name": "ny", "times": [{"start_time": "09:00", "end_time": "17:00"}],
      "location": "America/New_York"}, "2026-11-02 13:30", "UTC", False),  # 08:30 EST
    ({"name": "last", "days_of_month": ["-1"]}, "2028-02-29 12:00", "UTC", True),
    ({"name": "last", "days_of_month": ["-1"]}, "2027-02-28 12:00", "UTC", True),
    ({"name": "last", "days_of_month": ["-1"]}, "2028-02-28 12:00", "UTC", False),
    ({"name": "first-week", "days_of_month": ["1:7"], "months": ["january:march"]},
     "2027-03-05 00:00", "UTC", True),
    ({"name": "first-week", "days_of_month": ["1:7"], "months": ["january:march"]},
     "2027-04-05 00:00", "UTC", False),
    ({"name": "y", "years": ["2027"]}, "2027-06-01 00:00", "UTC", True),
    ({"name": "y", "years": ["2027"]}, "2028-06-01 00:00", "UTC", False),
    ({"name": "d31", "days_of_month": ["31"]}, "2027-04-30 12:00", "UTC", False),
])
def test_time_intervals_use_local_time_across_dst(
    interval: dict[str, Any], moment: str, zone: str, inside: bool
) -> None:
    named = NamedTimeInterval.model_validate(interval)
    assert named.contains(_at(moment, zone)) is inside


def test_an_escalation_policy_matches_severity_and_labels() -> None:
    policy = EscalationPolicy.model_validate({
        "name": "db", "matchers": 'check="database"', "severity": ["page"],
        "levels": [{"after": "10m", "receivers": ["a"]}]})
    assert policy.matches({"check": "database", "severity": "page"})
    assert not policy.matches({"check": "database", "severity": "critical"})
    assert not policy.matches({"check": "homepage", "severity": "page"})


def test_matcher_tables_and_lists_are_accepted() -> None:
    spec = RouteSpec.model_validate({"matchers": [
        {"name": "lms", "op": "=~", "value": "moodle-.*"}, 'team="x"']})
    assert [str(m) for m in spec.matchers] == ['lms=~"moodle-.*"', 'team="x"']
    with pytest.raises(ValidationError, match="bad regex"):
        RouteSpec.model_validate({"matchers": [{"name": "lms", "op": "=~", "value": "("}]})
