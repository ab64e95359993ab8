"""The LMS's own maintenance mode, switched by a maintenance window (lifecycle.py).

Moodle: ``admin/cli/maintenance.php`` (no option: status; ``--enable`` / ``--disable``) run
in the site's code directory as the web user through checks/moodle/cli.py, which bounds
it in time and keeps the daemon's environment out. These are the only writes Vigil makes
to an LMS, and only because an admin asked for them on the window. Every call here is
blocking (run it in a thread) and never raises: a script that cannot start, hangs or
fails becomes a ``ModeResult`` with ok=False and the cause, recorded in the occurrence's
actions log and listed in the post-maintenance report.

Status output (admin/cli/maintenance.php, lang/en/admin.php): "Status: enabled" when
config maintenance_enabled is set or dataroot/climaintenance.html exists; "Status:
disabled", or "...will be enabled on ..." for a scheduled switch (not on yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks.base import CheckUnavailable
from checks.moodle.cli import CliResult, run_cli_sync

SCRIPT = "maintenance.php"


@dataclass(frozen=True, slots=True)
class ModeResult:
    ok: bool
    detail: str  # one line for the actions log: the script's answer or the failure
    enabled: bool | None = None  # the mode after the call (None: unknown)


def status(kind: str, site: Any) -> ModeResult:
    """Whether the LMS's maintenance mode is on now."""
    driver = DRIVERS.get(kind)
    if driver is None:
        return _unsupported(kind)
    return driver[0](site)


def switch(kind: str, site: Any, on: bool) -> ModeResult:
    """Turn the LMS's maintenance mode on or off."""
    driver = DRIVERS.get(kind)
    if driver is None:
        return _unsupported(kind)
    return driver[1](site, on)


def _unsupported(kind: str) -> ModeResult:
    return ModeResult(False, f"Vigil cannot switch the maintenance mode of a {kind!r} LMS "
                      "(only Moodle's admin/cli/maintenance.php is supported)")


# -- Moodle ------------------------------------------------------------------------------
def moodle_status(site: Any) -> ModeResult:
    ran = _run_moodle(site, [])
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


def moodle_switch(site: Any, on: bool) -> ModeResult:
    ran = _run_moodle(site, ["--enable" if on else "--disable"])
    if isinstance(ran, ModeResult):
        return ran
    if ran.exit_code != 0:
        return ModeResult(False, ran.failure())
    return ModeResult(True, _answer(ran), on)


def _run_moodle(site: Any, args: list[str]) -> CliResult | ModeResult:
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


# Explicit registry: LMS kind -> (status, switch).
DRIVERS: dict[str, tuple[Callable[[Any], ModeResult], Callable[[Any, bool], ModeResult]]] = {
    "moodle": (moodle_status, moodle_switch),
}
