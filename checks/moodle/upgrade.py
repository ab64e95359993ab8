"""The `moodle_upgrade` check: code on disk vs the database, stuck and left-over upgrades.

Data flow: scheduler -> UpgradeCheck.run(ctx) -> version.php files under the code directory
(codebase.py, in a worker thread) + config / config_plugins rows (read-only pool) +
optionally ``admin/cli/upgrade.php --is-pending`` -> Result with lms_moodle_upgrade_* samples.

Semantics copied from Moodle (moodle/moodle):
- lib/moodlelib.php moodle_needs_upgrading(): an upgrade is pending when any component's
  version on disk differs from the database (core: version.php $version vs config.version;
  plugins: $plugin->version vs config_plugins <component>/version), i.e. the
  allversionshash no longer matches; it answers false while config.outagelessupgrade is set.
- lib/classes/plugininfo/base.php get_status(): new (disk only), missing (database only),
  upgrade (disk > db), downgrade (db > disk, "code older than the database": Moodle refuses
  to run, admin/cli/upgrade.php exits with "downgradedcore"), delete (a standard plugin that
  core removed, listed in lib/plugins.json "deleted"; the upgrade uninstalls it).
- lib/upgradelib.php upgrade_set_timeout(): config.upgraderunning holds the time the running
  upgrade step is expected to end; it is removed when the upgrade finishes. A value long
  past means the upgrade died half-way.
- admin/cli/upgrade.php --is-pending: exit 2 "An upgrade is pending", exit 0 otherwise.

Index use: config.name (unique) for a handful of names; config_plugins WHERE name='version'
scans config_plugins (the unique index leads with plugin): a few thousand rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.cli import run_cli
from checks.moodle.codebase import CodeVersions, VersionCache, read_code_versions, site_layout
from checks.moodle.config_php import PhpSyntaxError
from checks.moodle.schema import moodle_tables
from checks.moodle.site import moodle_site, site_database, site_dirroot
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_upgrade_pending", "gauge",
               "1 if code on disk is newer than the database (an upgrade is pending), else 0."),
    MetricSpec("lms_moodle_upgrade_running", "gauge",
               "1 while config upgraderunning is set (an upgrade runs or died), else 0."),
    MetricSpec("lms_moodle_core_version", "gauge",
               "Moodle core version number (YYYYMMDDRR.XX) on disk (version.php) and in the "
               "database (config version).", ("source",)),
    MetricSpec("lms_moodle_plugins", "gauge",
               "Plugins by status, disk vs database: uptodate, upgrade, new, downgrade, "
               "missing, delete.", ("state",)),
)
PLUGIN_STATES = ("uptodate", "upgrade", "new", "downgrade", "missing", "delete")
_CONFIG_NAMES = ("version", "release", "branch", "upgraderunning", "outagelessupgrade")
_LISTED = 10


class UpgradeSpec(CheckSpec):
    type: Literal["moodle_upgrade"]
    interval: PositiveDuration = 300.0
    timeout: PositiveDuration = 60.0
    # Pending code is normal for the minutes between a deploy and `upgrade.php`; meanwhile
    # cron refuses to run ("Moodle upgrade pending, cron execution suspended"), so a
    # forgotten upgrade turns CRITICAL after this long. None: stays WARNING.
    pending_critical_after: Duration | None = 3600.0
    # config.upgraderunning this far past its expected end = the upgrade died half-way.
    stuck_after: Duration = 3600.0
    # Cross-check with admin/cli/upgrade.php --is-pending when [lms.moodle.cli] is set.
    use_cli: bool = True


@dataclass
class Comparison:
    core_disk: float | None
    core_db: float | None
    plugins: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in PLUGIN_STATES})
    unchecked: list[str] = field(default_factory=list)  # DB components of unknown type

    @property
    def pending(self) -> bool:
        core = self.core_disk is not None and self.core_db is not None \
            and self.core_disk > self.core_db
        return core or any(self.plugins[s] for s in ("upgrade", "new", "delete"))


def compare(code: CodeVersions, db_versions: dict[str, str], core_db: float | None,
            deleted: set[str]) -> Comparison:
    """Moodle's plugin status for every component (plugininfo/base.php get_status)."""
    result = Comparison(code.version, core_db)
    for component, plugin in code.plugins.items():
        if plugin.version is None:
            continue
        db = _float(db_versions.get(component))
        state = ("new" if db is None else "uptodate" if db == plugin.version
                 else "upgrade" if plugin.version > db else "downgrade")
        result.plugins[state].append(component)
    for component in sorted(set(db_versions) - set(code.plugins)):
        plugintype = component.split("_", 1)[0]
        if component in deleted:
            result.plugins["delete"].append(component)
        elif plugintype in code.plugintypes:
            result.plugins["missing"].append(component)
        else:
            result.unchecked.append(component)
    return result


