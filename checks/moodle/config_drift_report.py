"""Judging configuration drift (checks/moodle/config_drift.py): status, summary, samples.

Pure. Values appear only as the fingerprint module rendered them for non-secret settings;
secret settings are named, never shown; people appear as username and id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checks.moodle.config_fingerprint import FILE_KEY, Change
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from checks.moodle.config_drift import ConfigDriftSpec

_SHOWN = 5  # changes named in the summary
_DETAILS = 20


@dataclass
class Observed:
    snapshot: dict[str, dict[str, Any]]
    changes: list[Change]
    since: float | None  # when the drift was first seen
    changed: float | None  # when the latest change was seen: the hold runs from here
    fresh: bool  # no stored baseline: this run recorded one
    by: dict[str, tuple[int, int]]  # key -> (config_log time, userid)
    names: dict[int, str]
    notes: list[str]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _critical(change: Change, critical: list[str]) -> bool:
    return bool({change.name, change.name.split(".")[0]} & set(critical))


def _describe(change: Change, obs: Observed) -> str:
    text = change.describe()
    if change.key in obs.by:
        uid = obs.by[change.key][1]
        text += f" by {obs.names.get(uid, '?')} (id {uid})"
    return text


def judge(spec: ConfigDriftSpec, obs: Observed, now: float) -> Result:
    php = sum(1 for k in obs.snapshot if k.startswith("config.php:") and k != FILE_KEY)
    database = sum(1 for k in obs.snapshot if not k.startswith("config.php:"))
    samples = (Sample("lms_moodle_config_settings_watched", php, {"source": "config_php"}),
               Sample("lms_moodle_config_settings_watched", database, {"source": "database"}),
               Sample("lms_moodle_config_settings_changed", len(obs.changes)))
    counts = f"{php} in config.php, {database} in the database"
    parts: list[tuple[Status, str]] = []
    if obs.changes and obs.since is not None:
        level = (Status.CRITICAL if any(_critical(c, spec.critical_settings)
                                        for c in obs.changes) else Status[spec.change_status])
        named = [_describe(c, obs) for c in obs.changes[:_SHOWN]]
        more = len(obs.changes) - _SHOWN
        text = (f"{_n(len(obs.changes), 'setting')} drifted from the baseline "
                f"{fmt_duration(now - obs.since)} ago: " + "; ".join(named)
                + (f"; and {more} more" if more > 0 else ""))
        if obs.changed is not None:
            text += (f" (becomes the baseline in "
                     f"{fmt_duration(obs.changed + spec.change_hold - now)} unless it changes "
                     "again)")
        parts.append((level, text))
    parts += [(Status.WARNING, note) for note in obs.notes]
    status = Status.worst(level for level, _ in parts)
    if not parts:
        summary = (f"baseline recorded: {_n(php + database, 'setting')} fingerprinted ({counts})"
                   if obs.fresh else f"{_n(php + database, 'setting')} match the baseline "
                                     f"({counts})")
    else:
        summary = "; ".join(text for _, text in parts)
    return Result(status, summary, samples, _details(spec, obs, now))


def _details(spec: ConfigDriftSpec, obs: Observed, now: float) -> dict[str, Any]:
    changes = []
    for change in obs.changes[:_DETAILS]:
        entry: dict[str, Any] = {"setting": f"{change.source} {change.name}",
                                 "change": change.kind}
        if change.key == FILE_KEY:
            entry["setting"] = "config.php (file content)"
        elif change.old is None and change.new is None or (
                change.kind == "changed" and None in (change.old, change.new)):
            entry["secret"] = True
        else:
            entry.update({k: v for k, v in (("old", change.old), ("new", change.new))
                          if v is not None})
        if change.key in obs.by:
            at, uid = obs.by[change.key]
            entry["by"] = {"id": uid, "username": obs.names.get(uid, "?"), "at": at}
        changes.append(entry)
    details: dict[str, Any] = {"changes": changes, "baseline_recorded": obs.fresh,
                               "notes": obs.notes}
    if obs.since is not None:
        details["since"] = obs.since
    if obs.changed is not None:
        details["accepted_at"] = obs.changed + spec.change_hold
    return details
