"""Scenario rows for site-wide state: version, cron heartbeat, maintenance, upgrades.

Config names and semantics (see /work/shared/reference/moodle-ops-facts.md §3-§5):
- tool_task lastcronstart / lastcroninterval: written by public/lib/classes/cron.php:97-102.
- config.cron_enabled: admin/cli/cron.php --disable/--enable ('0' = disabled).
- config.maintenance_enabled = 1: web maintenance; CLI maintenance is the file
  dataroot/climaintenance.html (public/lib/adminlib.php enable_cli_maintenance_mode);
  config.maintenance_later (unix time): admin/cli/maintenance.php --enablelater.
- config.upgraderunning: expected end time of a running upgrade (public/lib/setup.php:785).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from tests.moodle_double.scenario_base import ScenarioBase

# Moodle 5.1+ as in public/version.php; 4.5 LTS for older-site scenarios.
MOODLE_51 = {"version": "2025100600.02", "release": "5.1+ (Build: 20251017)", "branch": "501"}
MOODLE_45 = {"version": "2024100700.00", "release": "4.5 (Build: 20241007)", "branch": "405"}


class SiteRows(ScenarioBase):
    def site_version(self, version: str = MOODLE_51["version"],
                     release: str = MOODLE_51["release"],
                     branch: str = MOODLE_51["branch"]) -> Self:
        """config version/release/branch, as written at the end of an upgrade."""
        self.set_config("version", version)
        self.set_config("release", release)
        self.set_config("branch", branch)
        return self

    def plugin_version(self, component: str, version: int | str) -> Self:
        """config_plugins <component>/version (upgrade_plugin_savepoint)."""
        self.set_plugin_config(component, "version", version)
        return self

    # ------------------------------------------------------------------ cron
    def cron_ran(self, ago: int = 30, interval: int = 60) -> Self:
        """The last admin/cli/cron.php started ``ago`` seconds before now."""
        self.set_plugin_config("tool_task", "lastcronstart", self.now - ago)
        self.set_plugin_config("tool_task", "lastcroninterval", max(1, interval))
        return self

    def cron_stale(self, age: int, interval: int = 60) -> Self:
        """Cron last started ``age`` seconds ago (e.g. 7200: two hours without cron)."""
        return self.cron_ran(ago=age, interval=interval)

    def cron_infrequent(self, interval: int = 600) -> Self:
        """Cron ran recently but the gap between its last two starts was ``interval``."""
        return self.cron_ran(ago=30, interval=interval)

    def cron_never_ran(self) -> Self:
        self.unset_plugin_config("tool_task", "lastcronstart")
        self.unset_plugin_config("tool_task", "lastcroninterval")
        return self

    def cron_disabled(self) -> Self:
        """admin/cli/cron.php --disable."""
        self.set_config("cron_enabled", 0)
        return self

    # ------------------------------------------------------------------ maintenance
    def maintenance_on(self, message: str | None = None) -> Self:
        """Web maintenance mode (Site administration > Maintenance mode)."""
        self.set_config("maintenance_enabled", 1)
        if message is not None:
            self.set_config("maintenance_message", message)
        return self

    def maintenance_off(self) -> Self:
        self.set_config("maintenance_enabled", 0)
        self.unset_config("maintenance_later")
        return self

    def maintenance_later(self, at: int) -> Self:
        """admin/cli/maintenance.php --enablelater: CLI maintenance starts at ``at``."""
        self.set_config("maintenance_later", at)
        return self

    def cli_maintenance_on(self, dataroot: Path, html: str | None = None) -> Self:
        """admin/cli/maintenance.php --enable: writes dataroot/climaintenance.html."""
        body = html or "<h1>Sorry, maintenance in progress</h1>"
        (dataroot / "climaintenance.html").write_text(body, encoding="utf-8")
        return self

    # ------------------------------------------------------------------ upgrades
    def upgrade_running(self, since: int = 600, expected_end: int | None = None) -> Self:
        """An upgrade started ``since`` seconds ago; config.upgraderunning holds its
        expected end (upgrade_started sets time()+300 and upgrade_set_timeout extends it)."""
        end = expected_end if expected_end is not None else self.now - since + 300
        self.set_config("upgraderunning", end)
        return self

    def outageless_upgrade(self) -> Self:
        """admin/cli/upgrade.php --set-ui-upgrade-lock left set."""
        self.set_config("outagelessupgrade", 1)
        return self