class UpgradeCheck:
    """Remembers since when an upgrade has been pending (for pending_critical_after)."""

    def __init__(self, spec: UpgradeSpec) -> None:
        self.spec = spec
        self._pending_since: float | None = None
        self._versions: VersionCache = {}  # plugin version.php files by mtime and size

    async def run(self, ctx: CheckContext) -> Result:
        dirroot = site_dirroot(ctx)
        db = site_database(ctx)
        code = await ctx.run_blocking(lambda: _read_code(dirroot, self._versions))
        config, plugin_versions = await db.run(ctx, lambda conn: _read_db(conn, db.prefix))
        if "version" not in config:
            raise CheckUnavailable(f"no config.version row in the {db.prefix}config table: "
                                   "not an installed Moodle (wrong database or prefix?)")
        deleted = await ctx.run_blocking(lambda: _deleted_plugins(dirroot))
        comparison = compare(code, plugin_versions, _float(config["version"]), deleted)
        cli_pending = await self._cli_pending(ctx)
        return self._judge(ctx.now(), code, config, comparison, cli_pending)

    async def _cli_pending(self, ctx: CheckContext) -> bool | str | None:
        if not self.spec.use_cli or moodle_site(ctx).settings.cli is None:
            return None
        try:
            run = await run_cli(ctx, "upgrade.php", ["--is-pending"])
        except CheckUnavailable as exc:
            return str(exc)
        if run.exit_code in (0, 2):
            return run.exit_code == 2
        return run.failure()

    def _judge(self, now: float, code: CodeVersions, config: dict[str, str],
               comparison: Comparison, cli: bool | str | None) -> Result:
        problems: list[tuple[Status, str]] = []
        core_db = comparison.core_db
        if code.version is not None and core_db is not None and code.version < core_db:
            problems.append((Status.CRITICAL, f"core code on disk ({code.version:.2f}) is "
                                              f"older than the database ({core_db:.2f})"))
        for state, what in (("downgrade", "older on disk than in the database"),
                            ("missing", "in the database but missing from disk")):
            if comparison.plugins[state]:
                problems.append((Status.CRITICAL, _listing(comparison.plugins[state], what)))
        problems += self._running(now, config)
        pending = comparison.pending or cli is True
        problems += self._pending(now, pending, comparison, cli)
        status = Status.worst(s for s, _ in problems)
        summary = "; ".join(text for _, text in sorted(problems, key=lambda p: -_rank(p[0])))
        return Result(status, summary or f"code and database agree (core {_fmt(code.version)}"
                      f", {len(code.plugins)} plugins)", self._samples(code, comparison,
                                                                     pending, config),
                      _details(code, config, comparison, cli, self._pending_since))

    def _running(self, now: float, config: dict[str, str]) -> list[tuple[Status, str]]:
        found: list[tuple[Status, str]] = []
        expected_end = _float(config.get("upgraderunning"))
        if expected_end:
            late = now - expected_end
            if late > self.spec.stuck_after:
                found.append((Status.CRITICAL, f"upgrade stuck: config upgraderunning expected "
                                               f"it to end {_ago(late)} ago"))
            else:
                found.append((Status.WARNING, "upgrade running (site answers \"Site is being "
                                              "upgraded, please retry later\")"))
        if config.get("outagelessupgrade") not in (None, "", "0"):
            found.append((Status.WARNING, "outageless upgrade lock left set (admin/cli/"
                                          "upgrade.php --set-ui-upgrade-lock): Moodle hides "
                                          "pending upgrades until it is removed"))
        return found

    def _pending(self, now: float, pending: bool, comparison: Comparison,
                 cli: bool | str | None) -> list[tuple[Status, str]]:
        if not pending:
            self._pending_since = None
            return []
        self._pending_since = self._pending_since or now
        age = now - self._pending_since
        limit = self.spec.pending_critical_after
        status = Status.CRITICAL if limit is not None and age >= limit else Status.WARNING
        parts = [f"core {_fmt(comparison.core_db)} -> {_fmt(comparison.core_disk)}"] \
            if (comparison.core_disk or 0) > (comparison.core_db or 0) else []
        for state in ("upgrade", "new", "delete"):
            if comparison.plugins[state]:
                parts.append(_listing(comparison.plugins[state], f"to {state}"))
        if not parts and cli is True:
            parts.append("admin/cli/upgrade.php --is-pending says so")
        since = f" for {_ago(age)}" if age > 0 else ""
        return [(status, f"upgrade pending{since} ({'; '.join(parts)}): cron is suspended "
                         "until admin/cli/upgrade.php runs")]

    def _samples(self, code: CodeVersions, comparison: Comparison, pending: bool,
                 config: dict[str, str]) -> tuple[Sample, ...]:
        samples = [Sample("lms_moodle_upgrade_pending", float(pending)),
                   Sample("lms_moodle_upgrade_running", float(bool(_float(
                       config.get("upgraderunning")))))]
        for source, value in (("disk", code.version), ("database", comparison.core_db)):
            if value is not None:
                samples.append(Sample("lms_moodle_core_version", value, {"source": source}))
        samples += [Sample("lms_moodle_plugins", float(len(comparison.plugins[state])),
                           {"state": state}) for state in PLUGIN_STATES]
        return tuple(samples)


