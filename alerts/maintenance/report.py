"""The post-maintenance report: pure comparison of two check snapshots, and its wording.

Sits under alerts/maintenance/lifecycle.py: at a window's start the lifecycle stores
``take_snapshot(states in scope)``; at its end it runs every check of the scope, takes a
second snapshot and calls ``build_report(...)``. ``ReportRenderer`` turns the report (and
the notices before and at the end of a window) into title, text and HTML from jinja2
templates in alerts/templates/ (maintenance_*.j2, overridable from the admin's
templates_dir), in a sandbox with StrictUndefined and HTML autoescape, as alerts/messages.py
does for alerts. Everything here is JSON-safe dicts in and out: snapshots and reports are
stored in maintenance_occurrences and must survive a restart unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from monitor.kernel.result import Status
from monitor.state.store import CheckState

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Icinga's worst-state order: an UNKNOWN that became CRITICAL is worse, not "the same".
RANK = {Status.OK.name: 0, Status.WARNING.name: 1, Status.UNKNOWN.name: 2,
        Status.CRITICAL.name: 3}
KEY_SAMPLES = 20  # samples kept per check in a snapshot (the first ones a check reports)
SAMPLE_CHANGES = 5  # changed samples shown per worse/better check
LISTED_PATHS = 50  # accepted integrity paths listed per tree


class ReportTemplateError(Exception):
    """A maintenance template is broken; the text names the template and the cause."""


# -- snapshots ---------------------------------------------------------------------------
def check_entry(state: CheckState) -> dict[str, Any]:
    """What a snapshot keeps of one check: status, summary, key samples, versions."""
    result = state.result
    return {
        "lms": state.lms, "check": state.check, "check_type": state.check_type,
        "status": result.status.name, "summary": result.summary, "ran_at": state.ran_at,
        "samples": [[s.name, s.value, dict(s.labels)] for s in result.samples[:KEY_SAMPLES]],
        "versions": versions_of(state.check_type, result.details),
    }


def take_snapshot(states: Iterable[CheckState], at: float) -> dict[str, Any]:
    checks = {f"{s.lms}/{s.check}": check_entry(s) for s in states}
    return json.loads(json.dumps({"taken_at": at, "checks": checks}, default=str))


def versions_of(check_type: str, details: Mapping[str, Any]) -> dict[str, str]:
    """The version facts a check's details carry (core, release, PHP...), as text."""
    got: dict[str, Any] = {}
    if check_type == "moodle_upgrade":
        core = _dict(details.get("core"))
        got = {"core version (code)": core.get("disk"),
               "core version (database)": core.get("database"),
               "release (code)": core.get("release_disk"),
               "release (database)": core.get("release_database"),
               "plugins up to date": details.get("plugins_uptodate"),
               "plugins waiting for upgrade": _count(_dict(details.get("plugins")).get(
                   "upgrade", []) if "plugins" in details else None)}
    elif check_type == "moodle_updates":
        installed = _dict(details.get("installed"))
        newest = _dict(details.get("newest_in_branch"))
        got = {"release": installed.get("release"), "version": installed.get("version"),
               "branch": installed.get("branch"),
               "releases behind": details.get("releases_behind"),
               "newest release of the branch": newest.get("release"),
               "plugin updates available": _count(details.get("plugin_updates"))}
    elif check_type == "moodle_branches":
        got = {"branch": details.get("branch"), "PHP": details.get("php")}
    return {name: str(value) for name, value in got.items() if value not in (None, "")}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


# -- the report --------------------------------------------------------------------------
def build_report(window: Mapping[str, Any], before: Mapping[str, Any],
                 after: Mapping[str, Any], *, integrity: Iterable[Mapping[str, Any]] = (),
                 actions: Iterable[Mapping[str, Any]] = (), generated_at: float) -> dict[str, Any]:
    """Compare the snapshot taken at the start with the one after the final run.

    ``window``: uid, name, timezone, start, end; ``integrity``: per tree what was accepted;
    ``actions``: the occurrence's actions log (maintenance mode on/off and their results).
    """
    old, new = before.get("checks", {}), after.get("checks", {})
    worse, better, failing = [], [], []
    for key in sorted(old.keys() & new.keys()):
        a, b = old[key], new[key]
        change = _change(a, b)
        if RANK[b["status"]] > RANK[a["status"]]:
            worse.append(change)
        elif RANK[b["status"]] < RANK[a["status"]]:
            better.append(change)
        elif b["status"] != Status.OK.name:
            failing.append(change)
    appeared = [_entry(new[k]) for k in sorted(new.keys() - old.keys())]
    vanished = [_entry(old[k]) for k in sorted(old.keys() - new.keys())]
    versions = version_changes(old, new)
    integrity = [integrity_entry(**i) for i in integrity]
    actions = [action_entry(**a) for a in actions]
    outcome = "worse" if worse or any(e["status"] != "OK" for e in appeared) else (
        "better" if better else "unchanged")
    return {
        "window": dict(window), "generated_at": generated_at, "outcome": outcome,
        "snapshot_at": before.get("taken_at"), "checked_at": after.get("taken_at"),
        "lms": sorted({e["lms"] for e in [*old.values(), *new.values()]}),
        "checks": len(new), "worse": worse, "better": better, "still_failing": failing,
        "new_checks": appeared, "not_rerun": vanished, "versions": versions,
        "versions_changed": any(v["changed"] for v in versions),
        "integrity": integrity,
        "integrity_accepted": sum(int(i.get("count", 0)) for i in integrity),
        "actions": actions,
        "actions_failed": sum(1 for a in actions if not a["ok"]),
    }


