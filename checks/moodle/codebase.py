"""What a Moodle code directory holds: its layout, core version.php, plugin version.php files.

Used by ``vigil init`` (discovery.py) and the upgrade probe (upgrade.py); reads files only,
through the safe PHP reader (config_php.py). Layouts (moodle-ops-facts §"5.1 layout"):
- up to 5.0 everything is in one directory: config.php, version.php, admin/cli, mod/...
- from 5.1 the web files live in public/: version.php and the plugin directories are
  there, while config.php, admin/cli and lib/components.json stay at the project root.
Plugin directories come from lib/components.json ``plugintypes`` (core_component reads it,
lib/classes/component.php) plus each plugin's db/subplugins.json, so a subplugin type such
as assignsubmission is known too; a component whose type is unknown is never called missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.moodle.config_php import PhpObject, PhpSyntaxError, Unresolved, parse_php_file

# Fallback when lib/components.json is unreadable: the core plugin types of Moodle 4.x.
_STANDARD_TYPES = {
    "antivirus": "lib/antivirus", "availability": "availability/condition",
    "qtype": "question/type", "mod": "mod", "auth": "auth", "calendartype": "calendar/type",
    "customfield": "customfield/field", "enrol": "enrol", "message": "message/output",
    "block": "blocks", "media": "media/player", "filter": "filter", "editor": "lib/editor",
    "format": "course/format", "dataformat": "dataformat",
    "profilefield": "user/profile/field", "report": "report", "coursereport": "course/report",
    "gradeexport": "grade/export", "gradeimport": "grade/import",
    "gradereport": "grade/report", "gradingform": "grade/grading/form",
    "mlbackend": "lib/mlbackend", "webservice": "webservice", "repository": "repository",
    "portfolio": "portfolio", "search": "search/engine", "qbehaviour": "question/behaviour",
    "qformat": "question/format", "plagiarism": "plagiarism", "tool": "admin/tool",
    "cachestore": "cache/stores", "cachelock": "cache/locks", "fileconverter": "files/converter",
    "contenttype": "contentbank/contenttype", "theme": "theme", "local": "local",
    "h5plib": "h5p/h5plib", "paygw": "payment/gateway", "aiprovider": "ai/provider",
    "aiplacement": "ai/placement", "smsgateway": "sms/gateway", "communication":
    "communication/provider", "tiny": "lib/editor/tiny/plugins", "atto": "lib/editor/atto/plugins",
}


@dataclass(frozen=True, slots=True)
class SiteLayout:
    root: Path     # config.php, admin/cli, lib/components.json
    webroot: Path  # $CFG->dirroot: version.php and plugin directories


@dataclass
class PluginOnDisk:
    component: str
    plugintype: str
    path: Path
    version: float | None  # None: version.php unreadable or without $plugin->version
    problem: str | None = None


@dataclass
class CodeVersions:
    version: float | None
    release: str | None
    branch: str | None
    plugins: dict[str, PluginOnDisk] = field(default_factory=dict)
    plugintypes: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def site_layout(dirroot: Path) -> SiteLayout:
    """The layout of a code directory; accepts the project root or its public/ directory."""
    dirroot = Path(dirroot)
    if dirroot.name == "public" and (dirroot.parent / "config.php").exists():
        dirroot = dirroot.parent
    if (dirroot / "public" / "version.php").is_file():
        return SiteLayout(dirroot, dirroot / "public")
    return SiteLayout(dirroot, dirroot)


def read_core_version(layout: SiteLayout) -> tuple[float | None, str | None, str | None]:
    """$version, $release, $branch of version.php; raises FileNotFoundError/PhpSyntaxError."""
    variables = parse_php_file(layout.webroot / "version.php").variables
    return (_number(variables.get("version")), _text(variables.get("release")),
            _text(variables.get("branch")))


def plugin_types(layout: SiteLayout) -> tuple[dict[str, Path], list[str]]:
    """Plugin type -> directory, from lib/components.json (or Moodle 4.x's list)."""
    problems: list[str] = []
    raw: dict[str, Any] = dict(_STANDARD_TYPES)
    for candidate in (layout.root / "lib" / "components.json",
                      layout.webroot / "lib" / "components.json"):
        if candidate.is_file():
            try:
                raw = dict(json.loads(candidate.read_text(encoding="utf-8"))["plugintypes"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{candidate}: unreadable ({exc}); using the standard types")
            break
    return {t: _resolve(layout, str(d)) for t, d in raw.items() if d}, problems


def _resolve(layout: SiteLayout, relative: str) -> Path:
    """components.json paths are relative to the root in 5.1 (public/mod), to dirroot before."""
    for base in (layout.root, layout.webroot):
        if (base / relative).is_dir():
            return base / relative
    return layout.webroot / relative


# path -> ((mtime_ns, size), version, problem): a long-lived caller (the upgrade check)
# passes one in, so steady-state runs stat the files instead of parsing them again.
VersionCache = dict[Path, tuple[tuple[int, int], float | None, str | None]]


def read_code_versions(dirroot: Path, cache: VersionCache | None = None) -> CodeVersions:
    """Core and every plugin version on disk. Blocking (reads a few hundred small files)."""
    layout = site_layout(dirroot)
    version, release, branch = read_core_version(layout)
    types, problems = plugin_types(layout)
    result = CodeVersions(version, release, branch, plugintypes=dict(types), problems=problems)
    pending = list(types.items())
    while pending:
        plugintype, directory = pending.pop(0)
        for plugin in _plugins_in(plugintype, directory, {} if cache is None else cache):
            result.plugins.setdefault(plugin.component, plugin)
            for subtype, subdir in _subplugin_types(layout, plugin.path).items():
                if subtype not in result.plugintypes:
                    result.plugintypes[subtype] = subdir
                    pending.append((subtype, subdir))
    return result


def _plugins_in(plugintype: str, directory: Path, cache: VersionCache) -> list[PluginOnDisk]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        version_php = Path(entry.path) / "version.php"
        if not entry.is_dir() or not version_php.is_file():
            continue  # core_component ignores a directory without version.php
        version, problem = _plugin_version(version_php, cache)
        found.append(PluginOnDisk(f"{plugintype}_{entry.name}", plugintype, Path(entry.path),
                                  version, problem))
    return found


def _plugin_version(version_php: Path, cache: VersionCache) -> tuple[float | None, str | None]:
    try:
        st = version_php.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        if version_php in cache and cache[version_php][0] == stamp:
            return cache[version_php][1], cache[version_php][2]
        plugin = parse_php_file(version_php).variables.get("plugin")
    except (OSError, PhpSyntaxError) as exc:
        return None, str(exc)
    props = plugin.props if isinstance(plugin, PhpObject) else {}
    version = _number(props.get("version"))
    problem = None if version is not None else "version.php sets no $plugin->version"
    cache[version_php] = (stamp, version, problem)
    return version, problem


def _subplugin_types(layout: SiteLayout, plugindir: Path) -> dict[str, Path]:
    """db/subplugins.json: ``plugintypes`` (paths from the root) or, since 4.3,
    ``subplugintypes`` (paths from the plugin directory)."""
    path = plugindir / "db" / "subplugins.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if isinstance(data.get("subplugintypes"), dict):
        return {t: plugindir / d for t, d in data["subplugintypes"].items()}
    if isinstance(data.get("plugintypes"), dict):
        return {t: _resolve(layout, d) for t, d in data["plugintypes"].items()}
    return {}


def _number(value: Any) -> float | None:
    if isinstance(value, Unresolved) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