def _read_code(dirroot: Path, cache: VersionCache) -> CodeVersions:
    try:
        return read_code_versions(dirroot, cache)
    except FileNotFoundError as exc:
        raise CheckUnavailable(f"no version.php under {dirroot}: {exc}") from None
    except PhpSyntaxError as exc:
        raise CheckUnavailable(f"cannot read the core version.php: {exc}") from None


def _read_db(conn: Connection, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    tables = moodle_tables(prefix)
    config, plugins = tables.config, tables.config_plugins
    rows = conn.execute(sa.select(config.c.name, config.c.value)
                        .where(config.c.name.in_(_CONFIG_NAMES))).all()
    versions = conn.execute(sa.select(plugins.c.plugin, plugins.c.value)
                            .where(plugins.c.name == "version")).all()
    return ({str(n): str(v) for n, v in rows},
            {str(p): str(v) for p, v in versions if p not in ("core", "moodle")})


def _deleted_plugins(dirroot: Path) -> set[str]:
    """lib/plugins.json "deleted": standard plugins core removed (status "delete")."""
    path = site_layout(dirroot).root / "lib" / "plugins.json"
    try:
        deleted = json.loads(path.read_text(encoding="utf-8")).get("deleted", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return {f"{t}_{name}" for t, names in deleted.items() for name in names}


def _details(code: CodeVersions, config: dict[str, str], comparison: Comparison,
             cli: bool | str | None, pending_since: float | None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "core": {"disk": code.version, "database": comparison.core_db,
                 "release_disk": code.release, "release_database": config.get("release")},
        "plugins": {s: c[:_LISTED] for s, c in comparison.plugins.items()
                    if c and s != "uptodate"},
        "plugins_uptodate": len(comparison.plugins["uptodate"]),
    }
    if comparison.unchecked:
        details["unchecked_components"] = comparison.unchecked[:_LISTED]
    if cli is not None:
        details["cli_is_pending"] = cli
    if pending_since is not None:
        details["pending_since"] = pending_since
    if code.problems:
        details["problems"] = code.problems[:_LISTED]
    return details


def _listing(components: list[str], what: str) -> str:
    shown = ", ".join(components[:5]) + (f" and {len(components) - 5} more"
                                         if len(components) > 5 else "")
    return f"{len(components)} plugin(s) {what}: {shown}"


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _fmt(version: float | None) -> str:
    return "?" if version is None else f"{version:.2f}"


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{max(minutes, 1)}m"


def _rank(status: Status) -> int:
    return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[status]
