"""The `code_integrity` check: file integrity monitoring of an LMS code tree.

Data flow: scheduler -> CodeIntegrityCheck.run(ctx) -> run_job() in a short-lived child
process (checks/integrity/isolated.py: the run's per-file tables never enter the daemon's
heap; killed at the check's timeout) -> baseline.verify() (scan, hash within the run's
byte budget and deadline, state DB under ctx.state_dir) -> judge() (judging.py) -> the
Result with lms_integrity_* samples, the only thing sent back.

Any LMS with a code directory: ``path``, or for Moodle lms.moodle.dirroot. The first run
records the baseline (status OK, "baseline created: N files") unless
``require_baseline`` asks for an explicit `vigil integrity baseline`. Afterwards each run
re-hashes the files whose stat changed plus a rolling slice of unchanged ones; the byte
budget is ``io_budget`` (bytes per second, averaged) x ``interval``, so a tree of T bytes
is fully re-hashed every ceil(T / budget) runs (reported as the re-hash period).

How bad a change is (decided here):
- CRITICAL: a new executable script (*.php, *.phtml, *.phar, ... or a PHP open tag in its
  first 4 KiB) outside a maintenance window; changed content of a script or of any file
  the release manifest ships (core code); content that changed while size, mtime and
  ctime did not (found by the rolling re-hash: someone covered their tracks).
- WARNING: any other file added, removed or modified (content, mode, owner); files that
  differ from the release manifest and were not accepted; a manifest for another release
  than the installed one; unreadable files or directories.
- OK: no change. Files only touched (mtime moved, same content), special files (FIFO,
  socket, device: skipped) and files left for a later run are reported, not judged.
Inside a maintenance window the changes are accepted into the baseline (``accept_in_window``,
recorded as actor "maintenance window") and listed; with it off they are at most WARNING.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from checks.base import CheckContext, CheckUnavailable, Window, covered_by_window
from checks.common import parse_size
from checks.integrity.baseline import NoBaseline
from checks.integrity.isolated import IsolatedError, run_isolated
from checks.integrity.job import Job, Settings, run_job
from checks.integrity.judging import LISTED, judge, rehash_period
from checks.integrity.scan import ScanError
from checks.integrity.watch import instance_problem, open_instance
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result
from monitor.kernel.spec import CheckSpec, PositiveDuration

# Every metric this check emits, declared here once (datascripts.py shares two). The
# change and reason labels take only the fixed words listed in the help.
METRICS = declare(
    MetricSpec("lms_integrity_files", "gauge",
               "Regular files and symlinks in the watched code tree (ignored paths excluded)."),
    MetricSpec("lms_integrity_bytes", "gauge", "Bytes of the regular files in the code tree."),
    MetricSpec("lms_integrity_changed_files", "gauge",
               "Files changed since the accepted baseline, by change: added, removed, "
               "modified (content, type, mode or owner).", ("change",)),
    MetricSpec("lms_integrity_new_scripts", "gauge",
               "Executable scripts (*.php, *.phtml, *.phar... or a PHP open tag) added to "
               "the code tree since the baseline."),
    MetricSpec("lms_integrity_silent_changes", "gauge",
               "Files whose content changed while their size, mtime and ctime did not "
               "(found by the rolling re-hash)."),
    MetricSpec("lms_integrity_release_mismatch_files", "gauge",
               "Files whose content differs from the release manifest and that were not "
               "accepted (local hacks, injected code)."),
    MetricSpec("lms_integrity_release_missing_files", "gauge",
               "Files of the release manifest missing from the code tree."),
    MetricSpec("lms_integrity_skipped_files", "gauge",
               "Files not verified or not sniffed in the last run, by reason: unreadable, "
               "special (FIFO, socket, device), vanished, too_large (over one run's I/O "
               "budget), deferred (left for a later run).", ("reason",)),
    MetricSpec("lms_integrity_read_bytes", "gauge",
               "Bytes the last run read to hash or sniff files."),
    MetricSpec("lms_integrity_rehash_period_seconds", "gauge",
               "Time a full re-hash of the code tree takes at the configured I/O budget."),
    MetricSpec("lms_integrity_last_full_rehash_timestamp_seconds", "gauge",
               "When the rolling re-hash last covered the whole code tree, as a Unix time."),
    MetricSpec("lms_integrity_baseline_timestamp_seconds", "gauge",
               "When the code tree's baseline was created, as a Unix time."),
)
DEFAULT_IGNORE = (".git", ".svn", ".hg")  # VCS metadata churns and is not served
Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


class CodeIntegritySpec(CheckSpec):
    type: Literal["code_integrity"]
    interval: PositiveDuration = 300.0
    timeout: PositiveDuration = 120.0
    path: Path | None = None  # the code directory (default: lms.moodle.dirroot)
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))
    # Bytes per second, averaged over the interval (0: no rolling re-hash). 100 kB/s is
    # 30 MB a run at the default interval: a 300 MB Moodle tree is re-hashed in full every
    # ~50 min, for ~0.1 s of CPU a run; changed files are found by their stat every run.
    io_budget: Bytes = 100_000
    hash_workers: int = Field(default=1, ge=1, le=16)
    require_baseline: bool = False
    accept_in_window: bool = True
    # Skip the walk of a run when Linux inotify reported no change in the tree since a
    # full walk (checks/integrity/watch.py), at most ``full_walk_every`` long: what inotify
    # cannot see (writes through a shared mapping, the block device, another host of a
    # network file system) is found by that walk and by the rolling re-hash.
    watch_changes: bool = True
    full_walk_every: PositiveDuration = 3600.0


def tree_root(spec_path: Path | None, site: Any) -> str:
    """The directory the check watches (absolute, symlinks kept: a deploy that switches a
    `current` symlink shows up as changes, not as a new tree)."""
    path = spec_path or getattr(site, "dirroot", None)
    if path is None:
        raise CheckUnavailable("no code directory: set the check's path "
                               "(or lms.moodle.dirroot for a Moodle site)")
    return str(Path(path).absolute())


class CodeIntegrityCheck:
    def __init__(self, spec: CodeIntegritySpec, *, isolated: bool = True) -> None:
        self.spec = spec
        # In a child process by default (checks/integrity/isolated.py): the per-file
        # tables of a run then never raise the daemon's RSS. False: in a thread of this
        # process (what the CLI and bench/integrity.py's in-process figures do).
        self.isolated = isolated
        self.settings = Settings(spec.interval, spec.timeout, tuple(spec.ignore),
                                 spec.io_budget, spec.hash_workers, spec.require_baseline,
                                 spec.accept_in_window, spec.full_walk_every)
        self._watch: int | None = None  # the inotify instance, opened by the first run
        self._token = ""
        self._watch_problem = ""  # why it could not be opened (tried again each run)

    def _watch_fd(self) -> int | None:
        """This check's inotify instance (kept for its lifetime: the watches live in it),
        None when ``watch_changes`` is off or the system has none."""
        if self.spec.watch_changes and self._watch is None:
            self._watch = open_instance()
            if self._watch is None:
                self._watch_problem = instance_problem()
            else:
                self._watch_problem, self._token = "", uuid.uuid4().hex
                weakref.finalize(self, os.close, self._watch)
        return self._watch

    async def run(self, ctx: CheckContext) -> Result:
        return await self.verify(ctx, windows=())  # windows arrive with the alerting work

    async def verify(self, ctx: CheckContext, windows: Iterable[Window]) -> Result:
        if ctx.state_dir is None:
            raise CheckUnavailable("needs Vigil's state directory to keep the baseline")
        now = ctx.now()
        fd = self._watch_fd()
        job = Job(self.settings, ctx.target.name, tree_root(self.spec.path, ctx.site),
                  ctx.state_dir, now, covered_by_window(now, windows), fd, self._token,
                  self._watch_problem)
        try:
            if self.isolated:
                return await run_isolated(run_job, job, timeout=ctx.timeout,
                                          what="code integrity run",
                                          pass_fds=() if fd is None else (fd,))
            return await ctx.run_blocking(lambda: run_job(job, ctx.now))
        except (NoBaseline, ScanError) as exc:
            raise CheckUnavailable(str(exc)) from None
        except IsolatedError as exc:
            if exc.kind in (NoBaseline.__name__, ScanError.__name__, "died", "timeout"):
                raise CheckUnavailable(str(exc)) from None  # (says what happened)
            raise CheckUnavailable(f"code integrity run failed in its worker process: "
                                   f"{exc.kind}: {exc}") from None


__all__ = ["LISTED", "CodeIntegrityCheck", "CodeIntegritySpec", "judge", "rehash_period",
           "tree_root"]
