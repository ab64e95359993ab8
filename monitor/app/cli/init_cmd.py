"""`vigil init --moodle DIR`: discover a Moodle site (checks/moodle/discovery.py), write
its config, and prove it loads with the daemon's own loader."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

import psutil

from checks.moodle.discovery import (
    EXIT_OK,
    EXIT_USAGE,
    DiscoveryError,
    discover,
    render_config,
    site_name,
    web_user,
    write_credentials,
)
from checks.moodle.discovery_host import plan_host_checks
from monitor.app.config import ConfigError, load_config


def running_process_names() -> list[str]:
    """Names of the processes running now (as psutil and the process check see them)."""
    names = []
    for proc in psutil.process_iter(["name"]):
        if proc.info.get("name"):
            names.append(str(proc.info["name"]))
    return names


def cmd_init(directory: Path, output: Path | None, name: str | None, *, force: bool = False,
             out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``vigil init --moodle DIR`` command; returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        site = discover(directory)
    except DiscoveryError as exc:
        print(f"vigil init: {exc}", file=err)
        return EXIT_USAGE
    name = name or site_name(site)
    output = (output or Path(f"{name}.toml")).absolute()
    if output.exists() and not force:
        print(f"vigil init: {output} exists (use --force to replace it)", file=err)
        return EXIT_USAGE
    output.parent.mkdir(parents=True, exist_ok=True)
    cred = f"{name.replace('.', '_').replace('-', '_')}_dbpass"
    secret_file = output.with_name(f"{output.stem}.dbpass")
    password_ref = None
    if site.database and site.database.get("password"):
        write_credentials(secret_file, site.database["password"])
        password_ref = f"${{file:{secret_file}}}"
    php = shutil.which("php") or "/usr/bin/php"
    host = plan_host_checks(site.database, running_process_names(), shutil.which)
    output.write_text(render_config(site, name, password_ref, web_user(site), php, host),
                      encoding="utf-8")
    try:
        config = load_config(output)
    except ConfigError as exc:
        print(f"vigil init: the written config does not validate: {exc}", file=err)
        return EXIT_USAGE
    checks = sum(len(lms.checks) for lms in config.lms)
    print(f"Wrote {output} (Moodle {site.release or '?'}, {checks} checks)", file=out)
    for warning in site.warnings:
        print(f"warning: {warning}", file=out)
    for reason in host.left_out:
        print(f"left out: {reason}", file=out)
    if password_ref:
        print(f"The database password is in {secret_file} (mode 0600), referenced as "
              f"${{file:{secret_file}}}.\nTo use systemd credentials instead: `systemctl "
              f"edit vigil`, add\n  [Service]\n  LoadCredential={cred}:{secret_file}\nand "
              f"set password = \"${{cred:{cred}}}\" in {output.name}.", file=out)
    return EXIT_OK
