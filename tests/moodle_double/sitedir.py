"""A fake Moodle site directory for tests: the files Vigil reads and a fake ``php``.

``make_site(tmp_path, layout="4.5"|"5.1", ...)`` writes, as real Moodle lays them out:
- config.php at the root (both layouts) with the database settings, wwwroot, dataroot;
  5.1 adds the public/config.php loader and the root lib/setup.php shim;
- version.php ($version, $release, $branch, $maturity) at the root (4.x) or in
  public/ (5.1+), plugin version.php files ($plugin->version, $plugin->component) in the
  plugin type directories named by lib/components.json (root lib/ in both layouts; 5.1's
  paths start with public/);
- admin/cli/{checks,upgrade,maintenance,cron}.php at the root (also in 5.1);
- a dataroot with filedir/aa/bb/<sha1> blobs and, optionally, climaintenance.html;
- a fake ``php`` executable (sitedir_php.py) whose behaviour tests steer through
  ``FakeSite`` (check results, upgrade pending, hang/garbage/fatal modes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from checks.base import CheckContext
from checks.moodle.settings import CliSettings, DatabaseSettings, MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.kernel.target import Target

REPO_ROOT = Path(__file__).resolve().parents[2]
Layout = Literal["4.5", "5.1"]
CORE = {  # version.php of each layout's release (moodle/moodle MOODLE_405_STABLE, main)
    "4.5": {"version": 2024100700.00, "release": "4.5 (Build: 20241007)", "branch": "405"},
    "5.1": {"version": 2025100600.02, "release": "5.1+ (Build: 20251017)", "branch": "501"},
}
PLUGIN_TYPES = {"mod": "mod", "auth": "auth", "block": "blocks", "tool": "admin/tool",
                "local": "local", "enrol": "enrol", "qtype": "question/type",
                "theme": "theme", "report": "report", "filter": "filter"}
DEFAULT_PLUGINS = ("mod_quiz", "mod_assign", "auth_manual", "block_html", "tool_task",
                   "enrol_manual", "theme_boost")
CLI_SCRIPTS = ("checks.php", "upgrade.php", "maintenance.php", "cron.php", "cfg.php")
DEFAULT_CHECKS: dict[str, list[tuple[str, str, str, str]]] = {  # ref, name, status, summary
    "status": [
        ("core_environment", "Environment", "ok", "All environment checks passed"),
        ("core_upgradecheck", "Upgrade check", "ok", "No upgrade is pending"),
        ("tool_task_cronrunning", "Cron running", "ok", "Cron is running frequently"),
        ("tool_task_maxfaildelay", "Tasks max fail delay", "ok", "No failing tasks"),
        ("tool_task_adhocqueue", "Ad hoc task queue", "ok", "No ad hoc tasks are queued"),
        ("tool_task_longrunningtasks", "Long running tasks", "ok", "No long running tasks"),
    ],
    "security": [
        ("core_displayerrors", "Displaying of PHP errors", "ok", "Displaying errors is off"),
        ("core_unsecuredataroot", "Insecure dataroot", "ok", "Dataroot is not web accessible"),
        ("core_configrw", "Writable config.php", "ok", "config.php is not writable"),
        ("core_preventexecpath", "Executable paths", "ok", "Executable paths are locked"),
        ("core_passwordpolicy", "Password policy", "ok", "Password policy is enabled"),
        ("core_riskxss", "XSS trusted users", "warning",
         "Users who may post untrusted content: 12"),
        # report_security's lang strings (check_riskbackup_warning): WARNING on a stock
        # site, the Manager role may back up user data (riskbackup_result.php).
        ("core_riskbackup", "Backup of user data", "warning",
         "Found 1 roles, 0 overrides and 1 users with the ability to backup user data."),
        ("core_riskadmin", "Administrators", "info", "There is 1 site administrator"),
        ("core_cookiesecure", "Secure cookies only", "ok", "Secure cookies enabled"),
    ],
    "performance": [
        ("core_designermode", "Theme designer mode", "ok", "Theme designer mode is off"),
        ("core_cachejs", "Cache JavaScript", "ok", "JavaScript caching is on"),
        ("core_debugging", "Debug messages", "ok", "Debugging is off"),
        ("core_backups", "Automated backups", "ok", "Automated backups are off"),
        ("core_dbschema", "Database schema", "ok", "The database schema is correct"),
    ],
}


@dataclass
class FakeSite:
    root: Path       # where config.php and admin/cli live ($CFG->root in 5.1)
    webroot: Path    # $CFG->dirroot: root (4.x) or root/public (5.1+)
    dataroot: Path
    layout: Layout
    php: Path
    state_path: Path

    @property
    def config_php(self) -> Path:
        return self.root / "config.php"

    @property
    def version_php(self) -> Path:
        return self.webroot / "version.php"

    # -- what Vigil is configured with ------------------------------------------------
    def cli_settings(self, timeout: float = 120.0) -> CliSettings:
        return CliSettings(php=str(self.php), timeout=timeout)

    def moodle_settings(self, database: DatabaseSettings | None = None,
                        cli: bool = True, timeout: float = 120.0) -> MoodleSettings:
        return MoodleSettings(dirroot=self.root, dataroot=self.dataroot, database=database,
                              cli=self.cli_settings(timeout) if cli else None)

    # -- steering the fake php ----------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def update_state(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")

    def set_check(self, kind: str, ref: str, status: str, summary: str = "",
                  name: str | None = None) -> None:
        """Set (or add) one Check API result that checks.php reports."""
        state = self.state()
        checks = state["checks"][kind]
        for check in checks:
            if check["ref"] == ref:
                check.update(status=status, summary=summary or check["summary"],
                             name=name or check["name"])
                break
        else:
            checks.append({"ref": ref, "name": name or ref, "status": status,
                           "summary": summary})
        self.update_state(checks=state["checks"])

    def check_type_error(self, kind: str, message: str | None) -> None:
        """Make ``checks.php --type=<kind>`` die of an uncaught exception (None: stop)."""
        errors = {**self.state().get("type_errors", {}), kind: message}
        self.update_state(type_errors={k: v for k, v in errors.items() if v is not None})

    def cli_mode(self, script: str, mode: str) -> None:
        """"hang", "garbage", "fatal" (exit 255), "flood" or "normal" for admin/cli/<script>."""
        self.update_state(modes={**self.state().get("modes", {}), script: mode})

    def calls(self) -> list[dict[str, Any]]:
        path = self.state_path.with_name("calls.jsonl")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    # -- files ------------------------------------------------------------------------------
    def add_file(self, content: bytes) -> str:
        """Store content in the file pool as Moodle does (filedir/aa/bb/<sha1>)."""
        sha1 = hashlib.sha1(content).hexdigest()
        path = self.dataroot / "filedir" / sha1[:2] / sha1[2:4] / sha1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return sha1

    def set_core_version(self, version: float, release: str | None = None) -> None:
        core = {**CORE[self.layout], "version": version}
        if release:
            core["release"] = release
        _write_version_php(self.version_php, core)
        self.update_state(version=version, release=core["release"])

    def set_plugin(self, component: str, version: int | None) -> Path:
        """Write (or, with None, remove) a plugin's version.php; returns its directory."""
        plugindir = plugin_dir(self.webroot, component)
        if version is None:
            (plugindir / "version.php").unlink(missing_ok=True)
        else:
            plugindir.mkdir(parents=True, exist_ok=True)
            (plugindir / "version.php").write_text(_plugin_php(component, version))
        return plugindir

    def context(self, now: float = 1_800_000_000.0, *, timeout: float = 130.0,
                database: DatabaseSettings | None = None, cli: bool = True,
                cli_timeout: float = 120.0) -> CheckContext:
        """A CheckContext whose ctx.site is this site (close ``ctx.site`` when a database
        is given)."""
        settings = self.moodle_settings(database, cli=cli, timeout=cli_timeout)
        return CheckContext(target=Target("moodle-test", "moodle", "https://moodle.example.test"),
                            timeout=timeout, now=lambda: now, run_blocking=asyncio.to_thread,
                            site=MoodleSite(settings))

    def enable_cli_maintenance(self, html: str = "<h1>Sorry, maintenance</h1>") -> None:
        (self.dataroot / "climaintenance.html").write_text(html, encoding="utf-8")


