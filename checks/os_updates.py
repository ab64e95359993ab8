"""The `os_updates` check: pending OS package updates and security updates, held packages,
a pending reboot, and how fresh the package lists are, on the host Vigil runs on.

Data flow: scheduler -> OsUpdatesCheck.run(ctx) -> one worker thread (ctx.run_blocking)
that finds the package manager (apt-get, else dnf), runs it read-only with LC_ALL=C, a
timeout and low CPU/IO priority, and stats a few files (checks/os_updates_host.py) ->
pure parsers (checks/os_updates_parse.py) -> first-seen times of security updates
(checks/os_updates_ledger.py: a small JSON file under ctx.state_dir, or memory) ->
judged here -> Result with lms_os_* samples -> state store.

Nothing here needs root or refreshes the package lists: like node_exporter's apt_info.py
it relies on the host's own `apt update` timer (APT::Periodic) or dnf-makecache.timer,
and says so when the lists are stale, because the security count only knows what the
lists contain.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from checks.base import CheckContext
from checks.common import check_order
from checks.os_updates_host import (
    ENV_PATH,
    CommandOutput,
    HostFacts,
    Runner,
    gather,
    run_command,
)
from checks.os_updates_ledger import Ledger
from checks.os_updates_memo import AptMemo
from checks.os_updates_parse import PendingUpdate
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration
from monitor.kernel.units import fmt_duration

# Every metric this module emits, declared here once. kind is "all" or "security";
# the counts are node_exporter's apt_info.
METRICS = declare(
    MetricSpec("lms_os_updates_pending", "gauge",
               "OS packages an upgrade would update now; kind security counts those from "
               "a security origin (apt -security suites, dnf security advisories).", ("kind",)),
    MetricSpec("lms_os_updates_held", "gauge", "OS packages held back from upgrades (apt-mark)."),
    MetricSpec("lms_os_reboot_required", "gauge",
               "1 if the host asks for a reboot to finish applying updates, else 0."),
    MetricSpec("lms_os_package_lists_age_seconds", "gauge",
               "Age of the newest package lists (apt Release files, dnf repomd.xml)."),
    MetricSpec("lms_os_last_package_change_timestamp_seconds", "gauge",
               "When a package was last installed, upgraded or removed, as a Unix time."),
    MetricSpec("lms_os_security_update_oldest_seconds", "gauge",
               "Time since the oldest pending security update was first seen (0 when none)."),
)
_DAY = 86400.0
_MARGIN = 5.0  # seconds left to the check after a command timeout, to report UNKNOWN
_NAMES_IN_SUMMARY = 3
_DETAIL_LIMIT = 10

__all__ = ["CommandOutput", "OsUpdatesCheck", "OsUpdatesSpec", "Runner", "run_command"]


class OsUpdatesSpec(CheckSpec):
    type: Literal["os_updates"]
    # Simulating an upgrade costs apt a couple of CPU seconds: hourly is plenty, and the
    # lists themselves change at most a few times a day.
    interval: PositiveDuration = 3600.0
    timeout: PositiveDuration = 120.0
    package_manager: Literal["auto", "apt", "dnf"] = "auto"
    # fnmatch patterns of package names left out of every count (apt_info.py's --exclude).
    exclude: tuple[str, ...] = ()
    # Any pending security update is worth a warning; one left unapplied for a week is
    # critical (the "escalates from warning to critical after N days").
    security_warning: Annotated[int, Field(ge=1)] | None = 1
    security_critical_after: Annotated[Duration, Field(gt=0)] | None = 7 * _DAY
    # Plain updates are informational unless the admin sets limits.
    updates_warning: Annotated[int, Field(ge=1)] | None = None
    updates_critical: Annotated[int, Field(ge=1)] | None = None
    held_warning: Annotated[int, Field(ge=1)] | None = None
    # apt's daily timer refreshes the lists; a week without a refresh means it is broken.
    lists_max_age: Annotated[Duration, Field(gt=0)] | None = 7 * _DAY
    # A pending reboot usually means a patched kernel or libc is not in use yet: the same
    # week as for security updates before it becomes critical.
    reboot_warning: bool = True
    reboot_critical_after: Annotated[Duration, Field(gt=0)] | None = 7 * _DAY
    # Run apt/dnf at nice 10 and idle I/O priority so the probe never competes with the LMS.
    low_priority: bool = True

    @model_validator(mode="after")
    def _order(self) -> OsUpdatesSpec:
        check_order(self, "updates_warning", "updates_critical", higher_is_worse=True)
        return self


def _default_which(name: str) -> str | None:
    return shutil.which(name, path=ENV_PATH)


class OsUpdatesCheck:
    """Keeps the first-seen ledger between runs; the runner and ``which`` are injectable so
    tests feed recorded outputs, and ``root`` points the file reads at a fixture tree."""

    def __init__(self, spec: OsUpdatesSpec, runner: Runner = run_command,
                 which: Callable[[str], str | None] = _default_which,
                 root: Path = Path("/")) -> None:
        self.spec = spec
        self._runner = runner
        self._which = which
        self._root = root
        self._ledger: Ledger | None = None
        self._memo = AptMemo()

    async def run(self, ctx: CheckContext) -> Result:
        budget = max(1.0, ctx.timeout - min(_MARGIN, ctx.timeout / 5))
        facts = await ctx.run_blocking(lambda: gather(
            self.spec.package_manager, self._runner, self._which, self._root, budget,
            self.spec.low_priority, self._memo))
        facts = _without_excluded(facts, self.spec.exclude)
        now = ctx.now()
        ledger = self._ledger_for(ctx)
        await ctx.run_blocking(lambda: ledger.observe(facts, now))
        return judge(self.spec, facts, ledger, now)

    def _ledger_for(self, ctx: CheckContext) -> Ledger:
        if self._ledger is None:
            path = None
            if ctx.state_dir is not None:
                path = Path(ctx.state_dir) / f"os_updates-{ctx.target.name}.json"
            self._ledger = Ledger(path)
        return self._ledger


def _without_excluded(facts: HostFacts, patterns: Sequence[str]) -> HostFacts:
    if not patterns or facts.updates is None:
        return facts

    def keep(update: PendingUpdate) -> bool:
        return not any(fnmatchcase(update.name, pattern) for pattern in patterns)

    kept = tuple(u for u in facts.updates if keep(u))
    security = tuple(u for u in facts.security or () if keep(u))
    return facts.replace(updates=kept, security=security,
                         excluded=len(facts.updates) - len(kept))


def judge(spec: OsUpdatesSpec, facts: HostFacts, ledger: Ledger, now: float) -> Result:
    """Turn what the host reported into a status, a one-line summary, samples and details."""
    problems: list[tuple[Status, str]] = []
    head_status, head = _updates_part(spec, facts, ledger, now)
    problems.append((head_status, head))
    problems += _lists_problems(spec, facts, now)
    problems += _reboot_problems(spec, facts, ledger, now)
    if facts.held and spec.held_warning is not None and len(facts.held) >= spec.held_warning:
        held = len(facts.held)
        problems.append((Status.WARNING, f"{held} package{'s' if held != 1 else ''} held: "
                         + _names([(h, "") for h in facts.held])))
    status = Status.worst(s for s, _ in problems)
    rest = sorted(problems[1:], key=lambda p: -p[0].value)  # critical first
    summary = "; ".join(text for _, text in [problems[0], *rest])
    return Result(status, summary, tuple(_samples(facts, ledger, now)),
                  _details(facts, ledger, now))


def _updates_part(spec: OsUpdatesSpec, facts: HostFacts, ledger: Ledger,
                  now: float) -> tuple[Status, str]:
    if facts.updates is None or facts.security is None:
        return Status.WARNING, facts.lists_problem or "pending updates unknown"
    count = len(facts.updates)
    text = f"{count} update{'s' if count != 1 else ''} pending"
    status = Status.OK
    if spec.updates_critical is not None and count >= spec.updates_critical:
        status, text = Status.CRITICAL, f"{text} (limit {spec.updates_critical})"
    elif spec.updates_warning is not None and count >= spec.updates_warning:
        status, text = Status.WARNING, f"{text} (limit {spec.updates_warning})"
    security = _unique_packages(facts.security)
    if not security:
        return status, f"{text}, none security"
    text += f", {len(security)} security ({_names(security)})"
    if spec.security_warning is not None and len(security) >= spec.security_warning:
        status = Status.worst([status, Status.WARNING])
    oldest = ledger.oldest_security_age(now)
    limit = spec.security_critical_after
    if limit is not None and oldest > limit:
        return Status.CRITICAL, f"{text} unapplied for {fmt_duration(oldest)} " \
                                f"(limit {fmt_duration(limit)})"
    if oldest >= 60:
        text += f", oldest unapplied {fmt_duration(oldest)}"
    return status, text


def _lists_problems(spec: OsUpdatesSpec, facts: HostFacts, now: float) -> list[tuple[Status, str]]:
    if facts.updates is None:
        return []  # the head already says the lists are missing
    if facts.lists_time is None or spec.lists_max_age is None:
        return []
    age = max(0.0, now - facts.lists_time)
    if age <= spec.lists_max_age:
        return []
    return [(Status.WARNING, f"package lists {fmt_duration(age)} old (limit "
             f"{fmt_duration(spec.lists_max_age)}): updates published since are not counted, "
             "so the security count may be too low")]


def _reboot_problems(spec: OsUpdatesSpec, facts: HostFacts, ledger: Ledger,
                     now: float) -> list[tuple[Status, str]]:
    if not facts.reboot_required or not spec.reboot_warning:
        return []
    since = facts.reboot_since if facts.reboot_since is not None else ledger.reboot_since
    age = max(0.0, now - since) if since is not None else 0.0
    text = "reboot required"
    if age >= 60:
        text += f" for {fmt_duration(age)}"
    if facts.reboot_packages:
        text += f" ({_names([(p, '') for p in facts.reboot_packages])})"
    limit = spec.reboot_critical_after
    if limit is not None and age > limit:
        return [(Status.CRITICAL, f"{text}, limit {fmt_duration(limit)}")]
    return [(Status.WARNING, text)]


def _unique_packages(updates: Sequence[PendingUpdate]) -> list[tuple[str, str]]:
    """(name, arch) pairs in first-seen order: dnf lists one row per advisory."""
    seen: dict[tuple[str, str], None] = {}
    for update in updates:
        seen.setdefault((update.name, update.arch), None)
    return list(seen)


def _names(pairs: Sequence[tuple[str, str]]) -> str:
    names = list(dict.fromkeys(name for name, _ in pairs))
    shown = ", ".join(names[:_NAMES_IN_SUMMARY])
    more = len(names) - _NAMES_IN_SUMMARY
    return f"{shown} +{more} more" if more > 0 else shown


def _samples(facts: HostFacts, ledger: Ledger, now: float) -> list[Sample]:
    samples: list[Sample] = []
    if facts.updates is not None and facts.security is not None:
        samples += [
            Sample("lms_os_updates_pending", len(facts.updates), {"kind": "all"}),
            Sample("lms_os_updates_pending", len(_unique_packages(facts.security)),
                   {"kind": "security"}),
            Sample("lms_os_security_update_oldest_seconds", ledger.oldest_security_age(now)),
        ]
    if facts.held is not None:
        samples.append(Sample("lms_os_updates_held", len(facts.held)))
    if facts.reboot_required is not None:
        samples.append(Sample("lms_os_reboot_required", float(facts.reboot_required)))
    if facts.lists_time is not None:
        samples.append(Sample("lms_os_package_lists_age_seconds",
                              max(0.0, now - facts.lists_time)))
    if facts.last_change is not None:
        samples.append(Sample("lms_os_last_package_change_timestamp_seconds", facts.last_change))
    return samples


def _details(facts: HostFacts, ledger: Ledger, now: float) -> dict[str, object]:
    security = _unique_packages(facts.security or ())
    details: dict[str, object] = {
        "package_manager": facts.manager,
        "updates": None if facts.updates is None else len(facts.updates),
        "security": None if facts.security is None else len(security),
        "security_packages": [f"{u.name} {u.new}" for u in facts.security or ()][:_DETAIL_LIMIT],
        "held_packages": list(facts.held or ())[:_DETAIL_LIMIT],
        "reboot_required": facts.reboot_required,
        "reboot_packages": list(facts.reboot_packages)[:_DETAIL_LIMIT],
        "package_lists_age_seconds": None if facts.lists_time is None
        else round(max(0.0, now - facts.lists_time)),
        "new_packages": facts.new_packages, "removals": facts.removals,
        "kept_back": facts.kept_back, "excluded": facts.excluded,
        "first_seen_store": str(ledger.path) if ledger.path else "memory",
    }
    notes = [*facts.notes, *([ledger.error] if ledger.error else [])]
    if notes:
        details["notes"] = notes[:_DETAIL_LIMIT]
    return details
