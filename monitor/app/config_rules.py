"""Cross-field rules over the whole config file: names that must be unique, references
that must point somewhere.

``parse_config`` (monitor/app/config.py) runs them over the raw TOML (secret references
resolved, check defaults applied) whether or not each section validated, so one mistyped
field does not hide a duplicate LMS name elsewhere: ``vigil config validate`` reports
every problem at once. A rule reads only what it can trust: a name that is not a string,
or a section its model refuses, is a field error reported there and skipped here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from alerts.maintenance.model import WindowSpec
from alerts.routing import EscalationPolicy, RouteSpec, routing_name_errors
from alerts.slo import SloSettings
from alerts.slo import reference_problems as slo_reference_problems
from checks.registry import CHECK_TYPES
from monitor.app.config_errors import format_key, format_loc
from monitor.app.report.settings import reference_problems as report_reference_problems

# LMS name -> its check name -> that check's raw table.
Sites = dict[str, dict[str, dict[str, Any]]]


def cross_field_problems(raw: dict[str, Any]) -> list[str]:
    sites = _sites(raw)
    return [*_unique_lms_names(raw), *_checks_with_url(raw), *_dependencies(raw, sites),
            *_slo_references(raw, sites), *_maintenance(raw, sites), *_routing(raw),
            *report_reference_problems(raw, set(sites))]


def problem_order(problem: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: by path, numbers as numbers (lms[2] before lms[10]), then the message."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"(\d+)", problem))


def _tables(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


def _checks(site: dict[str, Any]) -> dict[str, dict[str, Any]]:
    checks = site.get("checks")
    if not isinstance(checks, dict):
        return {}
    return {name: spec for name, spec in checks.items() if isinstance(spec, dict)}


def _sites(raw: dict[str, Any]) -> Sites:
    sites: Sites = {}
    for _, site in _tables(raw.get("lms")):
        if isinstance(site.get("name"), str):
            sites.setdefault(site["name"], {}).update(_checks(site))
    return sites


def _unique_lms_names(raw: dict[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for i, site in _tables(raw.get("lms")):
        name = site.get("name")
        if isinstance(name, str):
            if name in seen:
                yield f"lms[{i}].name: LMS name {name!r} is used twice; names must be unique"
            seen.add(name)


def _checks_with_url(raw: dict[str, Any]) -> Iterator[str]:
    for i, site in _tables(raw.get("lms")):
        if site.get("url") is not None:
            continue
        for name, spec in _checks(site).items():
            kind = spec.get("type")
            field = (CHECK_TYPES[kind][0].model_fields.get("url")
                     if isinstance(kind, str) and kind in CHECK_TYPES else None)
            if field is not None and field.default is None and spec.get("url") is None:
                yield (f"lms[{i}].checks.{format_key(name)}.url: required because "
                       f"lms[{i}].url is not set")


def _dependencies(raw: dict[str, Any], sites: Sites) -> Iterator[str]:
    """A misspelt parent would silently never hold anything: refuse it."""
    for i, site in _tables(raw.get("lms")):
        own = site.get("name")
        for name, spec in _checks(site).items():
            parents = spec.get("depends_on")
            for j, parent in enumerate(parents if isinstance(parents, list) else []):
                if not isinstance(parent, str):
                    continue
                prefix, _, check = parent.rpartition("/")
                lms = prefix or own
                if not isinstance(lms, str):
                    continue
                path = f"lms[{i}].checks.{format_key(name)}.depends_on[{j}]"
                if check not in sites.get(lms, {}):
                    yield f"{path}: no check {check!r} on LMS {lms!r}"
                elif (lms, check) == (own, name):
                    yield f"{path}: a check cannot depend on itself"


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _slo_references(raw: dict[str, Any], sites: Sites) -> list[str]:
    try:
        settings = SloSettings.model_validate(_section(_section(raw, "alerts"), "slo"))
    except ValidationError:
        return []  # its field errors are reported by the models
    types = {lms: {name: str(spec.get("type")) for name, spec in checks.items()}
             for lms, checks in sites.items()}
    return slo_reference_problems(settings, types)


def _maintenance(raw: dict[str, Any], sites: Sites) -> Iterator[str]:
    names = list(sites)
    seen: set[str] = set()
    for i, window in _tables(raw.get("maintenance")):
        name = window.get("name")
        if isinstance(name, str):
            if name in seen:
                yield (f"maintenance[{i}].name: {name!r} is used twice; "
                       "window names must be unique")
            seen.add(name)
        try:
            matchers = WindowSpec.model_validate(window).parsed_matchers
        except ValidationError:
            continue
        for matcher in matchers:
            if matcher.label == "lms" and matcher.op in ("=", "=~") and not any(
                    matcher.matches({"lms": lms}) for lms in names):
                yield (f"maintenance[{i}].matchers: {matcher} matches no LMS "
                       f"in [[lms]] (known: {', '.join(names) or 'none'})")


def _routing(raw: dict[str, Any]) -> list[str]:
    """Routes and escalations naming unknown receivers or time intervals. AlertingConfig
    checks the same once its own fields are valid; this finds them when they are not."""
    alerts = _section(raw, "alerts")
    receivers = alerts.get("receivers", [])
    intervals = alerts.get("time_intervals", [])
    if not isinstance(receivers, list) or not isinstance(intervals, list):
        return []
    names = [t["name"] for t in receivers if isinstance(t, dict) and isinstance(t.get("name"), str)]
    try:
        route = RouteSpec.model_validate(alerts.get("route", {}))
        escalations = [EscalationPolicy.model_validate(p) for p in alerts.get("escalations", [])]
    except (ValidationError, TypeError):
        return []
    view = SimpleNamespace(
        receivers=[SimpleNamespace(name=n) for n in (names if receivers else ["log"])],
        # A name that is not a string is a field error; object() never equals another.
        time_intervals=[SimpleNamespace(name=t.get("name") if isinstance(t, dict)
                                        and isinstance(t.get("name"), str) else object())
                        for t in intervals],
        route=route, escalations=escalations)
    return [f"{format_loc(('alerts', *loc))}: {message}"
            for loc, message in routing_name_errors(view)]
