"""Who is who in a Moodle database: usernames, the site administrators, config_log authors.

Shared by the probes that name people in alerts: checks/moodle/security.py (site admin
changes), privileged.py (site admins and system managers) and config_drift.py (who changed a
setting). Only ids and usernames ever leave this module: never e-mail addresses, real names
or the values of settings whose names look secret.

Moodle facts (moodle/moodle):
- config ``siteadmins`` is a comma-separated list of user ids (lib/moodlelib.php
  is_siteadmin(), admin/roles/admins.php writes it through set_config + config_log).
- delete_user() (lib/moodlelib.php) keeps the row but puts the e-mail address and a time
  stamp into ``username``: a deleted user is only ever named "(deleted user)".
- config_log (lib/db/install.xml: userid, timemodified, plugin, name, value, oldvalue,
  indexed on timemodified and userid) is written by add_to_config_log() in
  lib/moodlelib.php from the admin pages, admin/cli/cfg.php and set_config(..., log).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from checks.lazy import lazy_import
from checks.moodle.schema import MoodleTables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

DELETED, MISSING = "(deleted user)", "(no such user)"
NAME_CAP = 10  # people named in one summary line


def admin_ids(value: str | None) -> set[int]:
    """The ids in a ``siteadmins`` value (tolerates spaces and stray separators)."""
    return {int(x) for x in re.findall(r"\d+", value or "") if int(x) > 0}


def usernames(conn: Connection, t: MoodleTables, ids: set[int]) -> dict[int, str]:
    """Usernames by id; deleted and missing users are named only as such."""
    if not ids:
        return {}
    u = t.user
    found: dict[int, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):  # bounded IN lists
        rows = conn.execute(sa.select(u.c.id, u.c.username, u.c.deleted)
                            .where(u.c.id.in_(ordered[start:start + 500])))
        found.update({int(i): (DELETED if deleted else name) for i, name, deleted in rows})
    return {i: found.get(i, MISSING) for i in ids}


def siteadmins_log(conn: Connection, t: MoodleTables, since: float
                   ) -> list[tuple[int, int, str, str]]:
    """config_log rows for siteadmins since ``since``: (time, userid, oldvalue, value)."""
    cl = t.config_log
    rows = conn.execute(sa.select(cl.c.timemodified, cl.c.userid, cl.c.oldvalue, cl.c.value)
                        .where(cl.c.timemodified >= int(since), cl.c.name == "siteadmins",
                               sa.or_(cl.c.plugin.is_(None), cl.c.plugin == "core"))
                        .order_by(cl.c.timemodified, cl.c.id))
    return [(int(at), int(uid), old or "", new or "") for at, uid, old, new in rows]


def config_log_authors(conn: Connection, t: MoodleTables, since: float,
                       names: Iterable[tuple[str | None, str]]
                       ) -> dict[tuple[str | None, str], tuple[int, int]]:
    """The latest config_log entry per (plugin, name) since ``since``: (time, userid).

    Core settings are logged with plugin NULL (or 'core' by some callers); only ids and
    times are read, never the logged values.
    """
    wanted = {(None if plugin in (None, "", "core") else plugin, name) for plugin, name in names}
    if not wanted:
        return {}
    cl = t.config_log
    rows = conn.execute(sa.select(cl.c.timemodified, cl.c.userid, cl.c.plugin, cl.c.name)
                        .where(cl.c.timemodified >= int(since),
                               cl.c.name.in_(sorted({name for _, name in wanted})))
                        .order_by(cl.c.timemodified, cl.c.id))
    latest: dict[tuple[str | None, str], tuple[int, int]] = {}
    for at, uid, plugin, name in rows:
        key = (None if plugin in (None, "", "core") else plugin, name)
        if key in wanted:
            latest[key] = (int(at), int(uid))
    return latest


def who(ids: Iterable[int], names: dict[int, str]) -> str:
    """"eve (id 7), bob (id 5)": usernames and ids only, at most NAME_CAP of them."""
    listed = list(ids)
    text = ", ".join(f"{names.get(i, '?')} (id {i})" for i in listed[:NAME_CAP])
    more = len(listed) - NAME_CAP
    return f"{text} and {more} more" if more > 0 else text


def people(ids: Iterable[int], names: dict[int, str]) -> list[dict[str, object]]:
    """Details entries: [{"id": 7, "username": "eve"}, ...], capped."""
    return [{"id": i, "username": names.get(i, "?")} for i in list(ids)[:NAME_CAP]]
