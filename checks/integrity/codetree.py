"""The `code_integrity` check: file integrity monitoring of an LMS code tree.

Data flow: scheduler -> CodeIntegrityCheck.run(ctx) -> baseline.verify() in ctx.run_blocking
(scan, hash within the run's byte budget and deadline, state DB under ctx.state_dir) ->
judge() -> Result with lms_integrity_* samples.

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

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from checks.base import CheckContext, CheckUnavailable, Window, covered_by_window
from checks.common import parse_size
from checks.integrity.accept import accept_changes
from checks.integrity.baseline import (
    Limits,
    NoBaseline,
    Outcome,
    Tree,
    verify,
)
from checks.integrity.diff import is_script
from checks.integrity.hashing import Deadline
from checks.integrity.patterns import PathRules, display_path
from checks.integrity.scan import ScanError
from checks.integrity.store import IntegrityStore
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, PositiveDuration
from monitor.kernel.units import fmt_duration

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
LISTED = 20  # paths per list in Result.details
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


def tree_root(spec_path: Path | None, site: Any) -> str:
    """The directory the check watches (absolute, symlinks kept: a deploy that switches a
    `current` symlink shows up as changes, not as a new tree)."""
    path = spec_path or getattr(site, "dirroot", None)
    if path is None:
        raise CheckUnavailable("no code directory: set the check's path "
                               "(or lms.moodle.dirroot for a Moodle site)")
    return str(Path(path).absolute())


class CodeIntegrityCheck:
    def __init__(self, spec: CodeIntegritySpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        return await self.verify(ctx, windows=())  # windows arrive with the alerting work

    async def verify(self, ctx: CheckContext, windows: Iterable[Window]) -> Result:
        if ctx.state_dir is None:
            raise CheckUnavailable("needs Vigil's state directory to keep the baseline")
        spec, state_dir, now = self.spec, ctx.state_dir, ctx.now()
        tree = Tree(ctx.target.name, tree_root(spec.path, ctx.site), PathRules(spec.ignore))
        covered = covered_by_window(now, windows)
        # Stop reading well before the runner's timeout: a thread cannot be cancelled.
        limits = Limits(budget=int(spec.io_budget * spec.interval), rolling=spec.io_budget > 0,
                        deadline=Deadline(ctx.now, now + spec.timeout * 0.7),
                        workers=spec.hash_workers)

        def work() -> Outcome:
            with IntegrityStore.in_state_dir(state_dir) as store:
                out = verify(store, tree, limits, now, create=not spec.require_baseline)
                if covered and spec.accept_in_window and out.diff.changed + len(
                        out.diff.unverified) + len(out.diff.touched):
                    out.accepted_in_window = accept_changes(store, tree, out, now,
                                                            "maintenance window")
                return out

        try:
            outcome = await ctx.run_blocking(work)
        except NoBaseline as exc:
            raise CheckUnavailable(str(exc)) from None
        except ScanError as exc:
            raise CheckUnavailable(str(exc)) from None
        return judge(spec, outcome, now, covered=covered)


def _paths(paths: Iterable[str]) -> list[str]:
    return [display_path(p) for p in list(paths)[:LISTED]]


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def rehash_period(spec: CodeIntegritySpec, total_bytes: int) -> float | None:
    budget = spec.io_budget * spec.interval
    if budget <= 0:
        return None
    return max(1, math.ceil(total_bytes / budget)) * spec.interval


def judge(spec: CodeIntegritySpec, out: Outcome, now: float, *, covered: bool) -> Result:
    """Turn one run's findings into a status (rules in the module docstring)."""
    diff, release, obs = out.diff, out.release, out.observed
    new_scripts = [p for p in diff.added if is_script(p, obs.get(p))]
    core = set(release.shipped) if release else set()
    critical_mods = [p for p, attrs in diff.modified.items()
                     if "content" in attrs and (is_script(p, obs.get(p)) or p in core)
                     or "type" in attrs and is_script(p, obs.get(p))]
    found: list[tuple[Status, str]] = []
    if out.created:
        pending = len(out.deferred) + len(out.too_large)
        found.append((Status.OK, f"baseline created: {len(obs):,} files "
                      f"({_mb(out.scan.total_bytes)})" + (
                          f", {pending:,} to hash in later runs (I/O budget)" if pending else "")))
    if new_scripts:
        found.append((Status.CRITICAL, f"{len(new_scripts)} new script(s) in the code tree: "
                      + ", ".join(_paths(new_scripts[:3]))))
    if critical_mods:
        found.append((Status.CRITICAL, f"{len(critical_mods)} core or script file(s) "
                      "modified: " + ", ".join(_paths(critical_mods[:3]))))
    if out.stealth:
        found.append((Status.CRITICAL, f"{len(out.stealth)} file(s) changed content with "
                      "an unchanged size and mtime: " + ", ".join(_paths(out.stealth[:3]))))
    if diff.changed:
        found.append((Status.WARNING, f"since the baseline: {len(diff.added)} added, "
                      f"{len(diff.removed)} removed, {len(diff.modified)} modified"))
    if release is not None:
        found.extend(_release_findings(release))
    unreadable = len(out.unreadable) + len(out.scan.unreadable)
    if unreadable:
        found.append((Status.WARNING, f"{unreadable} unreadable file(s) or directories"))
    status = Status.worst(s for s, _ in found)
    if out.accepted_in_window:
        status = Status.OK
        found.insert(0, (Status.OK, f"{len(out.accepted_in_window)} change(s) accepted in "
                         "a maintenance window"))
    elif covered and status > Status.WARNING:
        status = Status.WARNING  # changes are expected inside a window
    return Result(status, _summary(spec, out, found), _samples(spec, out, new_scripts),
                  _details(spec, out, new_scripts, critical_mods))


