"""The Moodle site bench/footprint.py watches, built the way a user would get there: a
Moodle-shaped database on the local PostgreSQL (bench/_moodle_support.py, the double of
tests/moodle_double), a 5.1 site directory (tests/moodle_double/sitedir.py) whose code tree
is as big as a real one (bench/integrity.py generate: ~30,500 files, 320 MB), its
wwwroot served by the demo LMS over HTTPS, an SMTP stand-in named in config smtphosts, the
vigil-moodle-cli helper on a socket, and then `vigil init --moodle` writes the config.
Not a benchmark itself.

The config is what `vigil init` wrote, with only what the bench must say: where the state
goes, the API port, one receiver (a webhook to the demo's sink), the helper's
socket, the demo's private CA for the HTTPS checks, and the fake php's own bookkeeping
directory (.fake, inside the code tree) left out of code integrity.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import LOOPBACK, ROOT, python

sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on sys.path, the repo is not

import _moodle_support as ms  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from tests.moodle_double.scenario import NOW, Scenario  # noqa: E402
from tests.moodle_double.server import TestDatabase  # noqa: E402
from tests.moodle_double.sitedir import FakeSite, make_site  # noqa: E402

SITE_NAME = "campus"


@dataclass
class MoodleSite:
    db: TestDatabase
    site: FakeSite
    config: Path
    helper_socket: Path
    tree_files: int
    tree_bytes: int
    loaded: str

    def helper_argv(self) -> list[str]:
        return [python(), "-m", "monitor.app.moodle_cli_helper", "--site",
                f"{SITE_NAME}={self.site.root}", "--php", str(self.site.php),
                "--allow-user", str(os.getuid()), "--listen", str(self.helper_socket)]


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"  # never reached: moodle_mail only says EHLO


def start_smtp(port: int) -> Controller:
    smtp = Controller(_Sink(), hostname=LOOPBACK, port=port)
    smtp.start()
    return smtp


def open_site_database(scale: float, say: Callable[[str], None]) -> tuple[TestDatabase, str]:
    """The PostgreSQL double at ``scale`` (kept and reused like bench/moodle_probes.py)."""
    size = ms.Size.at(scale)
    started = time.monotonic()
    db, reused = ms.open_database("postgresql", size, ms.scale_tag(scale))
    if reused:
        return db, f"reused {db.name}"
    ms.populate(db, size, say)
    ms.mark_loaded(db, size)
    return db, f"loaded {db.name} in {time.monotonic() - started:.0f}s"


def build_site(workdir: Path, db: TestDatabase, loaded: str, demo: dict[str, Any],
               smtp_port: int, api_port: int, tree_files: int, tree_mb: int) -> MoodleSite:
    from integrity import generate  # bench/integrity.py: the Moodle-shaped tree

    Scenario(db.admin_engine, db.tables, now=NOW).set_config("smtphosts",
                                                             f"{LOOPBACK}:{smtp_port}")
    s = db.settings()
    database = {"dbtype": s.type, "dbhost": s.host, "dbport": s.port, "dbname": s.name,
                "dbuser": s.user, "dbpass": s.password.get_secret_value(), "prefix": s.prefix}
    plugins = dict.fromkeys(ms.EXTRA_PLUGINS, ms.PLUGIN_VERSION)
    site = make_site(workdir, "5.1", database=database, wwwroot=demo["https_url"],
                     plugins=plugins)
    shape = generate(site.webroot, tree_files, tree_mb)  # (a Generated since 1156e1d)
    files, size = shape.files, shape.total
    config = workdir / "vigil.toml"
    init = subprocess.run([python(), "-m", "monitor", "init", "--moodle", str(site.root),
                           "-o", str(config), "--name", SITE_NAME], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if init.returncode != 0:
        raise RuntimeError(f"vigil init failed: {init.stdout}{init.stderr}")
    socket_path = workdir / "moodle-cli.sock"
    config.write_text(adapt(config.read_text(), workdir, api_port, demo, socket_path, site))
    return MoodleSite(db, site, config, socket_path, files, size, loaded)


def adapt(text: str, workdir: Path, api_port: int, demo: dict[str, Any], socket_path: Path,
          site: FakeSite) -> str:
    """What `vigil init` wrote, pointed at this machine's stand-ins (see the docstring)."""
    ca = f'ca_file = "{demo["ca_file"]}"'
    text = text.replace('helper_socket = "/run/vigil/moodle-cli.sock"',
                        f'helper_socket = "{socket_path}"')
    text = re.sub(r'^php = ".*"$', f'php = "{site.php}"', text, count=1, flags=re.M)
    for check in ("http", "tls", "moodle_availability"):
        text = text.replace(f"[lms.checks.{check}]\n", f"[lms.checks.{check}]\n{ca}\n", 1)
    text = text.replace("[lms.checks.code_integrity]\n", "[lms.checks.code_integrity]\n"
                        'ignore = [".git", ".svn", ".hg", ".fake"]\n', 1)
    head = f"""[state]
dir = "{workdir / 'state'}"

[server]
host = "{LOOPBACK}"
port = {api_port}

[alerts]
base_url = "http://{LOOPBACK}:{api_port}"

[[alerts.receivers]]
name = "ops-webhook"
type = "webhook"
url = "{demo["webhook_url"]}"

"""
    return head + text