def integrity_entry(lms: str, check: str, root: str | None, paths: Iterable[str] = (),
                    kept: int = 0, error: str | None = None, count: int | None = None,
                    ) -> dict[str, Any]:
    """One tree's integrity acceptance: the accepted paths (first LISTED_PATHS), how many
    changes from before the window were left for review, or why nothing was accepted."""
    listed = sorted(paths)
    return {"lms": lms, "check": check, "root": root, "paths": listed[:LISTED_PATHS],
            "count": len(listed) if count is None else count, "kept": kept, "error": error}


def action_entry(at: float, action: str, ok: bool, detail: str, lms: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """One line of an occurrence's actions log (maintenance mode on/off, runs, accepts)."""
    return {"at": at, "action": action, "lms": lms, "ok": ok, "detail": detail, **extra}


def _entry(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"lms": e["lms"], "check": e["check"], "check_type": e["check_type"],
            "status": e["status"], "summary": e["summary"]}


def _change(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {"lms": b["lms"], "check": b["check"], "check_type": b["check_type"],
            "before": a["status"], "after": b["status"], "before_summary": a["summary"],
            "after_summary": b["summary"], "samples": sample_changes(a["samples"], b["samples"])}


def sample_changes(before: Iterable[list[Any]], after: Iterable[list[Any]]) -> list[dict[str, Any]]:
    """Samples whose value moved, by (name, labels), at most SAMPLE_CHANGES."""
    def index(samples: Iterable[list[Any]]) -> dict[str, tuple[str, float]]:
        out = {}
        for name, value, labels in samples:
            shown = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                            + "}" if labels else "")
            out[shown] = (name, float(value))
        return out

    old, new = index(before), index(after)
    changed = [{"sample": k, "before": old[k][1], "after": new[k][1]}
               for k in sorted(old.keys() & new.keys()) if old[k][1] != new[k][1]]
    return changed[:SAMPLE_CHANGES]


def version_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every version fact per LMS, before and after (changed ones first)."""
    def per_lms(checks: Mapping[str, Any]) -> dict[tuple[str, str], str]:
        return {(e["lms"], name): value for e in checks.values()
                for name, value in e.get("versions", {}).items()}

    a, b = per_lms(old), per_lms(new)
    rows = [{"lms": lms, "name": name, "before": a.get((lms, name)), "after": b.get((lms, name)),
             "changed": a.get((lms, name)) != b.get((lms, name))}
            for lms, name in sorted(a.keys() | b.keys())]
    return sorted(rows, key=lambda r: not r["changed"])


# -- rendering ---------------------------------------------------------------------------
TEMPLATES = {"title": "maintenance_title.txt.j2", "text": "maintenance_{}.txt.j2",
             "html": "maintenance_{}.html.j2"}


def _is_html(name: str | None) -> bool:
    return name is not None and name.removesuffix(".j2").endswith((".html", ".htm"))


def format_time(timestamp: float | None, tz: str = "UTC") -> str:
    """A moment in the window's own timezone (what the admin scheduled), with its zone."""
    if timestamp is None:
        return "-"
    try:
        zone: Any = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(timestamp, zone).strftime("%Y-%m-%d %H:%M %Z")


class ReportRenderer:
    """Renders notices ("before", "end") and reports ("report"): title, text, html."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        search = [str(templates_dir)] if templates_dir else []
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([*search, str(BUILTIN_TEMPLATES)]),
            undefined=jinja2.StrictUndefined, autoescape=_is_html,
            trim_blocks=True, lstrip_blocks=True)
        self.env.filters["localtime"] = format_time

    def render(self, kind: str, context: Mapping[str, Any]) -> dict[str, str]:
        """kind "before" | "end" use the notice templates, "report" the report ones."""
        body = "report" if kind == "report" else "notice"
        values = {**context, "kind": kind}
        out = {}
        for field, name in TEMPLATES.items():
            out[field] = self._render(name.format(body), values).strip()
        return out

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise ReportTemplateError(f"template {exc.filename or name}, line {exc.lineno}: "
                                      f"{exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise ReportTemplateError(f"template {name}: {exc}") from exc
