"""``vigil alerts list|show|ack|unack|outbox|resend``: alerts from the host's shell.

Opens the daemon's state database (``state.dir`` of the config) directly; SQLite's WAL
lets this run beside ``vigil run``, whose router then picks up the 'acknowledged' event.
Access is the file's permissions: whoever may read and write the state directory may ack.
ack, unack and resend are recorded in the audit log (monitor/app/audit.py) as
``cli:<unix user>``, refused and failed ones too.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.acks import AckError
from alerts.engine import fingerprint
from alerts.service import AlertService
from alerts.snapshot import ack_json
from alerts.store import AlertingState, AlertRecord
from monitor.app.audit import AuditLog, CliWrite, ack_summary
from monitor.app.config import ConfigError, load_config
from monitor.app.store import STATE_FILE, StateStore
from monitor.kernel.clock import SystemClock
from monitor.kernel.database import StoreError
from monitor.kernel.spec import parse_duration

EXIT_ERROR = 1
EXIT_CONFIG = 2
AUDITED = {"ack": "alert.ack", "unack": "alert.unack", "resend": "notifications.resend"}
# An AckError's reason: a rule said no (refused), or the input named nothing (error).
_REFUSALS = ("not_firing", "not_acked", "conflict")


def add_parser(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="list, show and acknowledge alerts")
    cmds = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = cmds.add_parser("list", help="firing alerts (--all: every alert)")
    show = cmds.add_parser("show", help="one alert with its events")
    ack = cmds.add_parser("ack", help="acknowledge a firing alert")
    unack = cmds.add_parser("unack", help="withdraw an acknowledgement")
    outbox = cmds.add_parser("outbox", help="notifications not delivered (pending, failed)")
    resend = cmds.add_parser("resend", help="queue notifications that failed permanently "
                             "again (after fixing the receiver)")
    for parser in (listing, show, ack, unack, outbox, resend):
        parser.add_argument("-c", "--config", type=Path, required=True)
    outbox.add_argument("--json", action="store_true", help="print JSON")
    resend.add_argument("--receiver", help="only this receiver (default: every receiver)")
    listing.add_argument("--all", action="store_true", help="also alerts that are not firing")
    for parser in (listing, show):
        parser.add_argument("--json", action="store_true", help="print JSON")
    for parser in (show, ack, unack):
        parser.add_argument("alert", help="fingerprint, or LMS/CHECK")
    for parser in (ack, unack):
        parser.add_argument("--by", default=None, help="who (default: your login name)")
    ack.add_argument("-m", "--comment", default="")
    ack.add_argument("--non-sticky", action="store_true",
                     help="end the ack when the check status changes (default: when OK)")
    ack.add_argument("--expires", help="notify again after this long, e.g. 2h")


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, secrets=getattr(args, "secrets", None))
    except ConfigError as exc:
        print(f"{exc.source}: {'; '.join(exc.problems)}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        store = StateStore(config.state.dir / STATE_FILE, history_limit=config.state.history_limit)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    operation = AUDITED.get(args.alerts_command)
    write = CliWrite(AuditLog(store.database), operation) if operation else None
    try:
        service = AlertService(store, config.alerts)
        code = _run(args, service, write)
    except AckError as exc:
        print(f"vigil alerts {args.alerts_command}: {exc}", file=sys.stderr)
        if write is not None:
            write.finish(SystemClock().time(),
                         "refused" if exc.reason in _REFUSALS else "error", str(exc))
        return EXIT_ERROR
    except Exception as exc:
        if write is not None:
            write.finish(SystemClock().time(), "error", f"{type(exc).__name__}: {exc}")
        raise
    else:
        if write is not None:
            write.finish(SystemClock().time(), "ok")
        return code
    finally:
        store.close()


def _run(args: argparse.Namespace, service: AlertService, write: CliWrite | None) -> int:
    store, now = service.store, SystemClock().time()
    if write is not None:
        write.target = getattr(args, "alert", None) or args.receiver or "all receivers"
    if args.alerts_command == "list":
        alerts = store.all_alerts() if args.all else store.firing_alerts()
        if args.json:
            print(json.dumps([alert_dict(a) for a in alerts], indent=2))
        else:
            for alert in alerts:
                print(alert_line(alert))
            if not alerts:
                print("no alerts firing" if not args.all else "no alerts")
        return 0
    if args.alerts_command == "outbox":
        return _outbox(store, args.json)
    if args.alerts_command == "resend":
        if args.receiver and service.config.receiver(args.receiver) is None:
            raise AckError("invalid", f"--receiver: no receiver {args.receiver!r} in the config")
        count = store.requeue_failed(now, args.receiver)
        if write is not None:
            write.summary = f"{count} failed notification(s) queued again"
        print(f"{count} failed notification(s) queued again; the daemon delivers them"
              " within its poll interval (30 s)")
        return 0
    fp = _fingerprint(args.alert)
    if args.alerts_command == "show":
        found = store.get_alert(fp)
        if found is None:
            raise AckError("not_found", f"no alert {args.alert!r}")
        events: list[dict[str, Any]] = [{"at": e.at, "kind": e.kind, "transition": e.transition,
                   "dedup_key": e.dedup_key, "route_state": e.route_state,
                   "summary": e.summary} for e in store.alert_events(fp)]
        if args.json:
            print(json.dumps({**alert_dict(found), "events": events}, indent=2))
        else:
            print(alert_line(found))
            for event in events:
                print(f"  {_when(event['at'])}  {event['kind']:<15} {event['route_state']:<30}"
                      f" {event['summary']}")
        return 0
    if store.get_alert(fp) is None:  # name it as the user wrote it, not as a fingerprint
        raise AckError("not_found", f"no alert {args.alert!r}")
    by = args.by or getpass.getuser()
    assert write is not None  # ack and unack are audited
    write.target = fp
    write.summary = f"{args.alerts_command} by {by!r}"
    if args.alerts_command == "ack":
        try:
            expires_at = now + parse_duration(args.expires) if args.expires else None
        except ValueError as exc:
            raise AckError("invalid", f"--expires: {exc}") from None
        write.summary = ack_summary(by, args.comment, not args.non_sticky, expires_at, now)
        alert = service.ack(fp, by, args.comment, sticky=not args.non_sticky,
                            expires_at=expires_at, now=now)
        print(f"acknowledged {alert.lms}/{alert.check} ({alert.fingerprint}) as {by}")
        return 0
    alert = service.unack(fp, by, now=now)
    print(f"acknowledgement of {alert.lms}/{alert.check} ({alert.fingerprint}) withdrawn")
    return 0


def _outbox(store: AlertingState, as_json: bool) -> int:
    items = store.outbox_items("failed") + store.outbox_items("pending")
    rows = [{"id": i.id, "state": i.state, "receiver": i.receiver, "dedup_key": i.dedup_key,
             "created_at": i.created_at, "attempts": i.attempts,
             "next_attempt_at": i.next_attempt_at, "last_error": i.last_error,
             "title": i.payload.get("title", "")} for i in items]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['state']:<8} {row['receiver']:<16} {_when(row['created_at'])}"
              f"  attempts {row['attempts']:<3} {row['title']}"
              + (f"\n         last error: {row['last_error']}" if row["last_error"] else ""))
    counts = store.outbox_counts()
    print(f"{counts['pending']} pending, {counts['failed']} failed, {counts['sent']} sent")
    return 0


def _fingerprint(ref: str) -> str:
    lms, slash, check = ref.partition("/")
    return fingerprint(lms, check) if slash else ref


def alert_dict(alert: AlertRecord) -> dict[str, Any]:
    return {"fingerprint": alert.fingerprint, "lms": alert.lms, "check": alert.check,
            "state": alert.state, "status": alert.status.name, "severity": alert.severity,
            "summary": alert.summary, "started_at": alert.started_at,
            "transition": alert.transition, "flapping": alert.flapping,
            "held_reason": alert.held, "acknowledged": ack_json(alert)}


def alert_line(alert: AlertRecord) -> str:
    marks = []
    if alert.acknowledged:
        marks.append(f"acked by {alert.ack_by}")
    if alert.flapping:
        marks.append("flapping")
    if alert.held:
        marks.append(f"held: {alert.held}")
    extra = f" [{', '.join(marks)}]" if marks else ""
    return (f"{alert.fingerprint}  {alert.state:<6} {alert.severity:<8} "
            f"{alert.lms}/{alert.check}  since {_when(alert.started_at)}: {alert.summary}{extra}")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
