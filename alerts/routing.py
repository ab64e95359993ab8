"""The route tree (``[alerts.route]``) and escalation policies (``[[alerts.escalations]]``).

Config models validated at load time, and the pure matching the router
(alerts/router.py) runs for every alert event. Routes work like Alertmanager's: an
alert walks the tree depth first; the first matching child takes it unless that child
says ``continue = true``; a node whose children all miss takes it itself. Children
inherit ``receiver``, ``group_by``, the three timings and ``send_resolved`` from their
parent; time intervals are not inherited (as in Alertmanager).

Vigil's differences, on purpose:
- ``group_wait`` defaults to 10 s (Alertmanager: 30 s): Vigil's checks already wait
  for hard states, so a further long wait only delays the page.
- The root route needs no ``receiver``: without one it sends to every receiver, which
  is also the default tree when ``[alerts.route]`` is absent (grouped by ``lms``).

A route's ``id`` (stored with every waiting notification group) is a digest of what
the route *is*: its parent's id, matchers, receiver and group_by, not its position, so
a reload that inserts or reorders routes leaves waiting groups on their own route;
one whose definition changed gets a new id and its old groups use the root's timings.
``path`` ("route.routes[1]") is the readable name put in notifications.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from alerts.matchers import Matcher, Matchers, matches_all
from monitor.kernel.spec import Duration, PositiveDuration, StrictModel

Severity = Literal["info", "warning", "critical", "page"]
ALL_LABELS = "..."
DEFAULT_GROUP_BY = ("lms",)
DEFAULT_GROUP_WAIT = 10.0
DEFAULT_GROUP_INTERVAL = 60.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
ROOT = "route"

Loc = tuple[int | str, ...]


class RouteSpec(StrictModel):
    model_config = ConfigDict(populate_by_name=True)

    receiver: str | None = None
    matchers: Matchers = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    # ["..."] groups by every label: each distinct label set is its own notification.
    group_by: list[str] | None = None
    group_wait: Annotated[Duration, Field(ge=0)] | None = None
    group_interval: PositiveDuration | None = None
    repeat_interval: PositiveDuration | None = None
    send_resolved: bool | None = None
    active_time_intervals: list[str] = Field(default_factory=list)
    mute_time_intervals: list[str] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _all_labels_alone(self) -> RouteSpec:
        if self.group_by and ALL_LABELS in self.group_by and len(self.group_by) > 1:
            raise ValueError('group_by: "..." (every label) cannot be combined with names')
        return self


class EscalationLevel(StrictModel):
    after: PositiveDuration
    receivers: list[str] = Field(min_length=1)


class EscalationPolicy(StrictModel):
    """Who to tell next when a firing alert is still not acknowledged ``after`` a while.

    ``after`` counts from the alert's first notification, and a level also waits
    ``after`` minus the previous level's ``after`` once that level was sent (see
    alerts/escalation.py). The first policy whose matchers and severities fit an alert
    applies to it.
    """

    name: str = Field(min_length=1, max_length=64)
    matchers: Matchers = Field(default_factory=list)
    severity: list[Severity] = Field(default_factory=list)
    levels: list[EscalationLevel] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_in_order(self) -> EscalationPolicy:
        for index in range(1, len(self.levels)):
            if self.levels[index].after <= self.levels[index - 1].after:
                raise ValueError(
                    f"levels[{index}].after ({self.levels[index].after:g}s) must be later "
                    f"than levels[{index - 1}].after ({self.levels[index - 1].after:g}s)"
                )
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.severity and labels.get("severity") not in self.severity:
            return False
        return matches_all(self.matchers, labels)


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the compiled tree, with every inherited setting resolved."""

    id: str  # "route" for the root, else "route-<digest of its identity>": in group keys
    path: str  # its config path, e.g. "route.routes[1]": readable, in notifications
    receiver: str | None  # None: every configured receiver
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...] | None  # None: every label
    group_wait: float
    group_interval: float
    repeat_interval: float
    send_resolved: bool | None  # None: the receiver's own setting
    active_time_intervals: tuple[str, ...]
    mute_time_intervals: tuple[str, ...]
    routes: tuple[Route, ...]

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with ``labels`` (Alertmanager's Route.Match)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            taken = child.match(labels)
            found.extend(taken)
            if taken and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return dict(sorted(labels.items()))
        return {name: str(labels[name]) for name in self.group_by if name in labels}

    def walk(self) -> Iterator[Route]:
        yield self
        for child in self.routes:
            yield from child.walk()


def compile_route(spec: RouteSpec, parent: Route | None = None, path: str = ROOT) -> Route:
    return _compile(spec, parent, path, {})


def _identity(parent_id: str, matchers: tuple[Matcher, ...], receiver: str | None,
              group_by: tuple[str, ...] | None) -> str:
    """The id of a non-root route: what it catches and where it sends, not where it is."""
    body = json.dumps([parent_id, sorted(str(m) for m in matchers), receiver,
                       None if group_by is None else list(group_by)])
    return f"{ROOT}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def _compile(spec: RouteSpec, parent: Route | None, path: str, siblings: dict[str, int]
             ) -> Route:
    group_by: tuple[str, ...] | None
    if spec.group_by is None:
        group_by = parent.group_by if parent else DEFAULT_GROUP_BY
    else:
        group_by = None if spec.group_by == [ALL_LABELS] else tuple(spec.group_by)

    def inherit(value: Any, name: str, default: Any) -> Any:
        if value is not None:
            return value
        return getattr(parent, name) if parent else default

    receiver = inherit(spec.receiver, "receiver", None)
    route_id = ROOT
    if parent is not None:
        route_id = _identity(parent.id, tuple(spec.matchers), receiver, group_by)
        siblings[route_id] = siblings.get(route_id, 0) + 1
        if siblings[route_id] > 1:  # identical siblings: told apart by their order
            route_id = f"{route_id}~{siblings[route_id]}"
    node = Route(
        id=route_id,
        path=path,
        receiver=receiver,
        matchers=tuple(spec.matchers),
        continue_=spec.continue_,
        group_by=group_by,
        group_wait=inherit(spec.group_wait, "group_wait", DEFAULT_GROUP_WAIT),
        group_interval=inherit(spec.group_interval, "group_interval", DEFAULT_GROUP_INTERVAL),
        repeat_interval=inherit(spec.repeat_interval, "repeat_interval", DEFAULT_REPEAT_INTERVAL),
        send_resolved=inherit(spec.send_resolved, "send_resolved", None),
        active_time_intervals=tuple(spec.active_time_intervals),
        mute_time_intervals=tuple(spec.mute_time_intervals),
        routes=(),
    )
    seen: dict[str, int] = {}
    children = tuple(
        _compile(child, node, f"{path}.routes[{index}]", seen)
        for index, child in enumerate(spec.routes)
    )
    return replace(node, routes=children)


