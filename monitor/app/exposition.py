"""/metrics for a thousand sites: per-check ``lms_*`` lines kept between scrapes.

prometheus_client's encoders spend ~6 us per sample (label-name validation and escaping
on every line); ten thousand checks export ~150,000 samples, so a scrape took seconds of
event-loop time (bench/scale.py). The values of a check change only when it records a
new state, so ``CheckLines`` keeps, for each family, one slot of rendered bytes per
check in exposition order, and at a scrape renders again only the checks whose
``CheckState`` object (or firing flag) changed and re-joins only the families they
touched. The body is then one join of those blocks, already bytes: no per-line work,
no 13 MB ``str`` join and ``encode`` for checks that did not change.

Everything else (``vigil_*`` families, histograms, the pools) still goes through
prometheus_client's encoder on the same registry, with the StateCollector's per-check
families and ``vigil_maintenance_active`` (one line per LMS, whose OpenMetrics encoding
cost ~8 ms at 1,000 sites) switched off for that call; those blocks are put where the
collector yields them. The result is byte for byte what the encoder writes with them on
(tests/test_exposition.py compares the two, text and OpenMetrics, after random changes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry

from monitor.app.catalogue import SAMPLE_METRICS
from monitor.app.exposition_text import escape, go, header, label_format, sample_name
from monitor.app.metrics import StateCollector
from monitor.app.self_metrics import STATE_METRICS
from monitor.kernel.metric import MetricSpec
from monitor.kernel.result import Status
from monitor.state.store import CheckState

log = logging.getLogger(__name__)
EOF = b"# EOF\n"
# The StateCollector yields its per-check families just before this one, and
# vigil_maintenance_active (one line per LMS) right after vigil_receiver_up (metrics.py).
AFTER_CHECKS = b"# HELP vigil_outbox_notifications "
AFTER_MAINTENANCE = b"vigil_receiver_up"
MAINTENANCE = "vigil_maintenance_active"
Key = tuple[str, str]
Rendered = dict[str, bytes]  # family name -> one check's lines in it
_STATE_VALUES: dict[str, Callable[[CheckState, bool], float]] = {
    "lms_check_status": lambda s, _: float(s.result.status),
    "lms_check_success": lambda s, _: float(s.result.status == Status.OK),
    "lms_check_duration_seconds": lambda s, _: s.duration,
    "lms_check_last_run_timestamp_seconds": lambda s, _: s.ran_at,
    "lms_check_state_change_timestamp_seconds": lambda s, _: s.last_change,
    "lms_check_consecutive_failures": lambda s, _: float(s.consecutive_fail),
    "lms_alert_firing": lambda s, firing: float(firing),
}


class CheckLines:
    """Each family's lines as one slot per check, in the order of ``store.states()``.

    A slot is replaced when its check's state object or firing flag changes; a family's
    joined block is kept until one of its slots is replaced. A check added or removed
    (a reload) re-lays the slots out, re-using every check's rendered lines."""

    def __init__(self) -> None:
        self._states: list[CheckState] = []  # what each slot was rendered from
        self._index: dict[Key, int] = {}
        self._firing: set[Key] = set()
        self._rendered: list[Rendered] = []
        self._names: list[tuple[str, ...]] = []  # each slot's families (interned tuples)
        self._dirty: set[str] = set()  # families with a slot whose bytes changed
        self._ordered: list[str] | None = None  # _order(), until a slot's families change
        self._slots: dict[str, list[bytes]] = {name: [] for name in _STATE_VALUES}
        self._blocks: dict[str, bytes] = {}  # family -> its joined slots, while unchanged
        self._escaped: dict[Key, tuple[str, str]] = {}  # (lms, check) label values, escaped
        self._specs: dict[str, MetricSpec | None] = {}
        self._windows: dict[tuple[str, float], bytes] = {}  # (lms, active) -> its line
        self.renders = 0  # checks rendered so far (tests count them)

    def update(self, states: list[CheckState], firing: set[Key]) -> None:
        """Render the checks whose state or firing flag changed since the last update."""
        if not self._same_checks(states):
            self._lay_out(states, firing)
        else:
            changed = {
                i
                for i, (now, then) in enumerate(zip(states, self._states, strict=True))
                if now is not then
            }
            changed.update(self._index[key] for key in firing ^ self._firing if key in self._index)
            for i in sorted(changed):
                state = self._states[i] = states[i]
                self._put(i, self._render(state, (state.lms, state.check) in firing))
        self._firing = set(firing)

    def blocks(self) -> list[tuple[str, bytes]]:
        """(family, its sample lines) in exposition order: the state families always,
        then each sample family some check has, in the order the checks first have it."""
        for name in self._dirty:
            self._blocks.pop(name, None)
        self._dirty.clear()
        if self._ordered is None:
            self._ordered = self._order()
        out = []
        for name in self._ordered:
            block = self._blocks.get(name)
            if block is None:
                block = self._blocks[name] = b"".join(self._slots[name])
            out.append((name, block))
        return out

    def _same_checks(self, states: list[CheckState]) -> bool:
        if len(states) != len(self._states):
            return False
        return all(
            now is then or (now.lms == then.lms and now.check == then.check)
            for now, then in zip(states, self._states, strict=True)
        )

    def _lay_out(self, states: list[CheckState], firing: set[Key]) -> None:
        """New slots for a new set of checks; unchanged checks keep their lines."""
        kept = {(s.lms, s.check): (s, r) for s, r in zip(self._states, self._rendered, strict=True)}
        was_firing = self._firing
        self._states = list(states)
        self._index = {(s.lms, s.check): i for i, s in enumerate(states)}
        self._rendered = [{} for _ in states]
        self._names = [() for _ in states]
        self._slots = {name: [b""] * len(states) for name in _STATE_VALUES}
        self._blocks = {}
        self._ordered = None
        self._escaped = {key: v for key, v in self._escaped.items() if key in self._index}
        for i, state in enumerate(states):
            key = (state.lms, state.check)
            fire = key in firing
            old = kept.get(key)
            if old is not None and old[0] is state and (key in was_firing) == fire:
                rendered = old[1]
            else:
                rendered = self._render(state, fire)
            self._put(i, rendered)

    def _put(self, i: int, rendered: Rendered) -> None:
        """Slot ``i`` takes a check's new lines. Only a family whose bytes differ needs a
        new join: most of a check's values (status, codes, certificate dates) repeat from
        run to run, so their blocks, and what a compressor made of them, stay."""
        names = _names(tuple(rendered))
        old = self._names[i]
        if old is not names:  # a family the old state had and the new one has not
            self._ordered = None
            for name in old:
                if name not in rendered:
                    self._slots[name][i] = b""
                    self._dirty.add(name)
        for name, lines in rendered.items():
            slots = self._slots.get(name)
            if slots is None:
                slots = self._slots[name] = [b""] * len(self._states)
            if slots[i] != lines:
                slots[i] = lines
                self._dirty.add(name)
        self._names[i] = names
        self._rendered[i] = rendered

    def _order(self) -> list[str]:
        """State families, then sample families in first-seen order over the checks.

        Checks of one type share their tuple of family names (interned by ``_names``),
        so this walks 10,000 checks with one identity test each."""
        order = dict.fromkeys(_STATE_VALUES)
        last: tuple[str, ...] = ()
        for names in self._names:
            if names is not last:
                order.update(dict.fromkeys(names))
                last = names
        return list(order)

    def _render(self, state: CheckState, firing: bool) -> Rendered:
        self.renders += 1
        key = (state.lms, state.check)
        escaped = self._escaped.get(key)
        if escaped is None:
            escaped = self._escaped[key] = (escape(state.lms), escape(state.check))
        lms, check = escaped
        base = f'check="{check}",lms="{lms}"'  # sorted, as always
        rendered = {
            name: f"{name}{{{base}}} {go(value(state, firing))}\n"
            for name, value in _STATE_VALUES.items()
        }
        for sample in state.result.samples:
            spec = self._spec(sample.name, state)
            if spec is None:
                continue
            labels = base
            if spec.labels:
                labels = label_format(spec.labels).format(
                    lms=lms,
                    check=check,
                    **{label: escape(str(sample.labels.get(label, ""))) for label in spec.labels},
                )
            line = f"{sample_name(spec.name, spec.type)}{{{labels}}} {go(sample.value)}\n"
            rendered[spec.name] = rendered.get(spec.name, "") + line
        return {name: lines.encode() for name, lines in rendered.items()}

    def maintenance(self, activity: Callable[[], Mapping[str, bool]]) -> bytes:
        """vigil_maintenance_active's lines, sorted by LMS, each kept while its value is."""
        try:
            now = sorted(activity().items())
        except Exception:  # a broken window must not break the whole scrape
            log.exception("cannot tell which LMS are in maintenance")
            now = []
        kept, self._windows = self._windows, {}
        for lms, active in now:
            value = float(active)
            line = kept.get((lms, value))
            if line is None:
                line = f'{MAINTENANCE}{{lms="{escape(lms)}"}} {go(value)}\n'.encode()
            self._windows[(lms, value)] = line
        return b"".join(self._windows[(lms, float(active))] for lms, active in now)

    def _spec(self, name: str, state: CheckState) -> MetricSpec | None:
        """The catalogue entry (looked up once per name); an uncatalogued name is logged
        once, as the StateCollector does, and not exported."""
        try:
            return self._specs[name]
        except KeyError:
            spec = self._specs[name] = SAMPLE_METRICS.get(name)
        if spec is None:
            log.warning(
                "check %s/%s returned uncatalogued sample %s; not exported",
                state.lms,
                state.check,
                name,
            )
        return spec


