"""Settings a probe reads from the site's config.php, where it overrides the config table.

Moodle loads config.php into $CFG first and the config table after it, keeping what
config.php set (lib/setuplib.php initialise_cfg(): "get_config() keeps forced settings"),
and some knobs exist only there (session_handler_class, session_redis_*, noemailever).
Used by checks/moodle/mail.py and caches.py; parsing is safe (checks/moodle/config_php.py,
never executed). Blocking file I/O: call it through ctx.run_blocking.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checks.base import CheckContext
from checks.moodle.codebase import site_layout
from checks.moodle.config_php import PhpSyntaxError, Unresolved, parse_config_php, to_python
from checks.moodle.site import MoodleSite

_ABSENT = object()


def config_php_settings(ctx: CheckContext, names: Iterable[str]
                        ) -> tuple[dict[str, Any], list[str]]:
    """The ``$CFG->name`` values config.php sets to something knowable, and notes on what
    could not be read. No code directory configured: nothing, no notes."""
    site = ctx.site
    if not isinstance(site, MoodleSite) or site.dirroot is None:
        return {}, []
    path = site_layout(site.dirroot).root / "config.php"
    try:
        config = parse_config_php(path)
    except (OSError, PhpSyntaxError) as exc:
        return {}, [f"config.php not read: {exc}"]
    values: dict[str, Any] = {}
    notes: list[str] = []
    for name in names:
        value = config.setting(name, _ABSENT)
        if value is _ABSENT:
            continue
        if isinstance(value, Unresolved):
            notes.append(f"$CFG->{name} in config.php is not a plain value ({value.reason})")
            continue
        values[name] = to_python(value)
    return values, notes
