"""The `moodle_config_drift` check: config.php and chosen database settings against a baseline.

Data flow: scheduler -> ConfigDriftCheck.run(ctx) -> config.php read and parsed in a worker
thread (config_php.py: never executed; every ``$CFG->x`` plus a hash of the whole file) ->
the listed config / config_plugins values on the read-only connection -> fingerprints
(config_fingerprint.py) -> the accepted baseline and its hold (held_change.py, the rule
the security probe uses for site admins), kept under the state directory (check_state.py)
-> on a change, config_log names who changed database settings -> Result.

A change alerts (WARNING, or CRITICAL for ``critical_settings`` such as dbhost, wwwroot,
dataroot) naming the settings added, removed or changed, with ``old -> new`` for ordinary
settings and "(secret changed)" for secret ones; after ``change_hold`` without a further
change the new state becomes the baseline. Moodle facts (moodle-ops-facts §5.4): config.php
silently overrides database values and some knobs exist only there (noemailever,
preventexecpath, alternative_file_system_class, session_handler_class); config_log
(userid, timemodified, plugin, name; lib/moodlelib.php add_to_config_log) records changes
made through the admin pages and admin/cli/cfg.php, not edits of config.php or direct SQL.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.accounts import config_log_authors, usernames
from checks.moodle.check_state import CheckState
from checks.moodle.codebase import site_layout
from checks.moodle.config_drift_report import Observed, judge
from checks.moodle.config_fingerprint import (
    DEFAULT_PUBLIC_NAMES,
    DEFAULT_SECRET_NAMES,
    DEFAULT_SECRET_PATTERNS,
    FILE_KEY,
    Change,
    SecretRule,
    diff,
    flatten,
    snapshot,
)
from checks.moodle.config_php import PhpSyntaxError, parse_config_php, to_python
from checks.moodle.held_change import Hold
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.site import moodle_site
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_config_settings_watched", "gauge",
               "Settings fingerprinted, by source: config_php ($CFG in config.php) or "
               "database (config and config_plugins values on the check's list).",
               ("source",)),
    MetricSpec("lms_moodle_config_settings_changed", "gauge",
               "Settings that differ from the accepted baseline (added, removed or changed), "
               "during the check's hold."),
)
StatusName = Literal["WARNING", "CRITICAL"]
Snapshot = dict[str, dict[str, Any]]

# Security-relevant settings of the config table (public/admin/settings/security.php,
# server.php, development.php, subsystems.php, plugins.php); "plugin/name" reads
# config_plugins.
DEFAULT_DATABASE_SETTINGS = (
    "forcelogin", "forceloginforprofiles", "opentowebcrawlers", "guestloginbutton",
    "autologinguests", "registerauth", "auth", "authpreventaccountcreation",
    "passwordpolicy", "minpasswordlength", "passwordreuselimit", "lockoutthreshold",
    "lockoutduration", "protectusernames", "allowobjectembed", "allowframembedding",
    "enabletrusttext", "allowuserthemes", "allowcoursethemes", "enablewebservices",
    "enablemobilewebservice", "webserviceprotocols", "debug", "debugdisplay", "perfdebug",
    "cronclionly", "cronremotepassword", "smtphosts", "smtpsecure", "smtpuser", "smtppass",
    "noreplyaddress", "allowemailaddresses", "denyemailaddresses", "emailchangeconfirmation",
    "cookiesecure", "curlsecurityblockedhosts", "curlsecurityallowedport", "antiviruses",
    "allowedip", "blockedip",
)
# A change of these is CRITICAL: the site, its data or its database moved, or the file
# store or executable-path protection changed (config-dist.php).
DEFAULT_CRITICAL_SETTINGS = (
    "wwwroot", "dataroot", "dbtype", "dbhost", "dbname", "dbuser", "dbpass", "prefix",
    "passwordsaltmain", "alternative_file_system_class", "preventexecpath", "filedir",
)
_NAME = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?$")


class ConfigDriftSpec(CheckSpec):
    type: Literal["moodle_config_drift"]
    interval: PositiveDuration = 300.0
    config_php: bool = True
    database_settings: list[str] = Field(default_factory=lambda: [*DEFAULT_DATABASE_SETTINGS])
    ignore: list[str] = Field(default_factory=list)  # names never fingerprinted
    secret_patterns: list[str] = Field(default_factory=lambda: [*DEFAULT_SECRET_PATTERNS])
    secret_settings: list[str] = Field(default_factory=lambda: [*DEFAULT_SECRET_NAMES])
    public_settings: list[str] = Field(default_factory=lambda: [*DEFAULT_PUBLIC_NAMES])
    critical_settings: list[str] = Field(default_factory=lambda: [*DEFAULT_CRITICAL_SETTINGS])
    change_status: StatusName = "WARNING"
    # A change alerts this long (restarted by each further change), then is the baseline.
    change_hold: Duration = Field(default=86400.0, ge=0)

    @field_validator("database_settings")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            raise ValueError(f"not a setting name (name or plugin/name): {bad[0]!r}")
        return names

    @field_validator("secret_patterns")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns


def read_config_php(dirroot: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """config.php's settings as ``config.php:<name>`` keys plus the file's hash. None when
    the file cannot be read; only the hash when it does not parse (notes say why)."""
    path = site_layout(dirroot).root / "config.php"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [f"config.php not read: {(exc.strerror or str(exc)).lower()}"]
    values: dict[str, Any] = {FILE_KEY: hashlib.sha256(data).hexdigest()}
    try:
        parsed = parse_config_php(path)
    except (OSError, PhpSyntaxError) as exc:
        return values, [f"config.php could not be parsed ({exc}): its settings are compared "
                        "as they were"]
    for name, value in parsed.values.items():
        values.update(flatten(f"config.php:{name}", to_python(value)))
    return values, []


def read_database(conn: Connection, t: MoodleTables, names: list[str]) -> dict[str, Any]:
    core = sorted({n for n in names if "/" not in n})
    plugin = {tuple(n.split("/", 1)) for n in names if "/" in n}
    values: dict[str, Any] = {}
    if core:
        rows = conn.execute(sa.select(t.config.c.name, t.config.c.value)
                            .where(t.config.c.name.in_(core)))
        values.update({f"config:{name}": value for name, value in rows})
    if plugin:
        cp = t.config_plugins
        found = conn.execute(sa.select(cp.c.plugin, cp.c.name, cp.c.value).where(
            cp.c.plugin.in_(sorted({p for p, _ in plugin})),
            cp.c.name.in_(sorted({n for _, n in plugin}))))
        values.update({f"config_plugins:{p}/{n}": v for p, n, v in found if (p, n) in plugin})
    return values


def _log_key(change: Change) -> tuple[str | None, str]:
    if change.source == "config_plugins":
        plugin, name = change.name.split("/", 1)
        return plugin, name
    return None, change.name


def _name(key: str) -> str:
    return key.split(":", 1)[-1]


class ConfigDriftCheck:
    """The baseline lives in a CheckState: the salt, the hold and what was watched."""

    def __init__(self, spec: ConfigDriftSpec) -> None:
        self.spec = spec
        self._state = CheckState("moodle_config_drift")
        self._rule = SecretRule(spec.secret_patterns, spec.secret_settings,
                                spec.public_settings)

    async def run(self, ctx: CheckContext) -> Result:
        site, spec = moodle_site(ctx), self.spec
        db = site.database if spec.database_settings else None
        dirroot = site.dirroot if spec.config_php else None
        if db is None and dirroot is None:
            raise CheckUnavailable("nothing to fingerprint: set lms.moodle.dirroot (config.php) "
                                   "or a database with database_settings")
        php: dict[str, Any] | None = {}
        notes: list[str] = []
        if dirroot is not None:
            php, notes = await ctx.run_blocking(lambda: read_config_php(dirroot))
        values: dict[str, Any] = dict(php or {})
        if db is not None:
            t = moodle_tables(db.prefix)
            values.update(await db.run(ctx, lambda c: read_database(c, t,
                                                                    spec.database_settings)))
        doc = await ctx.run_blocking(lambda: self._state.load(ctx)) or {}
        salt = bytes.fromhex(doc["salt"]) if isinstance(doc.get("salt"), str) else (
            secrets.token_bytes(16))
        current = snapshot({k: v for k, v in values.items() if self._watched(k)}, salt,
                           self._rule)
        hold, fresh = self._restore(doc, current)
        if not fresh and (php is None or set(php) == {FILE_KEY}):
            _carry_over(hold.accepted, current, whole=php is None)
        now = ctx.now()
        since = hold.observe(current, now, spec.change_hold)
        changes = diff(hold.accepted, current) if since is not None else []
        by, names = await self._authors(ctx, changes, since)
        state = {"salt": salt.hex(), "hold": hold.to_json(), "watching": self._watching()}
        await ctx.run_blocking(lambda: self._state.save(ctx, state))
        if self._state.problem:
            notes.append(self._state.problem)
        return judge(spec, Observed(current, changes, since, hold.changed, fresh, by, names,
                                    notes), now)

    def _watched(self, key: str) -> bool:
        source, name = key.split(":", 1)
        if name.split(".")[0] in self.spec.ignore:
            return False
        if source == "config.php":
            return self.spec.config_php
        return name in self.spec.database_settings

    def _watching(self) -> dict[str, Any]:
        return {"config_php": self.spec.config_php,
                "database": sorted(self.spec.database_settings)}

    def _restore(self, doc: dict[str, Any], current: Snapshot) -> tuple[Hold[Snapshot], bool]:
        """The stored hold (True: none, a new baseline), aligned with what the spec watches
        now: settings no longer watched are dropped, newly watched ones adopted as they are
        (a longer list is not a drift)."""
        try:
            hold: Hold[Snapshot] = Hold.from_json(doc["hold"])
            if not isinstance(hold.accepted, dict):
                raise TypeError("accepted")
        except (KeyError, TypeError, ValueError, AttributeError):
            return Hold(current), True
        stored = doc.get("watching")
        before: dict[str, Any] = stored if isinstance(stored, dict) else {}
        was_php, was_db = before.get("config_php", True), set(before.get("database") or ())
        for snap in (hold.accepted, hold.pending):
            for key in [k for k in (snap or {}) if not self._watched(k)]:
                del snap[key]  # type: ignore[union-attr]
        for key, entry in current.items():
            php_key = key.startswith("config.php:")
            if (php_key and not was_php) or (not php_key and _name(key) not in was_db):
                for snap in (hold.accepted, hold.pending):
                    if snap is not None:
                        snap.setdefault(key, entry)
        return hold, False

    async def _authors(self, ctx: CheckContext, changes: list[Change], since: float | None
                       ) -> tuple[dict[str, tuple[int, int]], dict[int, str]]:
        """Who changed each database setting (config_log), from a little before the change
        was first seen; ids and usernames only, never the logged values."""
        db = moodle_site(ctx).database
        logged = [c for c in changes if c.source != "config.php"]
        if not logged or db is None or since is None:
            return {}, {}
        t = moodle_tables(db.prefix)
        window = since - max(self.spec.interval, 60.0) - 300  # the log lags our schedule

        def work(conn: Connection) -> tuple[dict[str, tuple[int, int]], dict[int, str]]:
            found = config_log_authors(conn, t, window, [_log_key(c) for c in logged])
            by = {c.key: found[_log_key(c)] for c in logged if _log_key(c) in found}
            return by, usernames(conn, t, {uid for _, uid in by.values()})

        return await db.run(ctx, work)


def _carry_over(accepted: Snapshot, current: Snapshot, *, whole: bool) -> None:
    """config.php could not be read (``whole``) or parsed: its settings count as they were,
    so a passing read error does not look like every setting removed."""
    for key, entry in accepted.items():
        if key.startswith("config.php:") and (whole or key != FILE_KEY):
            current.setdefault(key, entry)
