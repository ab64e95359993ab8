"""The maintenance book: which windows exist, which cover an alert now, and changing them.

Who calls it: the router asks ``covering(labels, now)`` per alert (suppression), the
lifecycle (lifecycle.py) walks ``occurrences_between`` for notices, LMS maintenance mode
and reports, the metrics collector reads ``lms_activity(now)`` for
``vigil_maintenance_active{lms}``, and the API/CLI add, edit, list and end windows.
Windows live in the state DB (store.py); the CLI writes from another process while the
daemon runs, so the book re-reads them whenever the table changed (a cheap signature
query), never on a timer.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from alerts.maintenance.calendar import (
    Occurrence,
    config_uid,
    feed,
    new_uid,
    next_occurrences,
    window_occurrences,
)
from alerts.maintenance.model import Matcher, WindowSpec, parse_matcher
from alerts.maintenance.store import Window, WindowStore
from monitor.kernel.clock import Clock
from monitor.kernel.database import Database

if TYPE_CHECKING:
    from monitor.app.config import VigilConfig

_FAR_FUTURE = 4102444800.0  # 2100-01-01


class WindowError(ValueError):
    """A window spec or change is invalid; ``problems`` are ``field: rule`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class WindowNotFound(LookupError):
    pass


class ReadOnlyWindow(PermissionError):
    """The window comes from the config file; change it there."""


def spec_problems(exc: ValidationError) -> list[str]:
    """``field: message`` for each error of a WindowSpec validation."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"{loc}: {msg}" if loc else msg)
    return problems


def parse_spec(data: Mapping[str, Any]) -> WindowSpec:
    try:
        return WindowSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise WindowError(spec_problems(exc)) from None


class MaintenanceBook:
    def __init__(self, database: Database, clock: Clock,
                 lms_labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.clock = clock
        self.windows = WindowStore(database)
        # LMS name -> its labels (lms + [lms].labels); set from the config.
        self.lms_labels: dict[str, dict[str, str]] = {}
        # LMS name -> the static labels of each of its checks (see set_targets).
        self.targets: dict[str, list[dict[str, str]]] = {}
        self._static: frozenset[str] = frozenset()
        self.set_targets({name: [{**labels, "lms": name}]
                          for name, labels in (lms_labels or {}).items()})
        self._cache: tuple[tuple[Any, ...], builtins.list[Window]] | None = None
        self._hour: tuple[tuple[Any, ...], builtins.list[Occurrence]] | None = None

    # -- questions ---------------------------------------------------------------------
    def covering(self, labels: Mapping[str, str], now: float) -> Occurrence | None:
        """The active occurrence whose matchers all match ``labels``; when several do, the
        one that lasts longest (an open manual window first). None: not in maintenance."""
        found = [o for o in self.active(now) if o.matches(labels)]
        return max(found, key=lambda o: o.end or _FAR_FUTURE) if found else None

    def active(self, now: float) -> list[Occurrence]:
        # The router asks per alert: expand the windows once per hour of the clock (and
        # again whenever a window changes), then only filter.
        hour = int(now // 3600)
        key = (self.windows.signature(), hour)
        if self._hour is None or self._hour[0] != key:
            self._hour = (key, self.occurrences_between(hour * 3600.0, hour * 3600.0 + 3600))
        return [o for o in self._hour[1] if o.contains(now)]

    def occurrences_between(self, start: float, end: float) -> list[Occurrence]:
        """Occurrences of every window overlapping [start, end), ordered by start."""
        found = [o for w in self._all() for o in window_occurrences(w, start, end)]
        return sorted(found, key=lambda o: (o.start, o.window_id))

    def next_of(self, window: Window, now: float, count: int) -> builtins.list[Occurrence]:
        """The running and next ``count`` occurrences of one window (API, page, CLI):
        expands that window only, and stops after ``count``."""
        return next_occurrences(window, now, count)

    def active_for_lms(self, lms: str, now: float) -> bool:
        """True while an active window may cover alerts of ``lms`` (see lms_scope)."""
        return self.lms_activity(now).get(lms, False)

    def lms_activity(self, now: float) -> dict[str, bool]:
        """``vigil_maintenance_active{lms}`` for every configured LMS."""
        active = self.active(now)
        return {name: any(self._may_cover(o.matchers, name) for o in active)
                for name in self.targets}

    def lms_scope(self, spec: WindowSpec) -> list[str]:
        """Configured LMS with at least one check the window may cover. Labels known from
        the config (lms, check, check_type, LMS and check labels) are matched, a missing
        one as ""; labels set at alert time (severity, ...) cannot be known and are open,
        so a window for ``severity="page"`` on one LMS counts for that LMS."""
        matchers = spec.parsed_matchers
        return [name for name in self.targets if self._may_cover(matchers, name)]

    def set_targets(self, targets: Mapping[str, Sequence[Mapping[str, str]]]) -> None:
        """LMS name -> the static labels of each of its checks (apply_config builds it)."""
        self.targets = {name: [dict(labels) for labels in sets] or [{"lms": name}]
                        for name, sets in targets.items()}
        self.lms_labels = {name: {k: v for k, v in sets[0].items()
                                  if k not in ("check", "check_type")}
                           for name, sets in self.targets.items()}
        self._static = frozenset(k for sets in self.targets.values() for labels in sets
                                 for k in labels)

    def _may_cover(self, matchers: Sequence[Matcher], lms: str) -> bool:
        known = [m for m in matchers if m.label in self._static]
        return any(all(m.matches(labels) for m in known) for labels in self.targets[lms])

    # -- reading -----------------------------------------------------------------------
    def get(self, window_id: int) -> Window:
        window = self.windows.get(window_id)
        if window is None:
            raise WindowNotFound(f"no maintenance window with id {window_id}")
        return window

    def list(self, *, include_ended: bool = True) -> builtins.list[Window]:
        return [w for w in self._all() if include_ended or w.ended_at is None]

    def ics(self, now: float) -> bytes:
        return feed(self._all(), now)

    def ics_renderer(self, now: float) -> Callable[[], bytes]:
        """Reads the windows now (the store's connection belongs to the caller's thread)
        and returns the rendering, which may run in a worker thread."""
        windows = self._all()
        return lambda: feed(windows, now)

    # -- changes -----------------------------------------------------------------------
    def check_scope(self, spec: WindowSpec) -> None:
        """Equality and regex matchers on ``lms`` must name configured LMS."""
        if not self.lms_labels:
            return
        problems = []
        for matcher in spec.parsed_matchers:
            if matcher.label != "lms" or matcher.op in ("!=", "!~"):
                continue
            if not any(matcher.matches({"lms": name}) for name in self.lms_labels):
                known = ", ".join(sorted(self.lms_labels))
                what = "no LMS named" if matcher.op == "=" else "no configured LMS matches"
                problems.append(f"lms: {what} {matcher.value!r} in the config "
                                f"(known: {known})")
        if not problems and self.targets and not self.lms_scope(spec):
            # e.g. host="db9" when no LMS has that label: the window would silence nothing.
            problems.append("matchers: " + ", ".join(str(m) for m in spec.parsed_matchers)
                            + " match no check of any configured LMS")
        if problems:
            raise WindowError(problems)

    def add(self, spec: WindowSpec, source: str, *, forced: bool = False,
            now: float | None = None) -> Window:
        self.check_scope(spec)
        at = self.clock.time() if now is None else now
        window_id = self.windows.insert(new_uid(), spec, source, at, forced)
        return self.get(window_id)

    def edit(self, window_id: int, changes: Mapping[str, Any], *, forced: bool = False,
             now: float | None = None) -> Window:
        window = self._writable(window_id)
        spec = parse_spec(merge_changes(window.spec, changes))
        self.check_scope(spec)
        at = self.clock.time() if now is None else now
        self.windows.update(window_id, spec, at, forced=forced or None)
        return self.get(window_id)

    def end(self, window_id: int, *, now: float | None = None) -> Window:
        """End now: a running occurrence stops, later ones never start. Idempotent."""
        self._writable(window_id)
        self.windows.end(window_id, self.clock.time() if now is None else now)
        return self.get(window_id)

    def _writable(self, window_id: int) -> Window:
        window = self.get(window_id)
        if window.source == "config":
            raise ReadOnlyWindow(f"window {window_id} ({window.spec.name!r}) is defined in "
                                 "the config file ([[maintenance]]); change it there and reload")
        return window

    # -- config ------------------------------------------------------------------------
    def apply_config(self, config: VigilConfig, now: float | None = None) -> None:
        """At start-up and on every reload: LMS labels and the ``[[maintenance]]`` windows."""
        self.set_targets({lms.name: [
            {**lms.labels, **spec.labels, "lms": lms.name, "check": name,
             "check_type": spec.type} for name, spec in lms.checks.items()]
            for lms in config.lms})
        self.sync_config(config.maintenance, self.clock.time() if now is None else now)

    def sync_config(self, specs: Sequence[WindowSpec], now: float) -> tuple[int, int, int]:
        """Make the config's windows the stored ones (source 'config', UID from the name);
        windows removed from the config are ended, keeping their history. API and CLI
        windows are untouched. Returns (added, changed, ended)."""
        added = changed = ended = 0
        wanted = {config_uid(spec.name): spec for spec in specs}
        for uid, spec in wanted.items():
            current = self.windows.by_uid(uid)
            stale = self.windows.id_of(uid) if current is None else None
            if stale is not None:  # stored under older rules, now invalid: overwrite it
                self.windows.update(stale, spec, now, reopen=True)
                changed += 1
            elif current is None:
                self.windows.insert(uid, spec, "config", now)
                added += 1
            elif current.spec != spec or current.ended_at is not None:
                self.windows.update(current.id, spec, now, reopen=True)
                changed += 1
        for window in self.windows.all():
            if window.source == "config" and window.uid not in wanted and not window.ended_at:
                self.windows.end(window.id, now)
                ended += 1
        return added, changed, ended

    def _all(self) -> builtins.list[Window]:
        signature = self.windows.signature()
        if self._cache is None or self._cache[0] != signature:
            self._cache = (signature, self.windows.all())
        return self._cache[1]


def merge_changes(spec: WindowSpec, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's fields with ``changes`` applied, as input for a new validation.

    Setting ``duration`` drops a stored ``end`` and vice versa; ``lms``/``check`` replace
    the equality matchers on that label."""
    data = spec.model_dump(mode="json")
    changes = dict(changes)
    if "duration" in changes and "end" not in changes:
        data["end"] = None
    if "end" in changes and "duration" not in changes:
        data["duration"] = None
    if "kind" in changes and changes["kind"] == "manual":
        data.update(end=None, duration=None, rrule=None)
    for label in ("lms", "check"):
        if label in changes and "matchers" not in changes:
            data["matchers"] = [m for m in data["matchers"]
                                if parse_matcher(m).label != label]
    data.update(changes)
    return data