@functools.cache
def _names(names: tuple[str, ...]) -> tuple[str, ...]:
    return names  # one object per distinct tuple: the cache interns it


def render(
    registry: CollectorRegistry,
    collector: StateCollector,
    lines: CheckLines,
    encoder: Callable[[CollectorRegistry], bytes],
    openmetrics: bool,
) -> bytes:
    """The whole /metrics body in the format ``encoder`` writes, as one bytes object."""
    return b"".join(render_parts(registry, collector, lines, encoder, openmetrics))


def render_parts(
    registry: CollectorRegistry,
    collector: StateCollector,
    lines: CheckLines,
    encoder: Callable[[CollectorRegistry], bytes],
    openmetrics: bool,
) -> list[bytes]:
    """The body as the pieces it is made of (a compressor takes them one by one)."""
    collector.per_check = False
    try:
        rest = encoder(registry)
    finally:
        collector.per_check = True
    at = rest.find(b"\n" + AFTER_CHECKS) + 1  # 0 if absent: then the checks come first
    store = collector.store
    lines.update(store.states(), {(a.lms, a.check) for a in store.firing_alerts()})
    parts = [rest[:at]]
    for name, block in lines.blocks():
        if name in STATE_METRICS or block:  # state families always; samples if any
            parts += (header(name, openmetrics), block)
    if collector.maintenance is None:
        parts.append(rest[at:])
        return parts
    # vigil_maintenance_active comes right after the collector's last family.
    end = _family_end(rest, AFTER_MAINTENANCE, openmetrics)
    parts += (rest[at:end], header(MAINTENANCE, openmetrics))
    parts.append(lines.maintenance(collector.maintenance))
    parts.append(rest[end:])
    return parts


def _family_end(body: bytes, name: bytes, openmetrics: bool) -> int:
    """Where the family after ``name`` (or the end, or ``# EOF``) starts in ``body``."""
    start = body.find(b"# HELP " + name + b" ")
    after = body.find(b"\n# HELP ", start) + 1 if start >= 0 else 0
    if after > 0:
        return after
    return len(body) - len(EOF) if openmetrics and body.endswith(EOF) else len(body)
