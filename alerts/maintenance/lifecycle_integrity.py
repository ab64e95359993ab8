"""Accepting code changes made inside a maintenance window into the integrity baseline.

Used by lifecycle.py for windows with ``accept_integrity_changes`` and each
``code_integrity`` check in their scope (unless the check sets ``accept_in_window =
false``). At the start, ``start_marks`` verifies the tree (stat-changed files hashed, no
byte budget) and notes every path that already differs from the baseline, with its state.
At the end, ``accept_window_changes`` verifies again and accepts only the paths whose
state moved between the two: a change made before the window (say, a web shell dropped
the day before) is left for the admin to review, never blessed by a window. The accepted
paths are recorded as an "accept" run by ``maintenance window <name>`` (checks/integrity/
accept.py). Blocking: run in a thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.base import CheckUnavailable
from checks.integrity.accept import accept
from checks.integrity.baseline import Limits, NoBaseline, Outcome, Tree, verify
from checks.integrity.codetree import tree_root
from checks.integrity.patterns import PathRules
from checks.integrity.scan import ScanError
from checks.integrity.store import IntegrityStore, Record

Marks = dict[str, Any]  # path -> fingerprint (list) or None (absent)
# Hash every file whose stat changed, skip the rolling re-hash of unchanged ones.
_LIMITS = Limits(budget=None, rolling=False)


class IntegrityWindowError(Exception):
    """The tree cannot be verified (no baseline, unreadable root): the message says why."""


def tree_of(job: Any) -> Tree:
    """The tree a code_integrity job watches (as the check itself computes it)."""
    spec = job.spec
    try:
        root = tree_root(spec.path, job.site)
    except CheckUnavailable as exc:
        raise IntegrityWindowError(str(exc)) from None
    return Tree(job.target.name, root, PathRules(spec.ignore))


def fingerprint(record: Record | None) -> list[Any] | None:
    """What identifies a file's state: its stat and content hash (None: absent)."""
    return None if record is None else [*record.stat, record.sha256]


def start_marks(state_dir: Path, tree: Tree, now: float) -> Marks:
    """Paths that differ from the baseline as the window starts, with their state."""
    with IntegrityStore.in_state_dir(state_dir) as store:
        out = _verify(store, tree, now)
    return {path: fingerprint(out.observed.get(path)) for path in _differing(out)}


def accept_window_changes(state_dir: Path, tree: Tree, marks: Marks, now: float,
                          actor: str) -> tuple[list[str], int]:
    """Accept what changed inside the window; returns (accepted paths, changes left)."""
    with IntegrityStore.in_state_dir(state_dir) as store:
        out = _verify(store, tree, now)
        differing = _differing(out)
        inside = [p for p in differing
                  if p not in marks or marks[p] != fingerprint(out.observed.get(p))]
        if inside:
            accept(store, tree, inside, now, actor, _LIMITS)
    return sorted(inside), len(differing) - len(inside)


def _verify(store: IntegrityStore, tree: Tree, now: float) -> Outcome:
    try:
        return verify(store, tree, _LIMITS, now, create=False)
    except (NoBaseline, ScanError) as exc:
        raise IntegrityWindowError(str(exc)) from None


def _differing(out: Outcome) -> list[str]:
    diff = out.diff
    return sorted({*diff.added, *diff.removed, *diff.modified, *diff.touched,
                   *diff.unverified})
