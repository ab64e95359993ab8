"""Judging Canvas's health answers: pure functions from an endpoint's Answer to findings.

Used by checks/canvas/health.py. The shapes follow instructure/canvas-lms:
- app/controllers/info_controller.rb (commit 00b222d77ee43d046e6aee0347c4ed5b27e1741f):
  ``readiness`` renders ``{status: 200|503, components: [{name, status: 200|503, message,
  response_time_ms}]}`` with HTTP 503 when any component failed; ``deep`` renders
  ``{status, readiness: {status, components}, critical: [...], secondary: [...]}`` with
  HTTP 503 when a readiness or critical component failed (a failing secondary dependency
  leaves it 200); ``health_check`` renders ``{status: "canvas ok", revision, ...}`` for
  JSON, and raises (a 500 error page) when a subsystem fails.
- lib/health_checks.rb (commit 0e63cfcdc7dc5602956598562ffd088796e3b65d): readiness
  components common_css, common_js, consul, filesystem, jobs, postgresql, ha_cache,
  rev_manifest, vault; critical default_shard, inst_fs, redis, rich_content_service,
  mathman, live_events, consul; secondary pv4, canvadocs, screencap, notification_queue,
  release_notes, incoming_mail. Each component runs under a 5 s limit
  (Setting healthcheck_timelimit) and reports its exception message when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.json_endpoint import Answer, short, unusable
from monitor.kernel.result import Status

GROUPS = ("readiness", "critical", "secondary")
MAX_COMPONENTS = 40  # labels stay bounded even if a proxy answers something odd
# How a failing component of each group weighs: secondary dependencies (document
# previews, page views, incoming mail) degrade Canvas without taking it down.
GROUP_STATUS = {"readiness": Status.CRITICAL, "critical": Status.CRITICAL,
                "secondary": Status.WARNING}


@dataclass(frozen=True, slots=True)
class Component:
    group: str  # readiness | critical | secondary
    name: str
    up: bool
    message: str
    seconds: float | None


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    text: str


def answer_problem(endpoint: str, path: str, answer: Answer) -> tuple[Any, Finding | None]:
    """The JSON body, or the finding that says why this endpoint gave none."""
    body, status, text = unusable(f"{endpoint} ({path})", answer, "no such endpoint on this "
                                  f"Canvas (older release, or set {endpoint}_path)")
    return body, (Finding(status, text) if text else None)


def parse_components(group: str, items: Any) -> list[Component] | None:
    """Canvas's components_to_hash list; None when it is not that shape."""
    if not isinstance(items, list):
        return None
    found = []
    for item in items[:MAX_COMPONENTS]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        millis = item.get("response_time_ms")
        seconds = float(millis) / 1000 if isinstance(millis, int | float) else None
        found.append(Component(group, item["name"][:64], item.get("status") == 200,
                               short(item.get("message") or "", 100), seconds))
    return found


def readiness_components(endpoint: str, path: str, body: Any) -> tuple[list[Component],
                                                                       Finding | None]:
    if isinstance(body, dict) and (found := parse_components(
            "readiness", body.get("components"))) is not None:
        return found, None
    return [], Finding(Status.UNKNOWN, f"{endpoint} ({path}): JSON without a components list "
                       "(not Canvas's readiness answer)")


def deep_components(path: str, body: Any, *, with_readiness: bool) -> tuple[list[Component],
                                                                          Finding | None]:
    """Critical and secondary dependencies (and readiness, if /readiness is not fetched)."""
    bad = Finding(Status.UNKNOWN, f"deep ({path}): JSON without critical and secondary "
                  "lists (not Canvas's deep answer)")
    if not isinstance(body, dict):
        return [], bad
    found: list[Component] = []
    for group in ("critical", "secondary"):
        part = parse_components(group, body.get(group))
        if part is None:
            return [], bad
        found += part
    if with_readiness:
        inner = body.get("readiness")
        part = parse_components("readiness", inner.get("components")
                                if isinstance(inner, dict) else None)
        if part is None:
            return [], bad
        found = part + found
    return found, None


def component_findings(components: list[Component]) -> list[Finding]:
    """One finding per group with failing components, naming each with Canvas's message."""
    findings = []
    for group in GROUPS:
        down = [c for c in components if c.group == group and not c.up]
        if down:
            names = ", ".join(f"{c.name} ({c.message})" if c.message and
                              c.message != "service is up" else c.name for c in down)
            label = "readiness" if group == "readiness" else f"{group} dependency"
            findings.append(Finding(GROUP_STATUS[group], f"{label} down: {names}"))
    return findings


def status_mismatch(endpoint: str, answer: Answer, components: list[Component],
                    groups: tuple[str, ...]) -> Finding | None:
    """Canvas answered 503 although every component it lists is up: say so, do not hide it."""
    if answer.status_code == 503 and all(c.up for c in components if c.group in groups):
        return Finding(Status.CRITICAL, f"{endpoint} answered HTTP 503 with every listed "
                       "component up")
    if answer.status_code not in (200, 503):
        return Finding(Status.CRITICAL, f"{endpoint} answered HTTP {answer.status_code}")
    return None


def health_check_finding(path: str, answer: Answer, body: Any) -> Finding | None:
    if not isinstance(body, dict) or body.get("status") != "canvas ok":
        said = short(str(body.get("status")), 60) if isinstance(body, dict) else "no status"
        return Finding(Status.CRITICAL, f"health_check ({path}): HTTP {answer.status_code}, "
                       f"status {said!r} instead of 'canvas ok'")
    if answer.status_code != 200:
        return Finding(Status.CRITICAL, f"health_check ({path}): HTTP {answer.status_code}")
    return None
