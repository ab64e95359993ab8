"""The audit log: every write made over the HTTP API or with the vigil CLI (issue #11).

Its own table in the state file through the kernel ``Database`` (registered in
monitor/app/store.py DOMAINS). The API records each write operation in
monitor/app/web/access.py, refused ones included; ``vigil alerts ack|unack|resend`` and
``vigil maintenance add|edit|end`` record theirs through ``record``. Read by
``GET /api/v1/audit`` and ``vigil audit list``. A row says when, who (a token's name, or
``cli:<unix user>``), what (operation, target, a short summary that never holds a secret)
and the outcome: ok, refused (a token without the scope, a wrong token, a rule that said
no, such as an exam conflict) or error (bad input, nothing to act on, a failure).

Retention is bounded: rows older than 90 days and all but the newest 100,000 are pruned
on each write, which is cheap (both deletes use the primary key or the time index).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from typing import Any, Literal

from monitor.app.tokens import acts_on_lms
from monitor.kernel.database import Database, Migrations

MIGRATIONS = Migrations("audit", (
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
        operation TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_at ON audit_log (at);
    """,
), legacy=(0,))

Outcome = Literal["ok", "refused", "error"]
KEEP_SECONDS = 90 * 86400.0
KEEP_ROWS = 100_000
_MAX_TEXT = 500  # a summary or reason is one line a human reads, not a payload


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    operation: str
    target: str
    summary: str
    outcome: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor,
                "operation": self.operation, "target": self.target,
                "summary": self.summary, "outcome": self.outcome, "reason": self.reason}


class AuditLog:
    def __init__(self, database: Database, *, keep_seconds: float = KEEP_SECONDS,
                 keep_rows: int = KEEP_ROWS) -> None:
        self.database = database
        self.keep_seconds = keep_seconds
        self.keep_rows = keep_rows

    def record(self, at: float, actor: str, operation: str, *, target: str = "",
               summary: str = "", outcome: Outcome = "ok", reason: str = "") -> int:
        with self.database.transaction() as db:
            cursor = db.execute(
                "INSERT INTO audit_log (at, actor, operation, target, summary, outcome, "
                "reason) VALUES (?,?,?,?,?,?,?)",
                (at, _clip(actor), _clip(operation), _clip(target), _clip(summary), outcome,
                 _clip(reason)))
            db.execute("DELETE FROM audit_log WHERE at < ?", (at - self.keep_seconds,))
            db.execute("DELETE FROM audit_log WHERE id <= ?",
                       (int(cursor.lastrowid or 0) - self.keep_rows,))
        return int(cursor.lastrowid or 0)

    def entries(self, limit: int = 50, before: int | None = None) -> list[AuditEntry]:
        """The newest first; ``before`` (an id) pages back through older ones."""
        rows = self.database.connection.execute(
            "SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**63 - 1, limit)).fetchall()
        return [AuditEntry(row["id"], row["at"], row["actor"], row["operation"],
                           row["target"], row["summary"], row["outcome"], row["reason"])
                for row in rows]


def ack_summary(by: str, comment: str, sticky: bool, expires_at: float | None,
                now: float) -> str:
    """The audit log's line for an ack: who, how long; whether a comment was given (its
    text stays in the alert's record, not in the log)."""
    parts = [f"ack by {by!r}", "sticky" if sticky else "until the status changes"]
    if expires_at is not None:
        parts.append(f"expires in {max(0, round(expires_at - now))} s")
    if comment:
        parts.append("with a comment")
    return ", ".join(parts)


def window_summary(verb: str, fields: dict[str, Any]) -> str:
    """The audit log's line for an add or edit: the name and which fields, not values
    (a comment may hold anything)."""
    name = fields.get("name")
    parts = [f"{verb} {name!r}" if name else verb]
    changed = sorted(key for key in fields if key not in ("name", "actions"))
    if changed:
        parts.append("fields: " + ", ".join(changed))
    lms = acts_on_lms(fields.get("actions"))
    if lms:
        parts.append("LMS actions: " + ", ".join(lms))
    return "; ".join(parts)


def _clip(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_TEXT else line[:_MAX_TEXT - 1] + "…"


def cli_actor() -> str:
    """``cli:<unix user>``: the effective user (what the state file's permissions saw),
    with the sudo caller when there is one."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        user = str(os.geteuid())
    sudo = os.environ.get("SUDO_USER")
    return f"cli:{user}" + (f" (sudo from {sudo})" if sudo and sudo != user else "")


@dataclass(slots=True)
class CliWrite:
    """One CLI write on its way to the log: the command fills in the target and summary as
    it learns them, then ``finish`` records the outcome."""

    log: AuditLog
    operation: str
    actor: str = field(default_factory=cli_actor)
    target: str = ""
    summary: str = ""

    def finish(self, at: float, outcome: Outcome, reason: str = "") -> None:
        self.log.record(at, self.actor, self.operation, target=self.target,
                        summary=self.summary, outcome=outcome, reason=reason)