def make_site(tmp_path: Path, layout: Layout = "4.5", *, version: float | None = None,
              release: str | None = None, plugins: Mapping[str, int | None] | None = None,
              dataroot: Path | None = None, wwwroot: str = "https://moodle.example.test",
              database: Mapping[str, Any] | None = None, config_extra: str = "",
              climaintenance: bool = False, files: tuple[bytes, ...] = ()) -> FakeSite:
    """Build a site under ``tmp_path/moodle`` (dataroot ``tmp_path/moodledata``)."""
    root = tmp_path / "moodle"
    webroot = root / "public" if layout == "5.1" else root
    dataroot = dataroot or tmp_path / "moodledata"
    for path in (root / "admin" / "cli", webroot / "lib", root / "lib", dataroot / "filedir",
                 dataroot / "temp" / "backup"):
        path.mkdir(parents=True, exist_ok=True)
    core = {**CORE[layout], **({"version": version} if version is not None else {}),
            **({"release": release} if release else {})}
    _write_version_php(webroot / "version.php", core)
    db = {"dbtype": "pgsql", "dbhost": "127.0.0.1", "dbname": "moodle", "dbuser": "moodle",
          "dbpass": "s3cret!", "prefix": "mdl_", "dbport": 5432, **(database or {})}
    (root / "config.php").write_text(config_php_text(db, wwwroot, dataroot, config_extra))
    _write_layout_files(root, webroot, layout)
    plugin_versions = dict.fromkeys(DEFAULT_PLUGINS, int(core["version"]))
    plugin_versions.update(plugins or {})
    site = FakeSite(root, webroot, dataroot, layout, root / ".fake" / "php",
                    root / ".fake" / "state.json")
    for component, plugin_version in plugin_versions.items():
        if plugin_version is not None:
            site.set_plugin(component, plugin_version)
    _write_fake_php(site, core, wwwroot)
    if climaintenance:
        site.enable_cli_maintenance()
    for content in files:
        site.add_file(content)
    return site


