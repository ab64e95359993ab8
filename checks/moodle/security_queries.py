"""The `moodle_security` check's reads: failed logins by reason and source, baseline
buckets, locked accounts.

Called by checks/moodle/security.py ``SecurityCheck`` inside its one read-only round on
the site's database (a worker thread). Every log query is bounded on ``timecreated``
(index "timecreated" in admin/tool/log/store/standard/db/install.xml); lockouts use
user_preferences' "name" index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checks.lazy import lazy_import
from checks.moodle.logstore import FAILED_LOGIN, decode_other
from checks.moodle.schema import MoodleTables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

# other['reason'] of user_login_failed: the AUTH_LOGIN_* constants of lib/authlib.php.
REASONS = {1: "nouser", 2: "suspended", 3: "failed", 4: "lockout", 5: "unauthorised",
           6: "failed_recaptcha"}
REASON_LABELS = (*REASONS.values(), "other")
_MAX_PARSED = 20_000  # rows whose `other` we decode per run; more only scales the counts


def failure_reason(other: str | None) -> str:
    decoded = decode_other(other)
    if isinstance(decoded, dict):
        try:
            return REASONS.get(int(decoded.get("reason")), "other")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    return "other"


@dataclass
class Observed:
    failed: int
    by_reason: dict[str, int]
    top_sources: list[dict[str, Any]]
    buckets: dict[int, int]
    locked: int | None  # None: lockout disabled (lockoutthreshold = 0)
    admins: set[int]  # config siteadmins
    names: dict[int, str]  # id -> username, or a marker for deleted/missing users
    admin_log: list[tuple[int, int, str, str]] = field(default_factory=list)


def read_config(conn: Connection, t: MoodleTables, names: list[str]) -> dict[str, str]:
    rows = conn.execute(sa.select(t.config.c.name, t.config.c.value)
                        .where(t.config.c.name.in_(names)))
    return {name: value for name, value in rows}


def failed_window(conn: Connection, t: MoodleTables, start: int, end: int
                   ) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    """Failed logins with start < timecreated <= end: count, by reason, top source IPs."""
    log = t.logstore_standard_log
    where = (log.c.timecreated > start, log.c.timecreated <= end,
             log.c.eventname == FAILED_LOGIN)
    count = int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar() or 0)
    by_reason = dict.fromkeys(REASON_LABELS, 0)
    others = conn.execute(sa.select(log.c.other).where(*where).limit(_MAX_PARSED)).scalars()
    for other in others:
        by_reason[failure_reason(other)] += 1
    parsed = sum(by_reason.values())
    if parsed and parsed < count:  # a flood beyond _MAX_PARSED: scale the sample up
        by_reason = {k: round(v * count / parsed) for k, v in by_reason.items()}
    hits = sa.func.count().label("hits")
    top = conn.execute(sa.select(log.c.ip, hits).where(*where).group_by(log.c.ip)
                       .order_by(hits.desc()).limit(5))
    return count, by_reason, [{"ip": ip or "", "count": int(n)} for ip, n in top]


def bucket_counts(conn: Connection, t: MoodleTables, width: int, first: int, stop: int
                   ) -> dict[int, int]:
    """Failed logins per bucket ``timecreated // width`` for buckets first..stop-1."""
    log = t.logstore_standard_log
    bucket = (log.c.timecreated // width).label("bucket")
    rows = conn.execute(sa.select(bucket, sa.func.count()).where(
        log.c.timecreated >= first * width, log.c.timecreated < stop * width,
        log.c.eventname == FAILED_LOGIN).group_by(bucket))
    counts = dict.fromkeys(range(first, stop), 0)
    counts.update({int(b): int(n) for b, n in rows})
    return counts


def locked_accounts(conn: Connection, t: MoodleTables, now: float, config: dict[str, str]
                     ) -> int | None:
    """Accounts login_is_lockedout() would refuse now (lib/authlib.php): preference
    login_lockout holds the lock time; lockoutduration 0 locks until an admin unlocks."""
    if _int(config.get("lockoutthreshold")) <= 0:
        return None
    duration = _int(config.get("lockoutduration"), 1800)  # admin/settings/security.php
    up = t.user_preferences
    values = conn.execute(sa.select(up.c.value).where(up.c.name == "login_lockout")).scalars()
    locked_at = [_int(v) for v in values]
    return sum(1 for at in locked_at if at > 0 and (duration <= 0 or now - at < duration))


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return default
