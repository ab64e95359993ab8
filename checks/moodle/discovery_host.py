"""The host around a discovered Moodle site: what `vigil init` adds beside the Moodle probes.

Called by the shell's ``vigil init`` (monitor/app/cli/init_cmd.py) after discovery.py read
config.php. From the processes running now, the database host and the package manager
it picks the host checks a Moodle administrator expects (the Grafana boards' CPU, memory,
filesystem, process and OS-update panels read them):
- ``system`` always;
- ``process`` for the web server, PHP-FPM, cron and, when the database is on this host,
  the database server, each only when it is running now (an absent one would page on day
  one for a process this site does not use);
- ``os_updates`` when apt-get or dnf is there.
Redis is probed by ``moodle_caches`` (in the Moodle set) from config.php's session and
MUC stores, and TLS by ``tls`` when the wwwroot is https (discovery.py). Each thing left
out is named with the reason, for `vigil init` to print. Pure: the caller passes the
process list and the command lookup, so tests feed them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# (label, pattern on the process name, what it is). Names as Debian, Ubuntu and RHEL run
# them: nginx and Apache's master/workers, Debian's versioned php-fpm binaries
# (php-fpm8.2) and RHEL's php-fpm, cron (Debian) / crond (RHEL).
WEB_SERVERS = (("nginx", r"^nginx$"), ("apache2", r"^apache2$"), ("httpd", r"^httpd$"),
               ("lighttpd", r"^lighttpd$"), ("caddy", r"^caddy$"))
PHP_FPM = ("php-fpm", r"^php-fpm")
CRON = (("cron", r"^cron$"), ("crond", r"^crond$"))
DATABASES = {"pgsql": (("postgres", r"^postgres$"),),
             "mysqli": (("mariadbd", r"^mariadbd$"), ("mysqld", r"^mysqld$")),
             "mariadb": (("mariadbd", r"^mariadbd$"), ("mysqld", r"^mysqld$")),
             "auroramysql": ()}
LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


@dataclass
class HostPlan:
    """The host checks to write and, per thing left out, why."""

    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def plan_host_checks(database: Mapping[str, Any] | None, process_names: Iterable[str],
                     which: Callable[[str], str | None]) -> HostPlan:
    names = set(process_names)
    plan = HostPlan()
    plan.checks["system"] = {}
    processes: list[dict[str, str]] = []

    def expect(label: str, pattern: str) -> bool:
        if any(re.search(pattern, name) for name in names):
            processes.append({"name": label, "pattern": pattern})
            return True
        return False

    if not any([expect(label, pattern) for label, pattern in WEB_SERVERS]):
        plan.left_out.append("process: no web server is running (looked for nginx, apache2, "
                             "httpd, lighttpd, caddy); add yours to [lms.checks.process]")
    if not expect(*PHP_FPM):
        plan.left_out.append("process: PHP-FPM is not running (mod_php or another SAPI?)")
    if not any([expect(label, pattern) for label, pattern in CRON]):
        plan.left_out.append("process: no cron daemon is running (Moodle's cron may run "
                             "from a systemd timer; moodle_cron watches it either way)")
    _expect_database(database, expect, plan)
    if processes:
        plan.checks["process"] = {"processes": processes}
    manager = next((m for m, tool in (("apt", "apt-get"), ("dnf", "dnf")) if which(tool)), None)
    if manager:
        plan.checks["os_updates"] = {"package_manager": manager}
    else:
        plan.left_out.append("os_updates: neither apt-get nor dnf was found")
    return plan


def _expect_database(database: Mapping[str, Any] | None,
                     expect: Callable[[str, str], bool], plan: HostPlan) -> None:
    if not database:
        plan.left_out.append("process: the database server (no database in config.php)")
        return
    host = str(database.get("host") or "")
    if host not in LOCAL_HOSTS and not database.get("socket"):
        plan.left_out.append(f"process: the database server runs on {host}, not here")
        return
    candidates = DATABASES.get(str(database.get("type")), ())
    if not any([expect(label, pattern) for label, pattern in candidates]):
        plan.left_out.append("process: no local database server process was found "
                             f"({', '.join(label for label, _ in candidates) or 'none known'})")


def render_host_checks(plan: HostPlan) -> list[str]:
    """TOML lines for the planned checks (after the Moodle checks of discovery.py)."""
    lines = ["# The host: CPU, memory, filesystems, the site's processes, OS updates."]
    for name, settings in plan.checks.items():
        lines.append(f"[lms.checks.{name}]")
        for key, value in settings.items():
            if key == "processes":
                continue
            lines.append(f"{key} = {json.dumps(value)}")
        for process in settings.get("processes", ()):
            lines += [f"[[lms.checks.{name}.processes]]",
                      f"name = {json.dumps(process['name'])}",
                      f"pattern = {json.dumps(process['pattern'])}"]
        lines.append("")
    return lines
