"""Moodle's own maintenance mode, switched by a maintenance window: the mode half of
checks/actions.py's ``LmsActions`` for Moodle (alerts/maintenance/lifecycle_mode.py asks).

``admin/cli/maintenance.php`` (no option: status; ``--enable`` / ``--disable``) runs in the
site's code directory as the web user through checks/moodle/cli.py, which bounds it in
time and keeps the daemon's environment out. These are the only writes Vigil makes to an
LMS, and only because an admin asked for them on the window. Every call here is blocking
(run it in a thread) and never raises: a script that cannot start, hangs or fails becomes
a ``ModeResult`` with ok=False and the cause, recorded in the occurrence's actions log and
listed in the post-maintenance report.

Status output (admin/cli/maintenance.php, lang/en/admin.php): "Status: enabled" when
config maintenance_enabled is set or dataroot/climaintenance.html exists; "Status:
disabled", or "...will be enabled on ..." for a scheduled switch (not on yet).
"""

from __future__ import annotations

from typing import Any

from checks.actions import ModeResult
from checks.base import CheckUnavailable
from checks.moodle.cli import CliResult, run_cli_sync

SCRIPT = "maintenance.php"


def mode_status(site: Any) -> ModeResult:
    """Whether Moodle's maintenance mode is on now."""
    ran = _run(site, [])
    if isinstance(ran, ModeResult):
        return ran
    if ran.exit_code != 0:
        return ModeResult(False, ran.failure())
    for line in ran.stdout.splitlines():
        text = line.strip().lower()
        if text.startswith("status:") or "will be enabled on" in text:
            on = text == "status: enabled"
            return ModeResult(True, line.strip(), on)
    return ModeResult(False, f"admin/cli/{SCRIPT} printed no status line: {ran.first_line()}")


def switch_mode(site: Any, on: bool) -> ModeResult:
    """Turn Moodle's maintenance mode on or off."""
    ran = _run(site, ["--enable" if on else "--disable"])
    if isinstance(ran, ModeResult):
        return ran
    if ran.exit_code != 0:
        return ModeResult(False, ran.failure())
    return ModeResult(True, _answer(ran), on)


def _run(site: Any, args: list[str]) -> CliResult | ModeResult:
    settings = getattr(site, "settings", None)
    cli = getattr(settings, "cli", None)
    dirroot = getattr(site, "dirroot", None)
    if cli is None or dirroot is None:
        return ModeResult(False, "no CLI access configured: set lms.moodle.dirroot and add "
                          "[lms.moodle.cli] (php and run_as, to run admin/cli scripts as the "
                          "web user)")
    try:
        return run_cli_sync(cli, dirroot, SCRIPT, args)
    except CheckUnavailable as exc:  # could not start, or hung and was killed
        return ModeResult(False, str(exc))


def _answer(ran: CliResult) -> str:
    """The script's last line ("CLI maintenance mode has been enabled."), not its banner."""
    lines = [line.strip() for line in ran.stdout.splitlines()
             if line.strip() and not line.strip().startswith("==")]
    return lines[-1][:200] if lines else ran.first_line()
