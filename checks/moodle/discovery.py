"""``vigil init --moodle DIR``: discover a Moodle site from its code directory and write a
Vigil config for it.

Reads DIR/config.php with the safe reader (config_php.py: parsed, never executed) and the
core version.php (DIR/version.php up to 5.0, DIR/public/version.php from 5.1; codebase.py),
then writes one ``[[lms]]`` entry: the wwwroot as url, ``[lms.moodle]`` with dirroot,
dataroot, the database settings and CLI access (through the vigil-moodle-cli helper's
socket, sudo as a commented alternative), and a check set generated from the check
registry (every registered ``moodle_*`` type with its defaults, plus http and tls for the
wwwroot) and the host checks discovery_host.py plans (system, process, os_updates).
The database password never goes into the config: it is moved to a credentials file
next to the output (mode 0600) and referenced as ``${file:/path}``; the printed notes
explain systemd's LoadCredential= (``${cred:NAME}``) as the alternative.
The written file is checked with the same loader as ``vigil config validate``.
"""

from __future__ import annotations

import json
import os
import pwd
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.moodle.cli_protocol import DEFAULT_SOCKET
from checks.moodle.codebase import read_core_version, site_layout
from checks.moodle.config_php import (
    MoodleConfigPhp,
    PhpSyntaxError,
    Unresolved,
    parse_config_php,
)
from checks.moodle.discovery_host import HostPlan, render_host_checks
from checks.moodle.registry import default_moodle_checks
from checks.moodle.update_feed import OFFICIAL_URL

EXIT_OK, EXIT_USAGE = 0, 2
_DB_TYPES = ("pgsql", "mysqli", "mariadb", "auroramysql")
_DEFAULT_PORTS = {"pgsql": 5432}


class DiscoveryError(Exception):
    """The directory is not a Moodle site Vigil can read; the message says why."""


@dataclass
class DiscoveredSite:
    dirroot: Path
    wwwroot: str | None
    dataroot: str | None
    release: str | None
    version: float | None
    database: dict[str, Any] | None  # DatabaseSettings fields, "password" included
    warnings: list[str] = field(default_factory=list)


def discover(directory: Path) -> DiscoveredSite:
    layout = site_layout(Path(directory).absolute())
    config_php = layout.root / "config.php"
    if not config_php.is_file():
        raise DiscoveryError(f"no config.php in {layout.root}: point --moodle at the Moodle "
                             "code directory (where config.php is)")
    try:
        config = parse_config_php(config_php)
        version, release, _ = read_core_version(layout)
    except FileNotFoundError:
        raise DiscoveryError(f"no version.php in {layout.root} or {layout.root}/public: "
                             "not a Moodle code directory") from None
    except PhpSyntaxError as exc:
        raise DiscoveryError(str(exc)) from None
    site = DiscoveredSite(layout.root, None, None, release, version, None,
                          warnings=list(config.warnings))
    site.wwwroot = _string(config, "wwwroot", site.warnings)
    site.dataroot = _string(config, "dataroot", site.warnings)
    site.database = _database(config, site.warnings)
    return site


def _string(config: MoodleConfigPhp, key: str, warnings: list[str]) -> str | None:
    value = config.get(key)
    if isinstance(value, Unresolved):
        if value.has_fallback and isinstance(value.fallback, str):
            warnings.append(f"$CFG->{key} depends on {value.reason}; using its fallback "
                            f"{value.fallback!r}: check that the web server sees the same")
            return value.fallback
        warnings.append(f"$CFG->{key} cannot be read without running PHP ({value.reason})")
        return None
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _database(config: MoodleConfigPhp, warnings: list[str]) -> dict[str, Any] | None:
    dbtype = _string(config, "dbtype", warnings)
    if dbtype not in _DB_TYPES:
        warnings.append(f"database type {dbtype!r}: Vigil reads PostgreSQL and MySQL/MariaDB "
                        "only, so the database probes are left out")
        return None
    options = config.setting("dboptions")
    options = options if isinstance(options, dict) else {}
    db: dict[str, Any] = {"type": dbtype, "host": _string(config, "dbhost", warnings)
                          or "localhost",
                          "name": _string(config, "dbname", warnings),
                          "user": _string(config, "dbuser", warnings),
                          "password": _string(config, "dbpass", warnings) or "",
                          "prefix": _string(config, "prefix", warnings) or "mdl_"}
    port = options.get("dbport")
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        db["port"] = int(port)
    socket = options.get("dbsocket")
    if isinstance(socket, str) and "/" in socket:
        db["socket"] = socket
    elif socket and socket != "0" and dbtype == "pgsql":  # lib/dml/pgsql_native_moodle_database
        db["socket"] = "/var/run/postgresql"
        warnings.append("dboptions dbsocket is on: assuming PostgreSQL's socket directory "
                        "/var/run/postgresql")
    if not db["name"] or not db["user"]:
        warnings.append("config.php names no dbname/dbuser: the database probes are left out")
        return None
    return db


