"""Installed versions for the update probe (updates.py): what the site runs and which of its
plugins are additional, read as Moodle's checker does (checker::load_current_environment():
$version/$release of version.php, every non-standard plugin's version on disk), and the
answer Moodle's own cron stored (config_plugins core_plugin/recentresponse, recentfetch).

Sources: the code directory (codebase.py; lib/plugins.json "standard" is
core_plugin_manager::standard_plugins_list()) or, without one, the database's config
version/release and config_plugins <component>/version. Blocking reads run in worker
threads; the database through the read-only pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.branch_table import major_version
from checks.moodle.codebase import VersionCache, read_code_versions, site_layout
from checks.moodle.config_php import PhpSyntaxError
from checks.moodle.schema import moodle_tables
from checks.moodle.site import moodle_site

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")


@dataclass
class Installed:
    version: float
    release: str
    source: str                                   # "version.php" or "database"
    plugins: dict[str, float] = field(default_factory=dict)  # additional plugins
    plugins_known: bool = True                    # False: no standard list to tell them
    database: dict[str, str] = field(default_factory=dict)   # config version/release
    all_plugins: dict[str, float] = field(default_factory=dict)
    stored: tuple[str | None, float | None] = (None, None)   # recentresponse, recentfetch
    problems: list[str] = field(default_factory=list)

    @property
    def branch(self) -> str:
        return major_version(self.release) or ""


async def read_installed(ctx: CheckContext, cache: VersionCache) -> Installed:
    """Core and additional plugin versions: version.php files when the code directory is
    set, else the database; plus Moodle's stored update-check answer when the database is."""
    site = moodle_site(ctx)
    if site.dirroot is None and site.database is None:
        raise CheckUnavailable("needs lms.moodle.dirroot or [lms.moodle.database] to know "
                               "the installed versions")
    db_data: tuple[dict[str, str], dict[str, str]] | None = None
    problems: list[str] = []
    if site.database is not None:
        db = site.database
        try:
            db_data = await db.run(ctx, lambda conn: _read_db(conn, db.prefix))
        except CheckUnavailable as exc:
            if site.dirroot is None:
                raise
            problems.append(f"database: {exc}")
    installed = None
    if site.dirroot is not None:
        dirroot = site.dirroot
        try:
            installed = await ctx.run_blocking(lambda: _from_code(dirroot, cache))
        except CheckUnavailable as exc:
            if db_data is None:
                raise
            problems.append(str(exc))
    if installed is None:
        assert db_data is not None  # no code directory: the database answered or we raised
        installed = _from_db(db_data)
    if db_data is not None:
        config, plugin_config = db_data
        installed.database = {k: config[k] for k in ("version", "release") if k in config}
        installed.stored = (plugin_config.get("recentresponse"),
                            _float(plugin_config.get("recentfetch")))
    installed.problems += problems
    return installed


def _from_code(dirroot: Path, cache: VersionCache) -> Installed:
    """Blocking: version.php files and lib/plugins.json's standard list."""
    try:
        code = read_code_versions(dirroot, cache)
    except FileNotFoundError as exc:
        raise CheckUnavailable(f"no version.php under {dirroot}: {exc}") from None
    except PhpSyntaxError as exc:
        raise CheckUnavailable(f"cannot read the core version.php: {exc}") from None
    if code.version is None or code.release is None or not major_version(code.release):
        raise CheckUnavailable("the core version.php sets no readable $version/$release")
    versions = {c: p.version for c, p in code.plugins.items() if p.version is not None}
    installed = Installed(code.version, code.release, "version.php", all_plugins=versions)
    standard = _standard_plugins(dirroot)
    if standard is None:
        installed.plugins_known = False
        installed.problems.append("lib/plugins.json unreadable: cannot tell additional plugins "
                                  "from standard ones (only plugins in the answer are checked)")
    else:
        installed.plugins = {c: v for c, v in versions.items() if c not in standard}
    return installed


def _from_db(db_data: tuple[dict[str, str], dict[str, str]]) -> Installed:
    config, plugin_config = db_data
    version = _float(config.get("version"))
    release = config.get("release") or ""
    if version is None or not major_version(release):
        raise CheckUnavailable("no config version/release in the database: not an installed "
                               "Moodle (wrong database or prefix?)")
    versions = {k[len("version:"):]: v for k, raw in plugin_config.items()
                if k.startswith("version:") and (v := _float(raw)) is not None}
    return Installed(version, release, "database", plugins_known=False, all_plugins=versions)


def _standard_plugins(dirroot: Path) -> set[str] | None:
    """lib/plugins.json "standard" (core_plugin_manager::standard_plugins_list())."""
    layout = site_layout(dirroot)
    for path in (layout.root / "lib" / "plugins.json", layout.webroot / "lib" / "plugins.json"):
        try:
            standard = json.loads(path.read_text(encoding="utf-8"))["standard"]
            return {f"{t}_{name}" for t, names in standard.items() for name in names}
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
    return None


def _read_db(conn: Connection, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """config version/release/branch; core_plugin recentresponse/recentfetch and every
    component's version as "version:<component>"."""
    tables = moodle_tables(prefix)
    config, plugins = tables.config, tables.config_plugins
    rows = conn.execute(sa.select(config.c.name, config.c.value)
                        .where(config.c.name.in_(("version", "release", "branch")))).all()
    stored = conn.execute(sa.select(plugins.c.name, plugins.c.value).where(
        plugins.c.plugin == "core_plugin",
        plugins.c.name.in_(("recentresponse", "recentfetch")))).all()
    versions = conn.execute(sa.select(plugins.c.plugin, plugins.c.value)
                            .where(plugins.c.name == "version")).all()
    plugin_config = {str(n): str(v) for n, v in stored}
    plugin_config.update({f"version:{p}": str(v) for p, v in versions
                          if p not in ("core", "moodle")})
    return {str(n): str(v) for n, v in rows}, plugin_config


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
