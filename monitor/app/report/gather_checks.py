"""The report's sections drawn from check results: patch level and pending security fixes
(moodle_updates, moodle_branch_support, os_updates), backups (moodle_backups),
integrity (code_integrity, dataroot_scripts and the integrity runs), and usage trends
(moodle_usage gauges kept in sample_history, alerts/history.py TREND_METRICS).

Current states come from the check-state repository (as of the last run); the period's
results from its bounded history (``state.history_limit`` runs per check), so a long
period of a frequent check counts only the runs still kept, and says so.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alerts.history import History
from checks.integrity.store import IntegrityStore
from monitor.app.report.charts import line_chart
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.result import Sample

if TYPE_CHECKING:
    from monitor.app.config import VigilConfig

PATCH_TYPES = ("moodle_updates", "moodle_branch_support", "os_updates")
BACKUP_TYPES = ("moodle_backups",)
INTEGRITY_TYPES = ("code_integrity", "dataroot_scripts")
# (metric, labels to match, title): what the usage charts show.
USAGE_SERIES: tuple[tuple[str, dict[str, str], str], ...] = (
    ("lms_moodle_active_users", {"window": "24h"}, "Active users (last 24 h)"),
    ("lms_moodle_logins", {}, "Logins (per count window of the usage check)"),
    ("lms_moodle_course_completions", {}, "Course completions (per count window)"),
)


def _value(samples: tuple[Sample, ...], name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def _checks(store: StateStore, lms: str, types: tuple[str, ...], since: float,
            until: float) -> list[dict[str, Any]]:
    """Each check of these types: its current state and its results in the period."""
    rows = []
    for state in store.states():
        if state.lms != lms or state.check_type not in types:
            continue
        kept = store.history(lms, state.check, limit=store.history_limit)
        runs = [(at, status) for at, status, _ in kept if since <= at < until]
        rows.append({
            "check": state.check, "type": state.check_type,
            "status": state.result.status.name, "summary": state.result.summary,
            "ran_at": state.ran_at, "samples": state.result.samples,
            "details": state.result.details,
            "runs": dict(Counter(status.name for _, status in runs)),
            # The oldest kept run is inside the period: older runs were dropped.
            "history_truncated": len(kept) >= store.history_limit
            and bool(kept) and kept[-1][0] > since,
        })
    return rows


def patch_level(store: StateStore, lms: str, since: float, until: float
                ) -> list[dict[str, Any]]:
    rows = _checks(store, lms, PATCH_TYPES, since, until)
    for row in rows:
        samples = row.pop("samples")
        details = row.pop("details")
        if row["type"] == "moodle_updates":
            row["security_pending"] = _value(samples, "lms_moodle_update_security_pending")
            installed = details.get("installed")
            row["installed"] = installed.get("release") if isinstance(installed, dict) else None
        elif row["type"] == "os_updates":
            row["security_pending"] = _value(samples, "lms_os_updates_pending", kind="security")
            row["installed"] = None
        else:
            row["security_pending"], row["installed"] = None, None
    return rows


def backups(store: StateStore, lms: str, since: float, until: float) -> list[dict[str, Any]]:
    rows = _checks(store, lms, BACKUP_TYPES, since, until)
    for row in rows:
        samples = row.pop("samples")
        row.pop("details")
        row["last_success"] = _value(samples, "lms_moodle_backup_last_success_timestamp_seconds")
        row["courses"] = {s.labels.get("status", ""): int(s.value) for s in samples
                          if s.name == "lms_moodle_backup_courses"}
    return rows


def integrity(config: VigilConfig, store: StateStore, lms: str, since: float,
              until: float) -> dict[str, Any]:
    checks = _checks(store, lms, INTEGRITY_TYPES, since, until)
    for row in checks:
        row.pop("samples")
        row.pop("details")
    with IntegrityStore(config.state.dir / STATE_FILE) as integrity_store:
        runs = integrity_store.runs_between(lms, since, until)
    return {"checks": checks, "runs": [
        {"root": root, "kind": run.kind, "at": run.at, "actor": run.actor, "files": run.files,
         "added": run.detail.get("added", 0), "removed": run.detail.get("removed", 0),
         "modified": run.detail.get("modified", 0)} for root, run in runs]}


def usage(store: StateStore, lms: str, since: float, until: float, timezone: str = "UTC"
          ) -> list[dict[str, Any]]:
    history = History(store)
    zone = ZoneInfo(timezone)
    start, end = (datetime.fromtimestamp(t, zone).strftime("%d %b %H:%M") for t in (since, until))
    found = []
    for metric, labels, title in USAGE_SERIES:
        points: list[tuple[float, float]] = []
        for (_, key), series in history.series(lms, metric, since, until).items():
            if all(f'"{k}":"{v}"' in key for k, v in labels.items()):
                points += series
        points = sorted(p for p in points if p[0] < until)
        if not points:
            continue
        values = [v for _, v in points]
        found.append({"title": title, "metric": metric, "points": len(points),
                      "first": values[0], "last": values[-1], "min": min(values),
                      "max": max(values), "mean": sum(values) / len(values),
                      "svg": line_chart(points, since, until, title, start, end)})
    return found