def _release_findings(release: Any) -> list[tuple[Status, str]]:
    if release.stale:
        return [(Status.WARNING, f"the release manifest is for {release.release}, the code "
                 f"tree is {release.installed}: build one for this release")]
    found = []
    if release.mismatch:
        found.append((Status.WARNING, f"{len(release.mismatch)} file(s) differ from release "
                      f"{release.release or '(unnamed)'}: "
                      + ", ".join(_paths(release.mismatch[:3]))))
    if release.missing:
        found.append((Status.WARNING, f"{len(release.missing)} file(s) of the release are "
                      "missing"))
    return found


def _summary(spec: CodeIntegritySpec, out: Outcome, found: list[tuple[Status, str]]) -> str:
    problems = [text for status, text in found if status != Status.OK]
    oks = [text for status, text in found if status == Status.OK]
    if problems:
        return "; ".join(oks + problems)
    if oks:
        return "; ".join(oks)
    text = f"code tree matches its baseline ({len(out.observed):,} files, " \
           f"{_mb(out.scan.total_bytes)})"
    period = rehash_period(spec, out.scan.total_bytes)
    if period is not None:
        text += f"; full re-hash every ~{fmt_duration(period)}"
    return text


def _samples(spec: CodeIntegritySpec, out: Outcome, new_scripts: list[str]) -> tuple[Sample, ...]:
    diff, scan = out.diff, out.scan
    samples = [
        Sample("lms_integrity_files", len(out.observed)),
        Sample("lms_integrity_bytes", scan.total_bytes),
        *(Sample("lms_integrity_changed_files", n, {"change": change}) for change, n in (
            ("added", len(diff.added)), ("removed", len(diff.removed)),
            ("modified", len(diff.modified)))),
        Sample("lms_integrity_new_scripts", len(new_scripts)),
        Sample("lms_integrity_silent_changes", len(out.stealth)),
        *(Sample("lms_integrity_skipped_files", n, {"reason": reason}) for reason, n in (
            ("unreadable", len(out.unreadable) + len(scan.unreadable)),
            ("special", len(scan.special)), ("vanished", len(scan.vanished)),
            ("too_large", len(out.too_large)), ("deferred", len(out.deferred)))),
        Sample("lms_integrity_read_bytes", out.read_bytes),
    ]
    if out.release is not None:
        samples += [Sample("lms_integrity_release_mismatch_files", len(out.release.mismatch)),
                    Sample("lms_integrity_release_missing_files", len(out.release.missing))]
    period = rehash_period(spec, scan.total_bytes)
    if period is not None:
        samples.append(Sample("lms_integrity_rehash_period_seconds", period))
    if out.cursor.last_cycle_at is not None:
        samples.append(Sample("lms_integrity_last_full_rehash_timestamp_seconds",
                              out.cursor.last_cycle_at))
    if out.baseline_run is not None:
        samples.append(Sample("lms_integrity_baseline_timestamp_seconds", out.baseline_run.at))
    return tuple(samples)


def _details(spec: CodeIntegritySpec, out: Outcome, new_scripts: list[str],
             critical_mods: list[str]) -> dict[str, Any]:
    diff = out.diff
    details: dict[str, Any] = {
        "root": display_path(out.root),
        "files": len(out.observed),
        "added": _paths(diff.added), "removed": _paths(diff.removed),
        "modified": {display_path(p): a for p, a in list(diff.modified.items())[:LISTED]},
        "new_scripts": _paths(new_scripts), "critical_modified": _paths(critical_mods),
        "silent_changes": _paths(out.stealth), "touched": len(diff.touched),
        "unverified": _paths(diff.unverified),
        "unreadable": _paths([*out.unreadable, *out.scan.unreadable]),
        "special_files": [f"{display_path(p)} ({kind})" for p, kind in out.scan.special[:LISTED]],
        "too_large": _paths(out.too_large), "deferred": len(out.deferred),
        "read_bytes": out.read_bytes,
        "rehash_period_seconds": rehash_period(spec, out.scan.total_bytes),
        "last_full_rehash_seconds": out.cursor.last_cycle_seconds,
    }
    if out.baseline_run is not None:
        details["baseline"] = {"at": out.baseline_run.at, "by": out.baseline_run.actor}
    if out.release is not None:
        r = out.release
        details["release"] = {"release": r.release, "installed": r.installed,
                              "mismatch": _paths(r.mismatch), "missing": _paths(r.missing),
                              "accepted": _paths(r.accepted), "extra": r.extra}
    if out.accepted_in_window:
        details["accepted_in_window"] = _paths(out.accepted_in_window)
    return {k: v for k, v in details.items() if v not in (None, [], {}, 0)}
