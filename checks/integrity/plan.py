"""Plan one integrity run: which files to hash within the byte budget, and where the
rolling re-hash goes next.

Pure functions used by the engine (checks/integrity/baseline.py ``verify``) between the
scan and the hashing: ``make_plan`` orders new and stat-changed files first (smallest
first under a budget) and then a slice of unchanged files from the rolling cursor;
``advance`` moves the cursor past what was hashed and closes a cycle once the slice
reached the end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from checks.integrity.hashing import Digest
from checks.integrity.scan import FileStat, Scan
from checks.integrity.store import Cursor, Record

_PROBLEM = itemgetter(3)  # Digest.problem
_SHA256 = itemgetter(1)  # Record.sha256


@dataclass(slots=True)
class Plan:
    changed: list[str] = field(default_factory=list)  # new, or stat differs from observed
    hash: list[str] = field(default_factory=list)
    rolling: list[str] = field(default_factory=list)  # the slice, in cursor order
    too_large: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    wrapped: bool = False  # the slice reached the end of the tree


def make_plan(found: Scan, observed: Mapping[str, Record], budget: int | None, rolling: bool,
              cursor: Cursor, *, same: bool = False) -> Plan:
    """Which files this run hashes: new and stat-changed first (smallest first when a
    budget applies), then the rolling slice of unchanged files after the cursor. ``same``:
    the scan holds exactly the observed paths and stats (store.scan_matches)."""
    plan = Plan()
    left = budget
    files = found.files
    if not observed and budget is None:  # a first baseline: every file, in scan order
        plan.changed = list(files)
        plan.hash = [path for path, st in files.items() if st.kind == "file"]
        plan.wrapped = rolling  # (no unchanged file: the rolling slice is empty)
        return plan
    first: list[str] = []
    unchanged: list[str] = []
    if same and None not in map(_SHA256, observed.values()):  # (in C) all hashed already
        if rolling:
            unchanged = [path for path, st in files.items() if st[0] == "file"]
            _slice(plan, unchanged, files, budget, left, cursor.position)
        return plan
    for path, st in files.items():
        old = observed.get(path)
        if old is None or old.stat != st:
            plan.changed.append(path)
            if st.kind == "file":
                first.append(path)
        elif st.kind == "file":
            (first if old.sha256 is None else unchanged).append(path)
    if left is not None:  # many small new files before one big one
        first.sort(key=lambda p: (files[p].size, p))
    for path in first:
        size = files[path].size
        if left is None or size <= left:
            plan.hash.append(path)
            left = None if left is None else left - size
        else:
            (plan.too_large if size > (budget or 0) else plan.deferred).append(path)
    if rolling:
        _slice(plan, unchanged, files, budget, left, cursor.position)
    return plan


def _slice(plan: Plan, unchanged: list[str], files: Mapping[str, FileStat],
           budget: int | None, left: int | None, position: str | None) -> None:
    """Unchanged files after the cursor, in path order, while the budget lasts."""
    unchanged.sort()
    start = 0
    if position is not None:  # the first path after it (a binary search: sorted above)
        start = bisect_right(unchanged, position)
    plan.wrapped = True
    for path in unchanged[start:]:
        size = files[path].size
        if budget is not None and size > budget:
            plan.too_large.append(path)
            continue
        if left is not None and size > left:
            plan.wrapped = False
            break
        plan.rolling.append(path)
        left = None if left is None else left - size
    plan.hash.extend(plan.rolling)


def advance(cursor: Cursor, plan: Plan, digests: Mapping[str, Digest], now: float) -> Cursor:
    """Move the rolling position past the files hashed; a cycle is complete once the slice
    reached the end with nothing left waiting (files over the budget excepted)."""
    position = cursor.position
    for path in plan.rolling:
        if digests[path].problem == "deadline":
            plan.wrapped = False
            break
        position = path
    waiting = plan.deferred or "deadline" in map(_PROBLEM, digests.values())  # (in C)
    if plan.wrapped and not waiting:
        started = cursor.cycle_started if cursor.cycle_started is not None else now
        return Cursor(None, now, now, now - started)
    return Cursor(None if plan.wrapped else position, cursor.cycle_started,
                  cursor.last_cycle_at, cursor.last_cycle_seconds)

