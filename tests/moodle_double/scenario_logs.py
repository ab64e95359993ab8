"""Scenario rows for logstore_standard_log: logins, failed logins, any event.

Row shape from admin/tool/log/store/standard (install.xml, classes/log/store.php) and the
event classes (public/lib/classes/event/base.php: eventname = '\\' . classname, target and
action split at the last underscore). Failed-login reasons: public/lib/authlib.php
AUTH_LOGIN_NOUSER 1, SUSPENDED 2, FAILED 3, LOCKOUT 4, UNAUTHORISED 5, FAILED_RECAPTCHA 6.
``other`` is JSON (logstore_standard/jsonformat = 1, the default since 3.x) or, in older
rows, PHP serialize() output; ``php_serialize`` writes the latter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

from tests.moodle_double.scenario_base import ScenarioBase

AUTH_LOGIN_NOUSER, AUTH_LOGIN_SUSPENDED, AUTH_LOGIN_FAILED = 1, 2, 3
AUTH_LOGIN_LOCKOUT, AUTH_LOGIN_UNAUTHORISED, AUTH_LOGIN_FAILED_RECAPTCHA = 4, 5, 6


def php_serialize(value: Any) -> str:
    """PHP's serialize() for the scalars, lists and dicts found in event ``other``."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, float):
        return f"d:{value!r};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    pairs = [(k, v) for k, v in items]
    body = "".join(php_serialize(k) + php_serialize(v) for k, v in pairs)
    return f"a:{len(pairs)}:{{{body}}}"


class LogRows(ScenarioBase):
    def log_event(self, eventname: str, *, userid: int = 0, at: int | None = None,
                  other: Mapping[str, Any] | None = None, serialized: bool = False,
                  crud: str = "r", edulevel: int = 0, contextid: int = 1,
                  contextlevel: int = 10, contextinstanceid: int = 0, courseid: int = 0,
                  objecttable: str | None = None, objectid: int | None = None,
                  relateduserid: int | None = None, ip: str = "192.0.2.10",
                  origin: str = "web") -> Self:
        """One logstore_standard_log row for the event class ``eventname``."""
        self.insert("logstore_standard_log", self._event_row(
            eventname, userid=userid, at=at, other=other, serialized=serialized, crud=crud,
            edulevel=edulevel, contextid=contextid, contextlevel=contextlevel,
            contextinstanceid=contextinstanceid, courseid=courseid, objecttable=objecttable,
            objectid=objectid, relateduserid=relateduserid, ip=ip, origin=origin))
        return self

    def _event_row(self, eventname: str, *, userid: int, at: int | None,
                   other: Mapping[str, Any] | None, serialized: bool, **fields: Any
                   ) -> dict[str, Any]:
        component, _, short = eventname.lstrip("\\").partition("\\event\\")
        target, _, action = short.rpartition("_")
        encoded = None
        if other is not None:
            encoded = php_serialize(dict(other)) if serialized else json.dumps(dict(other))
        return {"eventname": eventname, "component": component, "action": action,
                "target": target, "userid": userid, "anonymous": 0, "other": encoded,
                "timecreated": self.now if at is None else at, "realuserid": None, **fields}

    def logins(self, user_ids: Iterable[int], within: int = 3600, *,
               usernames: Sequence[str] | None = None) -> Self:
        """One \\core\\event\\user_loggedin per user, spread over the last ``within`` s."""
        ids = list(user_ids)
        rows = [self._event_row(
            "\\core\\event\\user_loggedin", userid=uid, serialized=False,
            at=self.now - within + (i * within) // max(1, len(ids)),
            other={"username": usernames[i] if usernames else f"user{uid}"},
            objecttable="user", objectid=uid, crud="r", edulevel=0, contextid=1,
            contextlevel=10, contextinstanceid=0, courseid=0, relateduserid=None,
            ip="192.0.2.10", origin="web") for i, uid in enumerate(ids)]
        self.insert("logstore_standard_log", rows)
        return self

    def failed_logins(self, n: int, within: int = 600, *,
                      reasons: Sequence[int] = (AUTH_LOGIN_FAILED,),
                      username: str = "admin", userid: int = 0, serialized: bool = False,
                      ip: str = "203.0.113.7") -> Self:
        """``n`` \\core\\event\\user_login_failed rows over the last ``within`` seconds,
        cycling through ``reasons``; ``serialized`` writes ``other`` as PHP serialize()."""
        rows = [self._event_row(
            "\\core\\event\\user_login_failed", userid=userid, serialized=serialized,
            at=self.now - within + (i * within) // max(1, n),
            other={"username": username, "reason": reasons[i % len(reasons)]},
            crud="r", edulevel=0, contextid=1, contextlevel=10, contextinstanceid=0,
            courseid=0, objecttable=None, objectid=None, relateduserid=None, ip=ip,
            origin="web") for i in range(n)]
        self.insert("logstore_standard_log", rows)
        return self
