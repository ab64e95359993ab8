"""``vigil audit list [--json] [--limit N] [--before ID]``: the audit log from the host's shell.

Reads the audit table (monitor/app/audit.py) of the daemon's state file directly, as
``vigil alerts`` does; newest entries first. monitor/app/cli/main.py adds the subparser
and dispatches here.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.app.audit import AuditEntry, AuditLog
from monitor.app.config import ConfigError, load_config
from monitor.app.store import StateStore
from monitor.kernel.database import StoreError

EXIT_ERROR, EXIT_CONFIG = 1, 2
STATE_FILE = "vigil.sqlite3"  # the daemon's state file (monitor/app/daemon.py STATE_FILE)


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("must be 1..100000")
    return value


def add_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit log of writes (API and CLI)")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    listing = cmds.add_parser("list", help="newest entries first")
    listing.add_argument("-c", "--config", type=Path, required=True)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--limit", type=_positive, default=50, help="entries (default 50)")
    listing.add_argument("--before", type=_positive, help="only entries older than this id")


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{exc.source}: {'; '.join(exc.problems)}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        store = StateStore(config.state.dir / STATE_FILE)
    except StoreError as exc:
        print(f"vigil audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        entries = AuditLog(store.database).entries(limit=args.limit, before=args.before)
    finally:
        store.close()
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
        return 0
    for entry in entries:
        print(entry_line(entry))
    if not entries:
        print("no audit entries")
    return 0


def entry_line(entry: AuditEntry) -> str:
    when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    outcome = entry.outcome + (f" ({entry.reason})" if entry.reason else "")
    target = f" {entry.target}" if entry.target else ""
    return (f"{entry.id:>6}  {when}  {entry.actor:<20} {entry.operation}{target}: "
            f"{entry.summary or '-'} -> {outcome}")
