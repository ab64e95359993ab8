"""Accepting code changes made inside a maintenance window into the integrity baseline: the
``ChangeAcceptance`` of checks/actions.py, which alerts/maintenance/lifecycle_integrity.py
asks through the table in checks/actions_registry.py.

Used for windows with ``accept_integrity_changes`` and each
``code_integrity`` check in their scope (unless the check sets ``accept_in_window =
false``). At the start, ``start_marks`` verifies the tree (stat-changed files hashed, no
byte budget) and notes every path that already differs from the baseline, with its state.
At the end, ``accept_window_changes`` verifies again and accepts only the paths whose
state moved between the two: a change made before the window (say, a web shell dropped
the day before) is left for the admin to review, never blessed by a window. The accepted
paths are recorded as an "accept" run by ``maintenance window <name>`` (checks/integrity/
accept.py). Blocking: run in a thread. ``IntegrityWindow`` never raises for a tree that
cannot be verified (no baseline, unreadable root): its result carries the error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checks.actions import WindowAcceptance, WindowMarks
from checks.base import CheckUnavailable
from checks.integrity.accept import accept
from checks.integrity.baseline import Limits, NoBaseline, Outcome, Tree, verify
from checks.integrity.codetree import tree_root
from checks.integrity.patterns import PathRules
from checks.integrity.scan import ScanError
from checks.integrity.store import IntegrityStore, Record
from monitor.kernel.job import CheckJob

Marks = Mapping[str, Any]  # path -> fingerprint (list) or None (absent)
# Hash every file whose stat changed, skip the rolling re-hash of unchanged ones.
_LIMITS = Limits(budget=None, rolling=False)


class IntegrityWindowError(Exception):
    """The tree cannot be verified (no baseline, unreadable root): the message says why."""


class IntegrityWindow:
    """checks/actions.py ``ChangeAcceptance`` for ``code_integrity`` checks."""

    def watches(self, job: CheckJob) -> bool:
        """code_integrity checks whose spec allows acceptance inside a window."""
        return job.spec.type == "code_integrity" and bool(
            getattr(job.spec, "accept_in_window", True))

    def mark(self, job: CheckJob, state_dir: Path, now: float) -> WindowMarks:
        try:
            tree = tree_of(job)
            return WindowMarks(tree.root, start_marks(state_dir, tree, now))
        except IntegrityWindowError as exc:
            return WindowMarks(error=str(exc))

    def accept(self, job: CheckJob, state_dir: Path, marks: Marks, now: float,
               actor: str) -> WindowAcceptance:
        try:
            tree = tree_of(job)
            paths, kept = accept_window_changes(state_dir, tree, marks, now, actor)
        except IntegrityWindowError as exc:
            return WindowAcceptance(error=str(exc))
        return WindowAcceptance(tree.root, tuple(paths), kept)


def tree_of(job: CheckJob) -> Tree:
    """The tree a code_integrity job watches (as the check itself computes it)."""
    spec: Any = job.spec  # a CodeIntegritySpec (see IntegrityWindow.watches)
    try:
        root = tree_root(spec.path, job.site)
    except CheckUnavailable as exc:
        raise IntegrityWindowError(str(exc)) from None
    return Tree(job.target.name, root, PathRules(spec.ignore))


def fingerprint(record: Record | None) -> list[Any] | None:
    """What identifies a file's state: its stat and content hash (None: absent)."""
    return None if record is None else [*record.stat, record.sha256]


def start_marks(state_dir: Path, tree: Tree, now: float) -> dict[str, Any]:
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