def plugin_dir(webroot: Path, component: str) -> Path:
    plugintype, name = component.split("_", 1)
    return webroot / PLUGIN_TYPES[plugintype] / name


def config_php_text(db: Mapping[str, Any], wwwroot: str, dataroot: Path, extra: str) -> str:
    """A config.php as admin/cli/install.php writes it (config-dist.php's shape)."""
    password = php_quote(str(db["dbpass"]))
    port = db["dbport"] if db.get("dbport") is not None else "''"
    return f"""<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = '{db["dbtype"]}';
$CFG->dblibrary = 'native';
$CFG->dbhost    = '{db["dbhost"]}';
$CFG->dbname    = '{db["dbname"]}';
$CFG->dbuser    = '{db["dbuser"]}';
$CFG->dbpass    = {password};
$CFG->prefix    = '{db["prefix"]}';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => {port},
  'dbsocket' => '{db.get("dbsocket", "")}',
  'dbcollation' => 'utf8mb4_unicode_ci',
);

$CFG->wwwroot   = '{wwwroot}';
$CFG->dataroot  = '{dataroot}';
$CFG->admin     = 'admin';

$CFG->directorypermissions = 0777;
{extra}
require_once(__DIR__ . '/lib/setup.php');

// There is no php closing tag in this file,
// it is intentional because it prevents trailing whitespace problems!
"""


def php_quote(text: str) -> str:
    """A PHP single-quoted literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _write_version_php(path: Path, core: Mapping[str, Any]) -> None:
    path.write_text(f"""<?php
// MOODLE VERSION INFORMATION

defined('MOODLE_INTERNAL') || die();

$version  = {core["version"]:.2f};  // YYYYMMDD = weekly release date of this DEV branch.
                                        //         RR    = release increments - 00 in DEV branches.
                                        //           .XX = incremental changes.
$release  = '{core["release"]}'; // Human-friendly version name
$branch   = '{core["branch"]}';                     // This version's branch.
$maturity = MATURITY_STABLE;             // This version's maturity level.
""")


def _plugin_php(component: str, version: int) -> str:
    return f"""<?php
defined('MOODLE_INTERNAL') || die();

$plugin->version   = {version};
$plugin->requires  = 2024100100;
$plugin->component = '{component}';
$plugin->maturity  = MATURITY_STABLE;
"""


def _write_layout_files(root: Path, webroot: Path, layout: Layout) -> None:
    prefix = "public/" if layout == "5.1" else ""
    components = {"plugintypes": {t: prefix + d for t, d in PLUGIN_TYPES.items()},
                  "subsystems": {"admin": prefix + "admin", "course": prefix + "course"}}
    (root / "lib" / "components.json").write_text(json.dumps(components, indent=4))
    (webroot / "lib" / "setup.php").write_text("<?php\n// Moodle bootstrap (fake)\n")
    if layout == "5.1":  # lib/setup.php at the root is a shim; public/config.php a loader
        (root / "lib" / "setup.php").write_text(
            "<?php\nrequire_once(__DIR__ . '/../public/lib/setup.php');\n")
        (webroot / "config.php").write_text(
            "<?php\nif (!file_exists(__DIR__ . '/../config.php')) {\n"
            "    header('Location: install.php');\n    die;\n}\n"
            "require_once(__DIR__ . '/../config.php');\n")
        (root / "index.php").write_text("<?php\nheader('Location: ./public/', true, 308);\n")
    for script in CLI_SCRIPTS:
        (root / "admin" / "cli" / script).write_text(
            "<?php\ndefine('CLI_SCRIPT', true);\nrequire(__DIR__ . '/../../config.php');\n")


def _write_fake_php(site: FakeSite, core: Mapping[str, Any], wwwroot: str) -> None:
    site.php.parent.mkdir(parents=True, exist_ok=True)
    checks = {kind: [{"ref": r, "name": n, "status": s, "summary": m} for r, n, s, m in rows]
              for kind, rows in DEFAULT_CHECKS.items()}
    site.state_path.write_text(json.dumps({
        "wwwroot": wwwroot, "dataroot": str(site.dataroot), "release": core["release"],
        "version": core["version"], "checks": checks, "upgrade_pending": False,
        "cron_enabled": True, "maintenance_enabled": 0, "maintenance_later": None,
        "modes": {}}, indent=1))
    site.php.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tests.moodle_double.sitedir_php import main\n"
        f"sys.exit(main(sys.argv[1:], {str(site.state_path)!r}))\n")
    site.php.chmod(site.php.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