def site_name(site: DiscoveredSite) -> str:
    host = re.sub(r"^https?://", "", site.wwwroot or "").split("/")[0].split(":")[0]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", host or site.dirroot.name).strip("-._")
    return (name or "moodle")[:63]


def render_config(site: DiscoveredSite, name: str, password_ref: str | None,
                  web_user: str, php: str, host: HostPlan | None = None) -> str:
    """The TOML text of the config (no secret in it: only a reference)."""
    lines = [f"# Written by `vigil init --moodle {site.dirroot}`: Moodle {site.release or '?'}"
             f" ({site.version or '?'}).",
             "# Check it with: vigil config validate <this file>", "",
             "[[lms]]", f"name = {_q(name)}", 'kind = "moodle"']
    if site.wwwroot:
        lines.append(f"url = {_q(site.wwwroot)}")
    lines += ["", "[lms.moodle]", f"dirroot = {_q(str(site.dirroot))}"]
    if site.dataroot:
        lines.append(f"dataroot = {_q(site.dataroot)}")
    if site.database:
        lines += ["", "# Moodle's own account is written below. Better: a read-only account",
                  "# (SELECT only); Vigil's sessions are read-only either way.",
                  "[lms.moodle.database]"]
        for key in ("type", "host", "port", "socket", "name", "user", "prefix"):
            if key in site.database:
                value = site.database[key]
                lines.append(f"{key} = {value if isinstance(value, int) else _q(value)}")
        if password_ref:
            lines.append(f"password = {_q(password_ref)}")
    lines += ["", "# Moodle's CLI scripts must run as the web user: through the vigil-moodle-cli",
              "# helper (systemd/vigil-moodle-cli.socket, User=" + web_user + ", "
              "VIGIL_MOODLE_DIRROOT=" + str(site.dirroot) + ").",
              "[lms.moodle.cli]", f"php = {_q(php)}",
              f"helper_socket = {_q(DEFAULT_SOCKET)}",
              "# Or, without the helper unit, with sudo (impossible under the shipped",
              "# vigil.service: NoNewPrivileges): drop helper_socket, allow it in sudoers",
              f"#   vigil ALL=({web_user}) NOPASSWD: {php} {site.dirroot}/admin/cli/*",
              f"#run_as = [\"sudo\", \"-n\", \"-u\", {_q(web_user)}]", ""]
    for check in default_checks(site):
        lines += [f"[lms.checks.{check}]", *_CHECK_HINTS.get(check, ()), ""]
    if host is not None:
        lines += render_host_checks(host)
    return "\n".join(lines)


# Commented settings worth knowing about, written under a check's table.
_CHECK_HINTS: dict[str, tuple[str, ...]] = {
    "moodle_updates": (
        "# Reads the update-check answer Moodle's cron stored; to ask the feed directly:",
        f'#feed_url = "{OFFICIAL_URL}"',
    ),
}


def default_checks(site: DiscoveredSite) -> list[str]:
    """http/tls for the wwwroot plus every registered Moodle check type that validates
    with its defaults (so the list follows checks/moodle/registry.py)."""
    checks = []
    if site.wwwroot and site.wwwroot.startswith(("http://", "https://")):
        checks.append("http")
        if site.wwwroot.startswith("https://"):
            checks.append("tls")
    checks += default_moodle_checks()
    if site.dirroot:
        checks.append("code_integrity")  # file integrity of the code tree
    if site.dataroot:
        checks.append("dataroot_scripts")  # web shells dropped in the data directory
    return checks


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def web_user(site: DiscoveredSite) -> str:
    """The dataroot's owner: Moodle creates it as the web user. Else Debian's www-data."""
    try:
        if site.dataroot:
            return pwd.getpwuid(Path(site.dataroot).stat().st_uid).pw_name
    except (OSError, KeyError):
        pass
    return "www-data"


def write_credentials(path: Path, secret: str) -> None:
    """Create (or replace) a 0600 file holding only the secret."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    os.chmod(path, 0o600)
