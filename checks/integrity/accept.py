"""Taking changes into a tree's baseline: `vigil integrity accept` and the auto-accept of
changes made inside a maintenance window. Each acceptance marks the rows with who and
when, and is recorded as an "accept" run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from checks.integrity.baseline import Limits, Outcome, Tree, verify
from checks.integrity.store import IntegrityStore, Record


def accept(store: IntegrityStore, tree: Tree, paths: Iterable[str] | None, now: float,
           actor: str, limits: Limits | None = None) -> tuple[list[str], list[str]]:
    """Take the current state of ``paths`` (files or directories; None: everything) into
    the baseline, recording who and when. Returns (accepted, removed) paths."""
    limits = limits or Limits(rolling=False)
    out = verify(store, tree, dataclasses.replace(limits, budget=None, rolling=False), now,
                 create=False)
    wanted = None if paths is None else [p.strip("/") for p in paths]

    def chosen(path: str) -> bool:
        return wanted is None or any(path == w or path.startswith(w + "/") or not w
                                     for w in wanted)

    removed = [p for p in out.diff.removed if chosen(p)]
    if wanted is None:
        changed = [*out.diff.added, *out.diff.modified, *out.diff.touched,
                   *out.diff.unverified]
    else:  # a named path is accepted even when unchanged (e.g. a known local hack)
        changed = [p for p in out.observed if chosen(p)]
    _accept_rows(store, tree, out.observed, changed, removed, now, actor)
    store.add_run(tree.site, tree.root, "accept", now, actor, files=len(changed),
                  added=len(set(changed) & set(out.diff.added)), removed=len(removed),
                  modified=len(set(changed) & out.diff.modified.keys()),
                  detail={"paths": sorted(changed + removed)[:20],
                          "requested": None if wanted is None else wanted[:20]})
    return sorted(changed), removed


def accept_changes(store: IntegrityStore, tree: Tree, out: Outcome, now: float,
                   actor: str) -> list[str]:
    """Accept every change a verify run found (a maintenance window's auto-accept)."""
    changed = [*out.diff.added, *out.diff.modified, *out.diff.touched, *out.diff.unverified]
    removed = list(out.diff.removed)
    _accept_rows(store, tree, out.observed, changed, removed, now, actor)
    store.add_run(tree.site, tree.root, "accept", now, actor, files=len(changed),
                  added=len(out.diff.added), removed=len(removed),
                  modified=len(out.diff.modified),
                  detail={"paths": sorted(changed + removed)[:20], "window": True})
    return sorted(changed + removed)


def _accept_rows(store: IntegrityStore, tree: Tree, observed: Mapping[str, Record],
                 changed: list[str], removed: list[str], now: float, actor: str) -> None:
    rows = {p: observed[p]._replace(accepted_at=now, accepted_by=actor) for p in changed}
    store.write(tree.site, tree.root, "baseline", rows, delete=removed)
