"""Baseline vs observed (and the release manifest) for one tree, reusing the comparison
saved while no row of the tree changed; the last step of baseline.verify()."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from checks.integrity.diff import ReleaseDiff, TreeDiff, compare, compare_release
from checks.integrity.manifest import installed_release
from checks.integrity.store import IntegrityStore, Record

if TYPE_CHECKING:
    from checks.integrity.baseline import Tree


def compare_with_baseline(store: IntegrityStore, tree: Tree, current: Mapping[str, Record],
                          ) -> tuple[TreeDiff, ReleaseDiff | None]:
    """Baseline vs observed (and release), reusing the last comparison while no row of the
    tree changed: an unchanged tree then costs a scan and one load."""
    generation, cached = store.comparison(tree.site, tree.root)
    if cached is not None:
        release = cached["release"]
        return TreeDiff(**cached["diff"]), ReleaseDiff(**release) if release else None
    baseline, differing = store.differing(tree.site, tree.root, "baseline", "observed")
    if fill_baseline(store, tree, baseline, differing):
        generation, _ = store.comparison(tree.site, tree.root)
    diff = compare(baseline, differing)
    release = release_diff(store, tree, current, diff.modified)
    store.save_comparison(tree.site, tree.root, generation, {
        "diff": dataclasses.asdict(diff),
        "release": dataclasses.asdict(release) if release else None})
    return diff, release


def release_diff(store: IntegrityStore, tree: Tree, observed: Mapping[str, Record],
                 modified: Iterable[str] = ()) -> ReleaseDiff | None:
    manifest = store.last_run(tree.site, tree.root, "manifest")
    if manifest is None:
        return None
    release = store.load(tree.site, tree.root, "release")
    accepted = store.load(tree.site, tree.root, "baseline", accepted_only=True)
    return compare_release(release, observed, accepted,
                           release_name=manifest.detail.get("release"),
                           installed=installed_release(tree.root), modified=modified)


def fill_baseline(store: IntegrityStore, tree: Tree, baseline: dict[str, Record],
                   current: Mapping[str, Record]) -> bool:
    """Baseline rows created without a hash (first run over budget) take the first hash
    seen while the file's stat is still the one the baseline recorded."""
    fill = {p: b._replace(sha256=c.sha256, hashed_at=c.hashed_at, note=c.note)
            for p, b in baseline.items()
            if b.sha256 is None and b.stat.kind == "file"
            and (c := current.get(p)) is not None and c.sha256 and c.stat == b.stat}
    if fill:
        store.write(tree.site, tree.root, "baseline", fill)
        baseline.update(fill)
    return bool(fill)
