"""Scan and hash a whole tree in forked worker processes: `vigil integrity baseline` and
`verify` (the CLI, a process of its own; never the daemon, whose threads must not fork).

baseline.verify() calls scan_and_hash() instead of scan() + hash_many() when every file
must be hashed anyway: each top-level directory is one task (walked and hashed by one
worker, the pool balancing the tasks), so the walk runs in parallel too, not only the
hashing. Results come back pickled: a Scan and the Digests of its files.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from checks.integrity.hashing import Digest, Opener, default_opener, hash_many
from checks.integrity.patterns import PathRules
from checks.integrity.scan import Scan, ScanError, scan, scan_top


def scan_and_hash(root: str, rules: PathRules, workers: int, *,
                  opener: Opener = default_opener) -> tuple[Scan, dict[str, Digest]]:
    top, subdirs = scan_top(root, rules)
    digests = hash_many(root, _regular(top), opener=opener)
    if not subdirs:
        return top, digests
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = pool.map(_subtree, [root] * len(subdirs), [rules] * len(subdirs), subdirs,
                         [opener] * len(subdirs))
        for part, part_digests in parts:
            _merge(top, part)
            digests.update(part_digests)
    return top, digests


def _subtree(root: str, rules: PathRules, under: str,
             opener: Opener) -> tuple[Scan, dict[str, Digest]]:
    try:
        found = scan(root, rules, under=under)
    except ScanError:  # the root went away meanwhile: the parent's result says so
        return Scan(vanished=[under]), {}
    return found, hash_many(root, _regular(found), opener=opener)


def _regular(found: Scan) -> list[tuple[str, int | None]]:
    return [(path, st.ino) for path, st in found.files.items() if st.kind == "file"]


def _merge(into: Scan, part: Scan) -> None:
    into.files.update(part.files)
    into.special += part.special
    into.unreadable += part.unreadable
    into.vanished += part.vanished
    into.pruned += part.pruned
    into.ignored += part.ignored
    into.directories += part.directories


def cpu_workers(limit: int = 4) -> int:
    return max(1, min(limit, os.cpu_count() or 1))
