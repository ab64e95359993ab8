"""``vigil report``: the stakeholder report of one LMS over a period, on demand.

Reads the daemon's state database (``state.dir`` of the config) without writing to it
(SQLite's WAL lets this run beside ``vigil run``) and prints the report as text (for a
terminal or the plain part of an e-mail), HTML or PDF (headless Chromium), to stdout or
``-o FILE``. Bad options (an unknown LMS, a period that cannot be read) exit 2 with the
reason; a report that cannot be produced (no state database, no Chromium) exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.app.config import ConfigError, load_config
from monitor.app.report.gather import gather
from monitor.app.report.period import ACCEPTED, PeriodError, period
from monitor.app.report.render import RenderError, render
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.clock import SystemClock
from monitor.kernel.database import StoreError
from monitor.kernel.redact import SecretRegistry
from monitor.kernel.zones import known_zone

EXIT_ERROR = 1
EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="the stakeholder report of one LMS (text, HTML, PDF)")
    report.add_argument("-c", "--config", type=Path, required=True)
    report.add_argument("--lms", required=True, help="the LMS (its name in the config)")
    report.add_argument("--since", default="7d", help=f"start of the period: {ACCEPTED} "
                        "(default 7d)")
    report.add_argument("--until", default=None, help="end of the period (default now), "
                        "as --since")
    report.add_argument("--format", choices=["text", "html", "pdf"], default="text")
    report.add_argument("--timezone", default=None,
                        help="show times in this IANA zone (default [report] timezone or UTC)")
    report.add_argument("-o", "--output", type=Path, help="write here instead of stdout")


def _fail(message: str, code: int) -> int:
    print(f"vigil report: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    secrets: SecretRegistry = getattr(args, "secrets", None) or SecretRegistry()
    try:
        config = load_config(args.config, secrets=secrets)
    except ConfigError as exc:
        return _fail(f"{exc.source}: {'; '.join(exc.problems)}", EXIT_USAGE)
    names = [site.name for site in config.lms]
    if args.lms not in names:
        return _fail(f"--lms: no LMS named {args.lms!r} in {args.config} "
                     f"(known: {', '.join(names) or 'none'})", EXIT_USAGE)
    zone = args.timezone or (config.report.timezone if config.report else "UTC")
    try:
        known_zone(zone)
    except ValueError as exc:
        return _fail(f"--timezone: {exc}", EXIT_USAGE)
    now = SystemClock().time()
    try:
        since, until = period(args.since, args.until, now, zone)
    except PeriodError as exc:
        return _fail(str(exc), EXIT_USAGE)
    path = config.state.dir / STATE_FILE
    if not path.exists():
        return _fail(f"no state database at {path} (has `vigil run` run with this "
                     "config?)", EXIT_ERROR)
    try:
        store = StateStore(path, history_limit=config.state.history_limit)
    except StoreError as exc:
        return _fail(str(exc), EXIT_ERROR)
    try:
        report = gather(config, store, args.lms, since, until, now, timezone=zone)
        body = render(secrets.redact_value(report), args.format, secrets)
    except RenderError as exc:
        return _fail(str(exc), EXIT_ERROR)
    finally:
        store.close()
    if args.output is not None:
        try:
            args.output.write_bytes(body)
        except OSError as exc:
            return _fail(f"-o: cannot write {args.output}: {exc.strerror}", EXIT_ERROR)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
