"""One run of the code_integrity check as plain values, and the function that runs it.

CodeIntegrityCheck (codetree.py) builds a Job and hands it to run_job() in a child
process (isolated.py), or in a thread of its own process. This module imports only the
integrity code and the kernel's Result: no HTTP client, no pydantic, so that the child
starts quickly (its imports are most of its cost).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from checks.integrity.accept import accept_changes
from checks.integrity.baseline import Limits, Tree, verify
from checks.integrity.hashing import Deadline
from checks.integrity.judging import judge
from checks.integrity.patterns import PathRules
from checks.integrity.store import IntegrityStore
from checks.integrity.watch import Hints, Watching
from monitor.kernel.result import Result


@dataclass(frozen=True, slots=True)
class Settings:
    """What a run uses of the check's spec (CodeIntegritySpec)."""

    interval: float
    timeout: float
    ignore: tuple[str, ...]
    io_budget: int
    hash_workers: int
    require_baseline: bool
    accept_in_window: bool
    full_walk_every: float = 3600.0


@dataclass(frozen=True, slots=True)
class Job:
    settings: Settings
    site: str  # the LMS name
    root: str  # the code directory
    state_dir: Path
    now: float  # the run's time (the context's clock)
    covered: bool  # inside a maintenance window
    watch_fd: int | None = None  # the check's inotify instance (watch.py), passed down
    watch_token: str = ""
    watch_problem: str = ""  # why there is no instance although the spec asks for one


def run_job(job: Job, clock: Callable[[], float] | None = None) -> Result:
    """Verify (or create) the baseline and judge it; raises NoBaseline or ScanError when
    the run cannot judge. ``clock``: the context's, in-process; None in a child process:
    the run's time, moved on by the monotonic clock."""
    if clock is None:
        started = time.monotonic()
        clock = lambda: job.now + (time.monotonic() - started)  # noqa: E731
    spec, now = job.settings, job.now
    tree = Tree(job.site, job.root, PathRules(spec.ignore))
    # Stop reading well before the check's timeout (then the child is killed, or in a
    # thread, which cannot be cancelled, the run would go on).
    limits = Limits(
        budget=int(spec.io_budget * spec.interval),
        rolling=spec.io_budget > 0,
        deadline=Deadline(clock, now + spec.timeout * 0.7),
        workers=spec.hash_workers,
    )
    watching = None if job.watch_fd is None else Watching(
        Hints(job.watch_fd), job.watch_token, spec.full_walk_every)
    with IntegrityStore.in_state_dir(job.state_dir) as store:
        out = verify(store, tree, limits, now, create=not spec.require_baseline,
                     watching=watching)
        out.walks_every_run = out.walks_every_run or job.watch_problem
        if (
            job.covered
            and spec.accept_in_window
            and out.diff.changed + len(out.diff.unverified) + len(out.diff.touched)
        ):
            out.accepted_in_window = accept_changes(store, tree, out, now, "maintenance window")
    return judge(spec, out, now, covered=job.covered)
