"""Reading Moodle's standard log store (logstore_standard_log), shared by the log probes.

Used by checks/moodle/security.py (failed logins) and usage.py (logins, enrolments): is
the store writing at all, the event names probes count, and the ``other`` column decoded
the way Moodle itself does. Pure functions plus one config look-up; no state.

Every query on the log must be bounded on ``timecreated``: its "timecreated" index
(admin/tool/log/store/standard/db/install.xml) is the only one that serves a time range;
``eventname`` has no index in current releases, so it is only ever a filter.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from checks.lazy import lazy_import
from checks.moodle.schema import MoodleTables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

# eventname = '\\' . classname (lib/classes/event/base.php).
FAILED_LOGIN = "\\core\\event\\user_login_failed"
LOGGED_IN = "\\core\\event\\user_loggedin"
ENROLMENT_CREATED = "\\core\\event\\user_enrolment_created"


def standard_log_enabled(conn: Connection, t: MoodleTables) -> bool:
    """tool_log | enabled_stores lists the stores events are written to (admin/tool/log)."""
    cp = t.config_plugins
    value = conn.execute(sa.select(cp.c.value).where(
        cp.c.plugin == "tool_log", cp.c.name == "enabled_stores")).scalar()
    return value is not None and "logstore_standard" in value.split(",")


def php_unserialize(text: str) -> Any:
    """PHP's unserialize() for null, scalars and arrays only (what log rows hold).

    Objects and references raise ValueError: nothing from the log is ever instantiated.
    """
    data = text.encode("utf-8")
    value, end = _php_value(data, 0, 0)
    if end != len(data):
        raise ValueError("trailing data after serialized value")
    return value


def _php_value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > 16:
        raise ValueError("serialized value nested too deeply")
    kind = data[pos:pos + 2]
    if data[pos:pos + 2] == b"N;":
        return None, pos + 2
    if kind in (b"b:", b"i:", b"d:"):
        end = data.index(b";", pos)
        raw = data[pos + 2:end].decode("ascii")
        value: Any = (raw == "1") if kind == b"b:" else int(raw) if kind == b"i:" else float(raw)
        return value, end + 1
    if kind == b"s:":
        colon = data.index(b":", pos + 2)
        length = int(data[pos + 2:colon])
        start = colon + 2  # skip :"
        if data[colon + 1:start] != b'"' or data[start + length:start + length + 2] != b'";':
            raise ValueError("malformed serialized string")
        return data[start:start + length].decode("utf-8", "replace"), start + length + 2
    if kind == b"a:":
        colon = data.index(b":", pos + 2)
        count, pos = int(data[pos + 2:colon]), colon + 2  # skip :{
        result: dict[Any, Any] = {}
        for _ in range(count):
            key, pos = _php_value(data, pos, depth + 1)
            result[key], pos = _php_value(data, pos, depth + 1)
        if data[pos:pos + 1] != b"}":
            raise ValueError("malformed serialized array")
        return result, pos + 1
    raise ValueError(f"unsupported serialized type {kind!r}")


def decode_other(other: str | None) -> Any:
    """The `other` column as \\tool_log\\helper\\reader::decode_other reads it: PHP-serialised
    in rows from before logstore_standard|jsonformat (and from 'N;'), JSON otherwise. Returns
    None for anything unreadable instead of raising."""
    if other is None:
        return None
    try:
        if other == "N;" or re.match(r"^.:", other):
            return php_unserialize(other)
        return json.loads(other)
    except (ValueError, IndexError, RecursionError):
        return None
