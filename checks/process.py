"""The `process` check: are the LMS's daemons running, how many, and did they restart?

Data flow: scheduler -> ProcessCheck.run(ctx) -> one process listing in a worker thread
(ctx.run_blocking; the lister is a constructor argument so tests feed fake listings) ->
counts, resident memory, CPU time and restarts per expected process -> Result with
lms_process_* samples -> state store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from re import Pattern
from typing import Annotated, Any, Literal

import psutil
from pydantic import Field, field_validator, model_validator

from checks.base import CheckContext
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, StrictModel

# Every metric this module emits, declared here once (checks/registry.py collects them).
# The process label is the configured name, bounded by the config.
METRICS = declare(
    MetricSpec("lms_process_count", "gauge", "Running processes matching the expected process.",
               ("process",)),
    MetricSpec("lms_process_start_time_seconds", "gauge",
               "Start time of the oldest matching process, as a Unix time.", ("process",)),
    MetricSpec("lms_process_resident_memory_bytes", "gauge",
               "Resident memory of all matching processes.", ("process",)),
    MetricSpec("lms_process_cpu_seconds_total", "counter",
               "CPU time (user + system) of the matching processes now running.",
               ("process",)),
)
# create_time is derived from boot time and clock ticks; allow for rounding.
_RESTART_TOLERANCE = 1.0


class ProcessMatch(StrictModel):
    """One expected process. ``name`` is also the metric label, so it must be short and fixed."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    # Regexp searched (like pgrep) in the process name or the full command line;
    # default: the process name equals ``name``.
    pattern: Pattern[str]
    match: Literal["name", "cmdline"] = "name"
    min_count: Annotated[int, Field(ge=0)] = 1
    max_count: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_pattern(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("pattern") is None and isinstance(
                data.get("name"), str):
            return {**data, "pattern": f"^{re.escape(data['name'])}$"}
        return data

    @model_validator(mode="after")
    def _counts(self) -> ProcessMatch:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(
                f"max_count ({self.max_count}) must be >= min_count ({self.min_count})")
        return self


class ProcessSpec(CheckSpec):
    type: Literal["process"]
    processes: Annotated[tuple[ProcessMatch, ...], Field(min_length=1)]
    warn_on_restart: bool = True

    @field_validator("processes", mode="before")
    @classmethod
    def _plain_names(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique(self) -> ProcessSpec:
        names = [p.name for p in self.processes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"process names must be unique (repeated: {', '.join(dupes)})")
        return self


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """One running process, as the lister reports it."""

    pid: int
    name: str
    cmdline: str
    create_time: float
    rss: float
    cpu_seconds: float


Lister = Callable[[bool], Sequence[ProcInfo]]


def list_processes(with_cmdline: bool) -> list[ProcInfo]:
    """Blocking psutil walk of /proc; the command line is read only if a match needs it."""
    attrs = ["pid", "name", "create_time", "memory_info", "cpu_times"]
    if with_cmdline:
        attrs.append("cmdline")
    found = []
    for proc in psutil.process_iter(attrs, ad_value=None):
        info = proc.info
        if info["create_time"] is None:  # vanished or inaccessible while we looked
            continue
        cpu = info["cpu_times"]
        found.append(ProcInfo(
            pid=info["pid"], name=info["name"] or "",
            cmdline=" ".join(info.get("cmdline") or ()),
            create_time=info["create_time"],
            rss=info["memory_info"].rss if info["memory_info"] else 0.0,
            cpu_seconds=cpu.user + cpu.system if cpu else 0.0))
    return found


class ProcessCheck:
    """Remembers each expected process's oldest start time to notice restarts."""

    def __init__(self, spec: ProcessSpec, lister: Lister = list_processes) -> None:
        self.spec = spec
        self._lister = lister
        self._with_cmdline = any(p.match == "cmdline" for p in spec.processes)
        self._started: dict[str, float] = {}

    async def run(self, ctx: CheckContext) -> Result:
        processes = await ctx.run_blocking(lambda: self._lister(self._with_cmdline))
        problems: list[tuple[Status, str]] = []
        samples: list[Sample] = []
        counts: dict[str, int] = {}
        for expected in self.spec.processes:
            pattern = expected.pattern
            matched = [p for p in processes
                       if pattern.search(p.cmdline if expected.match == "cmdline" else p.name)]
            counts[expected.name] = len(matched)
            label = {"process": expected.name}
            samples.append(Sample("lms_process_count", len(matched), label))
            if len(matched) < expected.min_count:
                problems.append((Status.CRITICAL, f"{expected.name} missing "
                                 f"({len(matched)} running, need {expected.min_count})"))
            elif expected.max_count is not None and len(matched) > expected.max_count:
                problems.append((Status.WARNING, f"{expected.name}: {len(matched)} running "
                                 f"(max {expected.max_count})"))
            if not matched:
                continue
            oldest = min(p.create_time for p in matched)
            samples += [Sample("lms_process_start_time_seconds", oldest, label),
                        Sample("lms_process_resident_memory_bytes",
                               sum(p.rss for p in matched), label),
                        Sample("lms_process_cpu_seconds_total",
                               sum(p.cpu_seconds for p in matched), label)]
            restart = self._note_start(expected.name, oldest)
            if restart and self.spec.warn_on_restart:
                problems.append((Status.WARNING, f"{expected.name} restarted at {restart}"))
        status = Status.worst(s for s, _ in problems)
        if problems:
            summary = "; ".join(text for s, text in problems if s is status)
        else:
            summary = "running: " + ", ".join(f"{name} x{n}" for name, n in counts.items())
        details = {"counts": counts, "problems": [text for _, text in problems][:10]}
        return Result(status, summary, tuple(samples), details)

    def _note_start(self, name: str, oldest: float) -> str | None:
        """The new start time as text if the oldest process changed since the last run."""
        before = self._started.get(name)
        self._started[name] = oldest
        if before is None or abs(oldest - before) <= _RESTART_TOLERANCE:
            return None
        return datetime.fromtimestamp(oldest, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