def routing_name_errors(config: Any) -> list[tuple[Loc, str]]:
    """Names in ``[alerts]`` routing that point nowhere or twice: (location, message).

    ``config`` is an AlertingConfig (typed loosely: alerts/config.py imports this module).
    """
    receivers = {spec.name for spec in config.receivers}
    intervals = {interval.name for interval in config.time_intervals}
    route: RouteSpec = config.route
    escalations: list[EscalationPolicy] = config.escalations
    known = ", ".join(sorted(receivers)) or "none"
    problems: list[tuple[Loc, str]] = []

    def visit(spec: RouteSpec, loc: Loc) -> None:
        if spec.receiver is not None and spec.receiver not in receivers:
            problems.append(((*loc, "receiver"),
                             f"unknown receiver {spec.receiver!r} (configured: {known})"))
        for key in ("active_time_intervals", "mute_time_intervals"):
            for index, name in enumerate(getattr(spec, key)):
                if name not in intervals:
                    problems.append(((*loc, key, index),
                                     f"unknown time interval {name!r} (define it in "
                                     "[[alerts.time_intervals]])"))
        for index, child in enumerate(spec.routes):
            visit(child, (*loc, "routes", index))

    visit(route, ("route",))
    for p_index, policy in enumerate(escalations):
        for l_index, level in enumerate(policy.levels):
            for r_index, name in enumerate(level.receivers):
                if name not in receivers:
                    problems.append(
                        (("escalations", p_index, "levels", l_index, "receivers", r_index),
                         f"unknown receiver {name!r} (configured: {known})"))
    for key, items in (("time_intervals", config.time_intervals), ("escalations", escalations)):
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                problems.append(((key, index, "name"), f"duplicate name {item.name!r}"))
            seen.add(item.name)
    return problems
