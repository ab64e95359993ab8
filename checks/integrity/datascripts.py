"""The `dataroot_scripts` check: executable scripts (web shells, drops) in the data directory.

Data flow: scheduler -> DatarootScriptsCheck.run(ctx) -> webshells.find_scripts() in
ctx.run_blocking (names everywhere, content sniffs within the byte budget, verdicts in the
state DB) -> Result with lms_integrity_data_* samples.

Any script found is CRITICAL (a data directory holds no code to run; a file-inclusion bug
runs whatever PHP it finds there), WARNING inside a maintenance window (a plugin install
unpacks code under temp/). Unreadable files or directories are WARNING. The directory is
``path``, or lms.moodle.dataroot; for a Moodle site the PHP files Moodle writes itself
(generated.MOODLE_GENERATED: by place, name and content shape) pass unless ``allow``
replaces them with plain path patterns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.base import CheckContext, CheckUnavailable, Window, covered_by_window
from checks.integrity import codetree
from checks.integrity.codetree import LISTED, Bytes
from checks.integrity.generated import MOODLE_GENERATED
from checks.integrity.hashing import Deadline
from checks.integrity.patterns import PathRules, display_path
from checks.integrity.scan import ScanError
from checks.integrity.store import IntegrityStore
from checks.integrity.webshells import (
    DEFAULT_NAMES_ONLY,
    DataFindings,
    DataRules,
    find_scripts,
)
from monitor.kernel.metric import MetricSpec, declare, merge
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, PositiveDuration

# Every metric this check emits: its own two, declared here, and the code tree check's
# declarations of skipped files and read bytes (one metric, either check may report it).
METRICS = merge(
    declare(
        MetricSpec("lms_integrity_data_scripts", "gauge",
                   "Executable scripts (by name or PHP open tag) in the data directory, "
                   "Moodle's own PHP files there excepted."),
        MetricSpec("lms_integrity_data_files", "gauge",
                   "Files looked at in the data directory (blob stores by name only)."),
    ),
    {name: codetree.METRICS[name]
     for name in ("lms_integrity_skipped_files", "lms_integrity_read_bytes")},
)


class DatarootScriptsSpec(CheckSpec):
    type: Literal["dataroot_scripts"]
    interval: PositiveDuration = 300.0
    timeout: PositiveDuration = 120.0
    path: Path | None = None  # the data directory (default: lms.moodle.dataroot)
    allow: list[str] | None = None  # None: Moodle's own PHP files (by shape) on Moodle
    names_only: list[str] = Field(default_factory=lambda: list(DEFAULT_NAMES_ONLY))
    ignore: list[str] = Field(default_factory=list)
    io_budget: Bytes = 1_000_000  # bytes per second, averaged over the interval


class DatarootScriptsCheck:
    def __init__(self, spec: DatarootScriptsSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        return await self.scan(ctx, windows=())  # windows arrive with the alerting work

    async def scan(self, ctx: CheckContext, windows: Iterable[Window]) -> Result:
        if ctx.state_dir is None:
            raise CheckUnavailable("needs Vigil's state directory to remember sniffed files")
        spec, state_dir, now = self.spec, ctx.state_dir, ctx.now()
        path = spec.path or getattr(ctx.site, "dataroot", None)
        if path is None:
            raise CheckUnavailable("no data directory: set the check's path "
                                   "(or lms.moodle.dataroot for a Moodle site)")
        root = str(Path(path).absolute())
        generated = MOODLE_GENERATED if (
            spec.allow is None and ctx.target.kind == "moodle") else ()
        rules = DataRules(PathRules(spec.allow or ()), PathRules(spec.names_only),
                          PathRules(spec.ignore), generated)
        deadline = Deadline(ctx.now, now + spec.timeout * 0.7)

        def work() -> DataFindings:
            with IntegrityStore.in_state_dir(state_dir) as store:
                return find_scripts(store, ctx.target.name, root, rules,
                                    budget=int(spec.io_budget * spec.interval),
                                    deadline=deadline, now=now)

        try:
            found = await ctx.run_blocking(work)
        except ScanError as exc:
            raise CheckUnavailable(str(exc)) from None
        return judge(found, root, covered=covered_by_window(now, windows))


def judge(found: DataFindings, root: str, *, covered: bool) -> Result:
    paths = [display_path(p) for p in found.scripts[:LISTED]]
    unreadable = [display_path(p) for p in found.unreadable[:LISTED]]
    if found.scripts:
        status = Status.WARNING if covered else Status.CRITICAL
        summary = (f"{len(found.scripts)} executable script(s) in the data directory: "
                   + ", ".join(paths[:3]))
    elif found.unreadable:
        status, summary = Status.WARNING, (f"{len(found.unreadable)} unreadable file(s) or "
                                           f"directories in the data directory")
    else:
        status = Status.OK
        summary = f"no executable scripts in the data directory ({found.files:,} files)"
    if found.pending:
        summary += f"; {found.pending:,} file(s) left to sniff in later runs (I/O budget)"
    samples = (
        Sample("lms_integrity_data_scripts", len(found.scripts)),
        Sample("lms_integrity_data_files", found.files),
        Sample("lms_integrity_skipped_files", len(found.unreadable), {"reason": "unreadable"}),
        Sample("lms_integrity_skipped_files", len(found.special), {"reason": "special"}),
        Sample("lms_integrity_skipped_files", found.pending, {"reason": "deferred"}),
        Sample("lms_integrity_read_bytes", found.read_bytes),
    )
    details: dict[str, Any] = {"root": display_path(root), "scripts": paths,
                               "unreadable": unreadable, "pending": found.pending,
                               "special_files": [f"{display_path(p)} ({kind})"
                                                 for p, kind in found.special[:LISTED]]}
    return Result(status, summary, samples, {k: v for k, v in details.items() if v})
