"""The integrity engine: scan a tree, hash what the budget allows, keep the observed state
and the baseline in the state DB, and compare.

codetree.py (the scheduled check, with a byte budget and a deadline), cli.py (`vigil
integrity`, without limits) and accept.py call verify() and create_baseline(). One run:
scan -> plan (stat-changed and never-hashed files first, smallest first, then a slice of
unchanged files from the rolling cursor, all within ``Limits.budget`` bytes) -> hash ->
update the observed rows -> compare with the baseline (and the release manifest). The
planning and the rolling cursor are pure functions in checks/integrity/plan.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from checks.integrity.compare import compare_with_baseline, release_diff
from checks.integrity.diff import ReleaseDiff, TreeDiff, same_content
from checks.integrity.hashing import (
    NO_DEADLINE,
    Deadline,
    Digest,
    Opener,
    default_opener,
    hash_many,
    sniff,
)
from checks.integrity.parallel import gc_paused, merge, scan_and_hash
from checks.integrity.patterns import SNIFF_BYTES, PathRules, is_script_name
from checks.integrity.plan import Plan, advance, make_plan
from checks.integrity.records import Run
from checks.integrity.scan import Scan, fingerprint, scan
from checks.integrity.store import Cursor, IntegrityStore, Record
from checks.integrity.watch import Watching


@dataclass(frozen=True, slots=True)
class Tree:
    site: str  # the LMS name
    root: str  # the scanned directory (absolute; also the key of its rows)
    rules: PathRules = field(default_factory=lambda: PathRules(()))


@dataclass(frozen=True, slots=True)
class Limits:
    budget: int | None = None  # bytes one run may read (None: no limit)
    rolling: bool = True  # also re-hash a slice of unchanged files
    deadline: Deadline = NO_DEADLINE
    workers: int = 1
    opener: Opener = default_opener
    processes: bool = False  # hash in forked processes (the CLI only, see hash_many)


@dataclass(slots=True)
class Outcome:
    created: bool  # this run created the baseline
    root: str
    scan: Scan
    diff: TreeDiff
    observed: dict[str, Record]
    release: ReleaseDiff | None = None
    stealth: list[str] = field(default_factory=list)  # content changed, stat did not
    unreadable: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)  # larger than one run's budget
    deferred: list[str] = field(default_factory=list)  # to hash in a later run
    read_bytes: int = 0
    hashed_files: int = 0
    cursor: Cursor = field(default_factory=Cursor)
    baseline_run: Run | None = None
    accepted_in_window: list[str] = field(default_factory=list)
    walked: bool = True  # False: no change reported since a full walk (watch.py)
    walks_every_run: str = ""  # why no later run can skip its walk (watch.py), if lasting


class NoBaseline(Exception):
    """verify(create=False) found no baseline for the tree."""


def verify(store: IntegrityStore, tree: Tree, limits: Limits, now: float, *,
           create: bool = True, actor: str = "vigil", rebaseline: bool = False,
           watching: Watching | None = None) -> Outcome:
    """One verification run; creates the baseline when there is none (if ``create``) or
    replaces it (``rebaseline``) with what this run observed. ``watching``: skip the walk
    when inotify reported no change since a full walk (checks/integrity/watch.py)."""
    baseline_run = store.last_run(tree.site, tree.root, "baseline")
    if baseline_run is None and not create:
        raise NoBaseline(f"no baseline for {tree.root}: run `vigil integrity baseline`")
    cursor = store.cursor(tree.site, tree.root)
    if cursor.cycle_started is None:
        cursor = Cursor(None, now, cursor.last_cycle_at, cursor.last_cycle_seconds)
    created = baseline_run is None or rebaseline
    # Acceptances to carry into a new baseline, read before its rows are replaced.
    kept = store.load(tree.site, tree.root, "baseline", accepted_only=True) if created else {}
    staged: str | None = None  # baseline rows written with the observed ones ("new", "over")
    every = limits.processes and limits.workers > 1 and limits.budget is None and limits.rolling
    scanned, hashes, rehashed, walked = b"", None, False, True
    with gc_paused():  # (the scan and the rows: tens of thousands of acyclic tuples)
        quiet = watching.quiet(store, tree.site, tree.root, now) if watching else None
        if quiet is not None and not every and not created:
            scanned, hashes = quiet  # the rows hold the stats the walk would find
            found, walked = Scan(files={p: r.stat for p, r in hashes.items()}), False
        elif not every:  # an unchanged scan needs no stats loaded: its fingerprint says so
            found = scan(tree.root, tree.rules,
                         watch=watching.walker(tree.root) if watching else None)
            scanned = fingerprint(found.files)
            if store.scan_matches(tree.site, tree.root, scanned):
                hashes = store.load_hashes(tree.site, tree.root, found.files)
        observed = hashes or store.load(tree.site, tree.root, "observed", brief=True)
    same = bool(hashes)  # every path and stat as observed
    seen = _Seen(dict(observed))
    if every:
        # Every file gets hashed. The first baseline of a tree (nothing observed either)
        # takes each row as it is written: no copy of all rows after the last part. A
        # baseline already recorded is replaced by one copy, so that an interrupted run
        # never leaves it half replaced; rows without a recorded run are not trusted.
        if baseline_run is None and not observed:
            staged = "over" if store.has_rows(tree.site, tree.root, "baseline") else "new"
        found, digests = _hash_all(store, tree, limits, observed, seen, now, bool(staged))
        plan = make_plan(found, observed, limits.budget, limits.rolling, cursor)
    else:  # (loading in a thread while walking was tried: the GIL made both slower)
        plan = make_plan(found, observed, limits.budget, limits.rolling, cursor, same=same)
        digests = hash_many(tree.root, ((p, found.files[p].ino) for p in plan.hash),
                            workers=limits.workers, opener=limits.opener,
                            deadline=limits.deadline, processes=limits.processes)
        heads = _sniff_new(tree.root, found, observed, plan, limits)
        updates = seen.observe(found, observed, {*plan.changed, *digests}, digests, heads, now)
        # The rolling re-hash of an unchanged tree finds the same content: then the saved
        # comparison, fingerprint and hashes stay valid (no join of all rows every run).
        rehashed = same and not created and not found.vanished and all(
            (old := observed.get(p)) is not None and old._replace(hashed_at=r.hashed_at) == r
            for p, r in updates.items())
        store.write(tree.site, tree.root, "observed", updates, hashed_at_only=rehashed)
    gone = set() if same and not digests else observed.keys() - found.files.keys()
    for path in gone:
        seen.current.pop(path, None)
    store.write(tree.site, tree.root, "observed", {}, delete=gone)
    moved = advance(cursor, plan, digests, now)
    if moved != cursor:
        store.set_cursor(tree.site, tree.root, moved)
    out = Outcome(created, tree.root, found, TreeDiff(), seen.current, walked=walked,
                  stealth=sorted(seen.stealth), cursor=moved, baseline_run=baseline_run)
    _tally(out, plan, digests)
    if out.created:
        _make_baseline(store, tree, out, now, actor, kept, staged)
    else:
        out.diff, out.release = compare_with_baseline(store, tree, seen.current)
    if not every:  # (a file that vanished while read is no longer in found.files)
        unchanged = same and (not digests or rehashed)
        whole = unchanged or seen.current.keys() == found.files.keys()  # (then, by making)
        saved = store.save_scan(tree.site, tree.root,
                                scanned if unchanged else fingerprint(found.files),
                                seen.current if whole else None)
        if watching is not None and walked:
            out.walks_every_run = watching.walked(store, tree.site, tree.root, found, saved,
                                                  now)
    return out


def _hash_all(store: IntegrityStore, tree: Tree, limits: Limits,
              observed: Mapping[str, Record], seen: _Seen, now: float, staged: bool,
              ) -> tuple[Scan, dict[str, Digest]]:
    """Walk and hash in worker processes, storing each part while the workers hash the
    next (and, if ``staged``, writing its rows to the baseline too)."""
    found, digests = Scan(), dict[str, Digest]()
    with gc_paused():
        for part, part_digests in scan_and_hash(tree.root, tree.rules, limits.workers,
                                                opener=limits.opener):
            merge(found, part)
            digests.update(part_digests)
            updates = seen.observe(found, observed, list(part.files), part_digests, {}, now)
            store.write(tree.site, tree.root, "observed", updates,
                        also="baseline" if staged else None)
    return found, digests


def _make_baseline(store: IntegrityStore, tree: Tree, out: Outcome, now: float, actor: str,
                   kept: Mapping[str, Record], staged: str | None) -> None:
    """The observed rows become the baseline (copied inside SQLite, unless the run
    ``staged`` them: then only rows of files gone since are dropped). Explicit acceptances
    survive for files whose content did not change."""
    if staged:
        if staged == "over":  # left by an interrupted first baseline
            store.prune(tree.site, tree.root, "baseline", keep="observed")
    else:
        store.copy(tree.site, tree.root, "observed", "baseline")
    marks = {p: rec._replace(accepted_at=prev.accepted_at, accepted_by=prev.accepted_by)
             for p, prev in kept.items()
             if (rec := out.observed.get(p)) is not None and same_content(prev, rec)}
    store.write(tree.site, tree.root, "baseline", marks)
    store.add_run(tree.site, tree.root, "baseline", now, actor, files=len(out.observed),
                  bytes_read=out.read_bytes, detail={"hashed": out.hashed_files,
                                                     "pending": len(out.deferred)})
    out.baseline_run = store.last_run(tree.site, tree.root, "baseline")
    out.release = release_diff(store, tree, out.observed)


def create_baseline(store: IntegrityStore, tree: Tree, limits: Limits, now: float,
                    actor: str) -> Outcome:
    """(Re)create the baseline from the tree as it is now, hashing every file."""
    store.write(tree.site, tree.root, "observed", {}, replace=True)  # hash every file
    return verify(store, tree, dataclasses.replace(limits, budget=None, rolling=True), now,
                  actor=actor, rebaseline=True)


def _sniff_new(root: str, found: Scan, observed: Mapping[str, Record], plan: Plan,
               limits: Limits) -> dict[str, bool]:
    """Whether new or changed files the budget could not hash hold a PHP open tag in
    their first 4 KiB (that matters now, not after a full hash)."""
    left = None if limits.budget is None else max(
        0, limits.budget - sum(found.files[p].size for p in plan.hash))
    heads: dict[str, bool] = {}
    prefix = root.rstrip("/") + "/"
    for path in (*plan.deferred, *plan.too_large):
        old = observed.get(path)
        if old is not None and old.stat == found.files[path]:
            continue  # unchanged, only its rolling re-hash is late
        if left is not None and left < SNIFF_BYTES:
            break
        got = sniff(prefix + path, found.files[path].ino, opener=limits.opener)
        left = None if left is None else left - SNIFF_BYTES
        if got.problem is None:
            heads[path] = got.tagged
    return heads


_new = tuple.__new__
_SHA256, _READ = itemgetter(0), itemgetter(2)  # Digest fields


@dataclass(slots=True)
class _Seen:
    """The observed state as a run builds it, and the stealth changes it found."""

    current: dict[str, Record]
    stealth: list[str] = field(default_factory=list)  # content changed, stat did not

    def observe(self, found: Scan, observed: Mapping[str, Record], paths: Iterable[str],
                digests: Mapping[str, Digest], heads: Mapping[str, bool], now: float,
                ) -> dict[str, Record]:
        """Take what this run saw of ``paths`` (those the plan found changed or that were
        read: the others keep their row) and return the rows that changed."""
        current, updates = self.current, {}
        for path in paths:
            st, old, got = found.files[path], observed.get(path), digests.get(path)
            if got is not None and got.sha256 is not None:  # (tuple.__new__: once per file)
                rec = _new(Record, (st, got.sha256, now, "script" if got.tagged and
                                    not is_script_name(path) else None, None, None))
                if old is not None and old.stat == st and old.sha256 not in (None, got.sha256):
                    self.stealth.append(path)
            elif got is not None and got.problem == "vanished":
                found.vanished.append(path)
                del found.files[path]
                current.pop(path, None)
                continue
            elif got is not None and got.problem == "unreadable":
                rec = Record(st, None, None, "unreadable")
            elif old is not None and old.stat == st:
                continue  # unchanged (a read cut short by the deadline)
            else:  # a symlink, or a file left for a later run (maybe sniffed)
                rec = Record(st, None, None, "script" if heads.get(path) else None)
            current[path] = rec
            if rec != old:
                updates[path] = rec
        return updates


def _tally(out: Outcome, plan: Plan, digests: Mapping[str, Digest]) -> None:
    out.too_large = sorted(set(plan.too_large))
    out.deferred = sorted(set(plan.deferred) | {p for p, d in digests.items()
                                                 if d.problem in ("deadline", "replaced")})
    out.unreadable = sorted(p for p, r in out.observed.items() if r.note == "unreadable")
    # Over every file of a first baseline: counted in C (map, itemgetter), not per object.
    out.read_bytes = sum(map(_READ, digests.values()))
    out.hashed_files = len(digests) - list(map(_SHA256, digests.values())).count(None)
