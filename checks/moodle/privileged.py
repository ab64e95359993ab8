"""The `moodle_privileged_accounts` check: who holds the keys to the site, and who changed that.

Data flow: scheduler -> PrivilegedCheck.run(ctx) -> one read-only round: config siteadmins
and the users holding the watched roles (default ``manager``) at the system context ->
compared with the accepted baseline under the shared hold rule (held_change.py, as the
security probe's site-admin watch; kept under the state directory by check_state.py) ->
while a change alerts, a second round names who made it -> Result.

Moodle facts (moodle/moodle): site administrators are the ids in config ``siteadmins``
(is_siteadmin(), lib/moodlelib.php; admin/roles/admins.php logs the change in config_log);
role assignments at CONTEXT_SYSTEM (contextlevel 10, lib/accesslib.php) in role_assignments
(roleid, contextid, userid, modifierid, timemodified) joined to role.shortname ('manager' is
the standard archetype with nearly every capability). An unassignment deletes the row and
triggers \\core\\event\\role_unassigned (objectid = role id, relateduserid = the user,
userid = who did it; public/lib/classes/event/role_unassigned.php), read from the standard
log when it is enabled. Indexes: context (contextlevel, instanceid) unique, role_assignments
(roleid, contextid), role shortname unique, config_log and logstore on their time columns.
People are shown as username and id only (accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from checks.base import CheckContext
from checks.lazy import lazy_import
from checks.moodle.accounts import admin_ids, people, siteadmins_log, usernames, who
from checks.moodle.check_state import CheckState
from checks.moodle.held_change import Hold
from checks.moodle.logstore import standard_log_enabled
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.site import site_database
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_privileged_accounts", "gauge",
               "Privileged accounts by kind: siteadmin (config siteadmins) or the shortname "
               "of a watched role assigned at the system context (default manager).",
               ("role",)),
    MetricSpec("lms_moodle_privileged_account_changes", "gauge",
               "Privileged accounts added or removed since the accepted baseline, during "
               "the check's hold."),
)
CONTEXT_SYSTEM = 10
SITEADMIN = "siteadmin"
ROLE_UNASSIGNED = "\\core\\event\\role_unassigned"
Members = dict[str, list[int]]  # kind (siteadmin or role shortname) -> sorted user ids
_LOG_SLACK = 300  # config_log and the event log are written a little before we look


class PrivilegedSpec(CheckSpec):
    type: Literal["moodle_privileged_accounts"]
    interval: PositiveDuration = 300.0
    site_admins: bool = True
    roles: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]] = Field(
        default_factory=lambda: ["manager"])  # shortnames watched at the system context
    change_status: Literal["WARNING", "CRITICAL"] = "CRITICAL"
    change_hold: Annotated[Duration, Field(ge=0)] = 86400.0


@dataclass
class Seen:
    members: Members
    missing_roles: list[str]
    assigned: dict[tuple[str, int], tuple[int, int]]  # (role, user) -> (timemodified, by)
    admin_log: list[tuple[int, int, str, str]] = field(default_factory=list)


def _members(conn: Connection, t: MoodleTables, spec: PrivilegedSpec, bootstrap_since: float
             | None) -> Seen:
    members: dict[str, set[int]] = {SITEADMIN: set()} if spec.site_admins else {}
    members.update({role: set() for role in spec.roles})
    assigned: dict[tuple[str, int], tuple[int, int]] = {}
    admin_log: list[tuple[int, int, str, str]] = []
    if spec.site_admins:
        value = conn.execute(sa.select(t.config.c.value)
                             .where(t.config.c.name == "siteadmins")).scalar()
        members[SITEADMIN] = admin_ids(value)
        if bootstrap_since is not None:
            admin_log = siteadmins_log(conn, t, bootstrap_since)
    found_roles: set[str] = set()
    if spec.roles:
        ra, ctx, role = t.role_assignments, t.context, t.role
        found_roles = set(conn.execute(sa.select(role.c.shortname)
                                       .where(role.c.shortname.in_(spec.roles))).scalars())
        rows = conn.execute(
            sa.select(role.c.shortname, ra.c.userid, ra.c.timemodified, ra.c.modifierid)
            .select_from(ra.join(ctx, ctx.c.id == ra.c.contextid)
                         .join(role, role.c.id == ra.c.roleid))
            .where(ctx.c.contextlevel == CONTEXT_SYSTEM, role.c.shortname.in_(spec.roles)))
        for shortname, userid, at, by in rows:
            members[shortname].add(int(userid))
            assigned[(shortname, int(userid))] = (int(at), int(by))
    return Seen({k: sorted(v) for k, v in members.items()},
                [r for r in spec.roles if r not in found_roles], assigned, admin_log)


def _bootstrap(seen: Seen, hold_from: float) -> Hold[Members]:
    """No baseline yet: changes logged within the hold (config_log for site admins, the
    assignment time for roles) still alert, as the security probe does after a restart."""
    accepted = {k: list(v) for k, v in seen.members.items()}
    times: list[float] = []
    if seen.admin_log:
        accepted[SITEADMIN] = sorted(admin_ids(seen.admin_log[0][2]))
        times.append(float(seen.admin_log[0][0]))
    for (role, userid), (at, _by) in seen.assigned.items():
        if at >= hold_from:
            accepted[role] = [u for u in accepted[role] if u != userid]
            times.append(float(at))
    if not times or accepted == seen.members:
        return Hold(seen.members)
    first = min(times)
    return Hold(accepted, seen.members, first, first)


def _actors(conn: Connection, t: MoodleTables, since: float, removed: dict[str, list[int]],
            added: dict[str, list[int]], seen: Seen) -> dict[str, list[int]]:
    """Who made the changes, per kind: config_log for site admins, the assignment's
    modifier for added role holders, role_unassigned events for removed ones."""
    by: dict[str, set[int]] = {}
    if SITEADMIN in removed or SITEADMIN in added:
        by[SITEADMIN] = {uid for _at, uid, _o, _n in siteadmins_log(conn, t, since)}
    for role, users in added.items():
        if role != SITEADMIN:
            by.setdefault(role, set()).update(seen.assigned[(role, u)][1] for u in users
                                              if (role, u) in seen.assigned)
    roles = [r for r in removed if r != SITEADMIN]
    if roles and standard_log_enabled(conn, t):
        log, role_table = t.logstore_standard_log, t.role
        ids: dict[int, str] = {int(i): str(name) for i, name in conn.execute(
            sa.select(role_table.c.id, role_table.c.shortname)
            .where(role_table.c.shortname.in_(roles)))}
        rows = conn.execute(sa.select(log.c.objectid, log.c.relateduserid, log.c.userid).where(
            log.c.timecreated >= int(since), log.c.eventname == ROLE_UNASSIGNED,
            log.c.contextlevel == CONTEXT_SYSTEM, log.c.objectid.in_(list(ids))))
        for roleid, userid, actor in rows:
            shortname = ids.get(roleid)
            if shortname and userid in removed.get(shortname, []):
                by.setdefault(shortname, set()).add(int(actor))
    return {k: sorted(v - {0}) for k, v in by.items()}


class PrivilegedCheck:
    def __init__(self, spec: PrivilegedSpec) -> None:
        self.spec = spec
        self._state = CheckState("moodle_privileged_accounts")

    async def run(self, ctx: CheckContext) -> Result:
        db, spec = site_database(ctx), self.spec
        t, now = moodle_tables(db.prefix), ctx.now()
        doc = await ctx.run_blocking(lambda: self._state.load(ctx)) or {}
        try:
            hold: Hold[Members] | None = Hold.from_json(doc["hold"])
        except (KeyError, TypeError, ValueError, AttributeError):
            hold = None
        boot = now - spec.change_hold if hold is None else None
        seen = await db.run(ctx, lambda conn: _members(conn, t, spec, boot))
        hold = hold or _bootstrap(seen, now - spec.change_hold)
        for snap in (hold.accepted, hold.pending):  # the spec may watch other kinds now
            if snap is not None:
                for kind in [k for k in snap if k not in seen.members]:
                    del snap[kind]
                for kind, users in seen.members.items():
                    snap.setdefault(kind, users)
        since = hold.observe(seen.members, now, spec.change_hold)
        added, removed = _difference(hold.accepted, seen.members) if since else ({}, {})
        involved = {u for users in seen.members.values() for u in users}
        involved |= {u for users in removed.values() for u in users}

        def names_and_actors(conn: Connection) -> tuple[dict[int, str], dict[str, list[int]]]:
            actors = (_actors(conn, t, since - max(spec.interval, 60.0) - _LOG_SLACK,
                              removed, added, seen) if since is not None else {})
            ids = involved | {u for users in actors.values() for u in users}
            return usernames(conn, t, ids), actors

        names, actors = await db.run(ctx, names_and_actors)
        await ctx.run_blocking(lambda: self._state.save(ctx, {"hold": hold.to_json()}))
        return self._judge(seen, hold, since, added, removed, actors, names, now)

    def _judge(self, seen: Seen, hold: Hold[Members], since: float | None,
               added: Members, removed: Members, actors: dict[str, list[int]],
               names: dict[int, str], now: float) -> Result:
        samples = [Sample("lms_moodle_privileged_accounts", len(users), {"role": kind})
                   for kind, users in seen.members.items()]
        changes = sum(len(v) for v in added.values()) + sum(len(v) for v in removed.values())
        samples.append(Sample("lms_moodle_privileged_account_changes", changes))
        details: dict[str, Any] = {
            "members": {k: people(v, names) for k, v in seen.members.items()},
            "missing_roles": seen.missing_roles}
        if since is None or not changes:
            counts = ", ".join(_kind_count(k, len(v)) for k, v in seen.members.items())
            status = Status.WARNING if seen.missing_roles else Status.OK
            missing = (f"; no role with shortname {', '.join(seen.missing_roles)}"
                       if seen.missing_roles else "")
            return Result(status, (counts or "no privileged kind watched") + missing,
                          tuple(samples), details)
        parts = []
        for kind in sorted(added.keys() | removed.keys(), key=lambda k: k != SITEADMIN):
            text = "; ".join(f"{verb} {who(ids, names)}" for verb, ids in (
                ("added", added.get(kind, [])), ("removed", removed.get(kind, []))) if ids)
            by = actors.get(kind)
            parts.append(f"{_label(kind)}: {text}"
                         + (f" by {who(by, names)}" if by else " (no record of who)"))
        hold_left = (hold.changed or now) + self.spec.change_hold - now
        summary = ("privileged accounts changed: " + "; ".join(parts)
                   + f" (becomes the baseline in {fmt_duration(hold_left)} unless it changes "
                     "again)")
        details["change"] = {
            "since": since, "accepted_at": (hold.changed or now) + self.spec.change_hold,
            **{kind: {"added": people(added.get(kind, []), names),
                      "removed": people(removed.get(kind, []), names),
                      "by": people(actors.get(kind, []), names)}
               for kind in added.keys() | removed.keys()}}
        return Result(Status[self.spec.change_status], summary, tuple(samples), details)


def _difference(accepted: Members, current: Members) -> tuple[Members, Members]:
    added, removed = {}, {}
    for kind in accepted.keys() | current.keys():
        old, new = set(accepted.get(kind, [])), set(current.get(kind, []))
        if new - old:
            added[kind] = sorted(new - old)
        if old - new:
            removed[kind] = sorted(old - new)
    return added, removed


def _label(kind: str) -> str:
    return "site administrators" if kind == SITEADMIN else f"{kind} at system level"


def _kind_count(kind: str, count: int) -> str:
    if kind == SITEADMIN:
        return f"{count} site admin" + ("" if count == 1 else "s")
    return f"{count} {kind}" + ("" if count == 1 else "s") + " at system level"
