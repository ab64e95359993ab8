"""The `moodle_maintenance` check: CLI, web and scheduled maintenance mode, and whether a
Vigil maintenance window covers it.

Data flow: scheduler -> MaintenanceCheck.run(ctx) -> dataroot/climaintenance.html (a stat,
never a write) + config maintenance_enabled / maintenance_later / maintenance_message
(read-only pool) -> covered_by_window(now, windows) -> Result with
lms_moodle_maintenance_* samples.

Semantics copied from Moodle (moodle/moodle):
- lib/setup.php: when dataroot/climaintenance.html exists every web request answers 503
  "Moodle under maintenance" with the file as body, before the database is touched (CLI
  maintenance, "hard"). admin/cli/maintenance.php --enable writes it (and sets config
  maintenance_enabled = 'cli mode'); --disable removes both.
- lib/weblib.php print_maintenance_message(), used by index.php and require_login(): while
  config maintenance_enabled is non-empty, users without moodle/site:maintenanceaccess get
  a 503 themed page (web maintenance, "soft"); admins can still log in.
- admin/cli/maintenance.php --enablelater=MIN sets config maintenance_later (unix time);
  lib/setup.php switches to CLI maintenance with the first request after that time.
Every maintenance state is an alert unless a Vigil maintenance window covers it: the
runner puts the windows covering this check now into ``ctx.maintenance_windows``
(alerts/maintenance/lifecycle.py windows_for, matched on the check's alert labels), so a
maintenance mode inside a window (e.g. switched on by the window itself) is OK and one
left on after the window alerts.

Index use: config.name is a unique index (three single-row look-ups).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from checks.base import CheckContext, CheckUnavailable, Window, covered_by_window
from checks.lazy import lazy_import
from checks.moodle.schema import moodle_tables
from checks.moodle.site import moodle_site, site_database
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_maintenance_enabled", "gauge",
               "1 while Moodle's maintenance mode is on: cli (climaintenance.html) or web "
               "(config maintenance_enabled).", ("mode",)),
    MetricSpec("lms_moodle_maintenance_scheduled_timestamp_seconds", "gauge",
               "When scheduled CLI maintenance starts (config maintenance_later), as a "
               "Unix time."),
    MetricSpec("lms_moodle_maintenance_covered", "gauge",
               "1 if the current maintenance is inside a Vigil maintenance window, else 0."),
)
StatusName = Literal["OK", "WARNING", "CRITICAL"]
NOT_COVERED = "not covered by a Vigil maintenance window"


class MaintenanceSpec(CheckSpec):
    type: Literal["moodle_maintenance"]
    cli_status: StatusName = "CRITICAL"        # every page answers 503
    web_status: StatusName = "CRITICAL"        # every non-admin user gets a 503 page
    scheduled_status: StatusName = "WARNING"   # users will be locked out at a known time


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    cli_since: float | None      # mtime of climaintenance.html; None: file absent
    web_value: str | None        # config maintenance_enabled when set and non-empty
    later: float | None          # config maintenance_later
    message: str | None
    dataroot_known: bool


class MaintenanceCheck:
    def __init__(self, spec: MaintenanceSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        site = moodle_site(ctx)
        dataroot = site.dataroot
        cli_since = await ctx.run_blocking(lambda: _marker_mtime(dataroot)) \
            if dataroot is not None else None
        if site.database is None and dataroot is None:
            raise CheckUnavailable("needs lms.moodle.dataroot or [lms.moodle.database]")
        config = await _read_config(ctx) if site.database is not None else {}
        web = config.get("maintenance_enabled")
        state = MaintenanceState(cli_since, web if web not in (None, "", "0") else None,
                                 _number(config.get("maintenance_later")),
                                 config.get("maintenance_message"), dataroot is not None)
        return judge(self.spec, state, ctx.now(), windows=ctx.maintenance_windows)


def judge(spec: MaintenanceSpec, state: MaintenanceState, now: float,
          windows: Iterable[Window]) -> Result:
    covered = covered_by_window(now, windows)
    found: list[tuple[Status, str]] = []
    if state.cli_since is not None:
        found.append((Status[spec.cli_status], f"CLI maintenance mode on for "
                      f"{fmt_duration(now - state.cli_since)} (dataroot/climaintenance.html: "
                      "every page answers 503)"))
    if state.web_value is not None:
        how = " (left over from CLI mode: climaintenance.html is gone)" \
            if state.web_value == "cli mode" and state.cli_since is None else ""
        found.append((Status[spec.web_status], "web maintenance mode on: users without "
                      f"maintenance access get a 503 page{how}"))
    if state.later is not None and state.cli_since is None:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(state.later))
        text = (f"CLI maintenance scheduled for {when} (in {fmt_duration(state.later - now)})"
                if state.later > now else f"CLI maintenance was due at {when}: it starts "
                "with the next web request")
        found.append((Status[spec.scheduled_status], text))
    samples = [
        Sample("lms_moodle_maintenance_enabled", float(state.cli_since is not None),
               {"mode": "cli"}),
        Sample("lms_moodle_maintenance_enabled", float(state.web_value is not None),
               {"mode": "web"}),
        Sample("lms_moodle_maintenance_covered", float(covered and bool(found))),
    ]
    if state.later is not None:
        samples.append(Sample("lms_moodle_maintenance_scheduled_timestamp_seconds", state.later))
    details: dict[str, Any] = {"cli": state.cli_since is not None, "web": state.web_value,
                               "scheduled": state.later, "covered": covered}
    if state.message:
        details["message"] = state.message[:200]
    if not state.dataroot_known:
        details["note"] = "dataroot not configured: CLI maintenance not checked"
    if not found:
        return Result(Status.OK, "not in maintenance mode", tuple(samples), details)
    text = "; ".join(t for _, t in found)
    if covered:
        return Result(Status.OK, f"{text} (covered by a Vigil maintenance window)",
                      tuple(samples), details)
    return Result(Status.worst(s for s, _ in found), f"{text}; {NOT_COVERED}", tuple(samples),
                  details)


def _marker_mtime(dataroot: Path) -> float | None:
    try:
        return os.stat(dataroot / "climaintenance.html").st_mtime
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckUnavailable(f"cannot look for {dataroot}/climaintenance.html: "
                               f"{exc.strerror or exc}") from None


async def _read_config(ctx: CheckContext) -> dict[str, str]:
    db = site_database(ctx)

    def query(conn: Connection) -> dict[str, str]:
        config = moodle_tables(db.prefix).config
        rows = conn.execute(sa.select(config.c.name, config.c.value).where(config.c.name.in_(
            ("maintenance_enabled", "maintenance_later", "maintenance_message")))).all()
        return {str(n): str(v) for n, v in rows}

    return await db.run(ctx, query)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "0") else None
    except (TypeError, ValueError):
        return None
