"""How bad one code_integrity run's findings are: Outcome -> Result (status, summary, the
lms_integrity_* samples, details). The rules are in checks/integrity/codetree.py's
docstring; this is the pure part of that check, run where the verification ran (in its
child process, checks/integrity/isolated.py, or in the CLI)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from checks.integrity.baseline import Outcome
from checks.integrity.diff import is_script
from checks.integrity.patterns import display_path
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_duration


class Budget(Protocol):
    """What judging reads of the check's spec (CodeIntegritySpec, or job.Settings)."""

    @property
    def interval(self) -> float: ...
    @property
    def io_budget(self) -> int: ...

LISTED = 20  # paths per list in Result.details


def _paths(paths: Iterable[str]) -> list[str]:
    return [display_path(p) for p in list(paths)[:LISTED]]


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def rehash_period(spec: Budget, total_bytes: int) -> float | None:
    budget = spec.io_budget * spec.interval
    if budget <= 0:
        return None
    return max(1, math.ceil(total_bytes / budget)) * spec.interval


def judge(spec: Budget, out: Outcome, now: float, *, covered: bool) -> Result:
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


def _summary(spec: Budget, out: Outcome, found: list[tuple[Status, str]]) -> str:
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


def _samples(spec: Budget, out: Outcome, new_scripts: list[str]) -> tuple[Sample, ...]:
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


def _walk(out: Outcome) -> str:
    if not out.walked:
        return "skipped: no change reported since the last full walk"
    if out.walks_every_run:  # (the CPU a skip saves is lost until the cause goes)
        return f"full; every run walks while this lasts: {out.walks_every_run}"
    return "full"


def _details(spec: Budget, out: Outcome, new_scripts: list[str],
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
        "walk": _walk(out),
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
