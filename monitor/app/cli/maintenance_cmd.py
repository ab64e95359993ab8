"""`vigil maintenance add|list|show|edit|end`: the admin's side of maintenance windows.

monitor/app/cli/main.py adds the subparser (add_parser) and dispatches here (main). Commands read
the config (-c) for the LMS names and the state directory and open the daemon's state DB
directly (SQLite WAL: safe while `vigil run` is up; the daemon sees the change on its next
look). `add` and `edit` check Moodle exams like the API (alerts/maintenance/scheduling.py).
Exit codes: 0 done; 1 refused because of exams (use --force); 2 bad arguments, config or
window (every problem printed as ``field: rule``); 3 the state DB cannot be opened.
add, edit and end are recorded in the audit log (monitor/app/audit.py) as
``cli:<unix user>``, refused and failed ones too.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.maintenance.book import (
    MaintenanceBook,
    ReadOnlyWindow,
    WindowError,
    WindowNotFound,
    parse_spec,
)
from alerts.maintenance.scheduling import Outcome, add_window, edit_window
from alerts.maintenance.store import Window
from checks.actions_registry import MAINTENANCE_ACTIONS
from monitor.app.audit import AuditLog, CliWrite, window_summary
from monitor.app.audit import Outcome as AuditOutcome
from monitor.app.config import ConfigError, VigilConfig, load_config
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.clock import SystemClock
from monitor.kernel.database import StoreError

EXIT_REFUSED, EXIT_USAGE, EXIT_FAILED = 1, 2, 3
AUDITED = {"add": "maintenance.create", "edit": "maintenance.edit",
           "end": "maintenance.end"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("maintenance", help="maintenance windows: add, list, show, "
                            "edit, end")
    commands = parser.add_subparsers(dest="maintenance_command", required=True)
    add = commands.add_parser("add", help="schedule a window (one-off, recurring or manual)")
    _window_flags(add, adding=True)
    lst = commands.add_parser("list", help="list windows")
    lst.add_argument("--all", action="store_true", help="include ended windows")
    show = commands.add_parser("show", help="one window and its next occurrences")
    show.add_argument("id", type=int)
    show.add_argument("--next", type=int, default=5, help="occurrences to list")
    edit = commands.add_parser("edit", help="change a window (API/CLI windows only)")
    edit.add_argument("id", type=int)
    _window_flags(edit, adding=False)
    end = commands.add_parser("end", help="end a window now (a running one stops)")
    end.add_argument("id", type=int)
    for cmd in (add, lst, show, edit, end):
        cmd.add_argument("-c", "--config", type=Path, required=True)
        cmd.add_argument("--json", action="store_true", help="print JSON")


def _window_flags(cmd: argparse.ArgumentParser, *, adding: bool) -> None:
    cmd.add_argument("--name", required=adding)
    cmd.add_argument("--lms", help="scope: this LMS (a matcher lms=NAME)")
    cmd.add_argument("--check", help="scope: this check name (a matcher check=NAME)")
    cmd.add_argument("--match", action="append", metavar="LABEL=VALUE",
                     help="scope: a label matcher (=, !=, =~, !~); repeatable")
    cmd.add_argument("--start", help="local wall-clock start, e.g. '2026-03-29 02:30' "
                     "(or 'now'); for --rrule the first occurrence")
    cmd.add_argument("--end", help="local wall-clock end")
    cmd.add_argument("--duration", help="e.g. 90m, 2h (instead of --end)")
    cmd.add_argument("--rrule", help="RFC 5545 RRULE, e.g. 'FREQ=WEEKLY;BYDAY=SU'")
    cmd.add_argument("--timezone", help="IANA timezone of the times (default UTC)")
    cmd.add_argument("--manual", action="store_true", help="open until `vigil maintenance "
                     "end`")
    cmd.add_argument("--comment")
    cmd.add_argument("--by", help="who schedules it (default: the login name)")
    cmd.add_argument("--force", action="store_true", help="schedule even over Moodle exams")
    cmd.add_argument("--notify-before", help="send a notice this long before each start")
    cmd.add_argument("--notify-at-end", action="store_true", default=None)
    cmd.add_argument("--notify-receiver", action="append", help="receiver for notices "
                     "(default: all); repeatable")
    cmd.add_argument("--lms-maintenance-mode", action="store_true", default=None,
                     help="switch the LMS's own maintenance mode on at start, off at end")
    cmd.add_argument("--accept-integrity-changes", action="store_true", default=None)
    cmd.add_argument("--no-report", dest="report", action="store_false", default=None,
                     help="no post-maintenance report")
    cmd.add_argument("--report-receiver", action="append")


def _changes(args: argparse.Namespace, now_local: datetime | None) -> dict[str, Any]:
    """The window fields the flags set (only those given)."""
    data: dict[str, Any] = {}
    for key in ("name", "lms", "check", "end", "duration", "rrule", "timezone", "comment"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.start is not None:
        data["start"] = now_local if args.start == "now" else args.start
    if args.match:
        data["matchers"] = list(args.match)
    if args.manual:
        data["kind"] = "manual"
    if args.by:
        data["created_by"] = args.by
    actions = {key: value for key, value in (
        ("notify_before", args.notify_before), ("notify_at_end", args.notify_at_end),
        ("notify_receivers", args.notify_receiver),
        ("lms_maintenance_mode", args.lms_maintenance_mode),
        ("accept_integrity_changes", args.accept_integrity_changes),
        ("report", args.report), ("report_receivers", args.report_receiver)) if value is not None}
    if actions:
        data["actions"] = actions
    return data


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, secrets=getattr(args, "secrets", None))
    except ConfigError as exc:
        return _fail([f"{exc.source}: {p}" for p in exc.problems])
    try:
        store = StateStore(config.state.dir / STATE_FILE)
    except StoreError as exc:
        print(f"vigil maintenance: {exc}", file=sys.stderr)
        return EXIT_FAILED
    clock = SystemClock()
    book = MaintenanceBook(store.database, clock)
    operation = AUDITED.get(args.maintenance_command)
    write = CliWrite(AuditLog(store.database), operation) if operation else None
    try:
        # The config's [[maintenance]] windows too, as the daemon does at start and reload.
        book.apply_config(config)
        code = _run(args, config, book, clock.time(), write)
    except (WindowError, ConfigError) as exc:
        problems = getattr(exc, "problems", [str(exc)])
        _finish(write, clock, "error", "; ".join(problems))
        return _fail(problems)
    except (WindowNotFound, ReadOnlyWindow) as exc:
        _finish(write, clock, "refused" if isinstance(exc, ReadOnlyWindow) else "error",
                str(exc))
        return _fail([str(exc)])
    except Exception as exc:
        _finish(write, clock, "error", f"{type(exc).__name__}: {exc}")
        raise
    else:
        _finish(write, clock, "ok" if code == 0 else "refused",
                "" if code == 0 else "overlaps Moodle exams (use --force)")
        return code
    finally:
        store.close()


def _finish(write: CliWrite | None, clock: SystemClock, outcome: AuditOutcome, reason: str
            ) -> None:
    if write is not None:
        write.finish(clock.time(), outcome, reason)


def _run(args: argparse.Namespace, config: VigilConfig, book: MaintenanceBook,
         now: float, write: CliWrite | None = None) -> int:
    command = args.maintenance_command
    if write is not None and command != "add":
        write.target = str(args.id)
    if command == "list":
        windows = book.list(include_ended=args.all)
        if args.json:
            print(json.dumps({"windows": [_with_state(book, w, now) for w in windows]}, indent=2))
        else:
            for w in windows:
                print(_line(book, w, now))
            if not windows:
                print("no maintenance windows")
        return 0
    if command == "show":
        window = book.get(args.id)
        body = _with_state(book, window, now, upcoming=args.next)
        print(json.dumps(body, indent=2) if args.json else _details(body))
        return 0
    if command == "end":
        if write is not None:
            write.summary = "end now"
        window = book.end(args.id, now=now)
        _print_window(args, window, f"ended window {window.id} ({window.spec.name})")
        return 0
    zone = args.timezone or "UTC"
    now_local = None
    if args.start == "now":
        try:
            now_local = datetime.fromtimestamp(now, ZoneInfo(zone)).replace(tzinfo=None,
                                                                            microsecond=0)
        except Exception:
            now_local = None  # the spec's timezone check reports the bad zone
    changes = _changes(args, now_local)
    if write is not None:
        write.summary = window_summary(command, changes) + (", forced" if args.force else "")
    if command == "add":
        changes.setdefault("created_by", _login())
        spec = parse_spec(changes)
        outcome = _with_sites(config, lambda sites: add_window(
            book, spec, sites, actions=MAINTENANCE_ACTIONS, source="cli", force=args.force,
            now=now))
    else:
        outcome = _with_sites(config, lambda sites: edit_window(
            book, args.id, changes, sites, actions=MAINTENANCE_ACTIONS, force=args.force,
            now=now))
    if write is not None and outcome.window is not None:
        write.target = str(outcome.window.id)
    return _report(args, outcome, "scheduled" if command == "add" else "changed")


def _with_sites(config: VigilConfig, work: Any) -> Outcome:
    from monitor.app.sites import SiteRegistry

    sites = SiteRegistry()
    try:
        return asyncio.run(work(sites.lms_for(config)))
    finally:
        sites.close()


def _report(args: argparse.Namespace, outcome: Outcome, verb: str) -> int:
    exams = outcome.exams
    if args.json:
        print(json.dumps(outcome.as_json(), indent=2))
    elif outcome.window is not None:
        print(f"{verb} window {outcome.window.id} ({outcome.window.spec.name})")
    for lms, why in exams.unchecked.items():
        print(f"note: exams not checked on {lms}: {why}", file=sys.stderr)
    if outcome.refused:
        print("refused: the window overlaps Moodle exams (use --force to schedule it "
              "anyway):", file=sys.stderr)
        for line in exams.lines():
            print(f"  {line}", file=sys.stderr)
        return EXIT_REFUSED
    if exams.blocks:
        print("forced over:", file=sys.stderr)
        for line in exams.lines():
            print(f"  {line}", file=sys.stderr)
    return 0


def _with_state(book: MaintenanceBook, window: Window, now: float,
                upcoming: int = 1) -> dict[str, Any]:
    body = window.as_json()
    occurrences = book.next_of(window, now, upcoming)
    body["active"] = any(o.contains(now) for o in occurrences)
    body["next"] = [{"start": _local(o.start, window.spec.timezone),
                     "end": _local(o.end, window.spec.timezone) if o.end else None,
                     "start_ts": o.start, "end_ts": o.end} for o in occurrences]
    return body


def _line(book: MaintenanceBook, window: Window, now: float) -> str:
    body = _with_state(book, window, now)
    spec = window.spec
    state = ("ended" if window.ended_at is not None and not body["active"] else
             "ACTIVE" if body["active"] else "scheduled")
    when = body["next"][0]["start"] if body["next"] else "-"
    return (f"{window.id:>4}  {state:<9}  {spec.kind:<9}  next {when:<22}  {spec.name}  "
            f"[{', '.join(spec.matchers)}]  ({window.source})")


def _details(body: dict[str, Any]) -> str:
    lines = [f"{key}: {value}" for key, value in body.items() if key not in ("next", "actions")]
    lines.append("actions: " + ", ".join(f"{k}={v}" for k, v in body["actions"].items()))
    lines.append("next occurrences:")
    lines += [f"  {o['start']} -> {o['end'] or 'until ended'}" for o in body["next"]]
    return "\n".join(lines)


def _local(timestamp: float, zone: str) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _print_window(args: argparse.Namespace, window: Window, text: str) -> None:
    print(json.dumps({"window": window.as_json()}, indent=2) if args.json else text)


def _login() -> str:
    return f"{os.environ.get('SUDO_USER') or getpass.getuser()} (cli)"


def _fail(problems: list[str]) -> int:
    for problem in problems:
        print(f"vigil maintenance: {problem}", file=sys.stderr)
    return EXIT_USAGE
