"""The LMS's own maintenance mode around an occurrence: on at the start, off at the end.

MaintenanceLifecycle (lifecycle.py) calls ``ModeSwitch.on`` and ``.off`` for windows with
``lms_maintenance_mode``; the switching itself is the LMS actions' (checks/actions.py,
handed in by the shell), which never raise: a failure is a ModeResult with ok=False,
logged in the occurrence's actions log and the report.

Crash safety: the mode of each LMS is kept in the occurrence's snapshot ("mode": LMS ->
state) and saved after every action. A switch is written down as "enabling"/"disabling"
before the script runs; after a crash the LMS is asked for its mode instead of running
the script again, so nothing is repeated or skipped. The mode is switched off at the end
only when Vigil switched it on (an admin's own maintenance mode is left alone).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from alerts.maintenance.report import action_entry
from alerts.maintenance.store import OccurrenceRecord
from checks.actions import MaintenanceActions, ModeResult

Sites = Mapping[str, tuple[str, Any]]  # LMS name -> (kind, site access)
Save = Callable[..., OccurrenceRecord]  # MaintenanceLifecycle._save
RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class ModeSwitch:
    def __init__(self, actions: MaintenanceActions, run_blocking: RunBlocking, save: Save,
                 logger: logging.Logger) -> None:
        self.actions, self.run_blocking, self.save, self.log = (
            actions, run_blocking, save, logger)

    async def on(self, record: OccurrenceRecord, sites: Sites, now: float) -> OccurrenceRecord:
        modes = dict(record.snapshot.get("mode", {}))
        for lms, (kind, site) in sites.items():
            state = modes.get(lms)
            if state not in (None, "enabling"):
                continue  # done before a restart
            found = await self.run_blocking(partial(self.actions.mode_status, kind, site))
            if not found.ok:
                record = self._log(record, modes, lms, "failed", "maintenance_mode_on",
                                   found, now)
                continue
            if found.enabled:  # an admin's mode, or ours before a crash
                mine = state == "enabling"
                why = ("found on after a restart" if mine else
                       "already on before the window: left on at the end")
                record = self._log(record, modes, lms, "on" if mine else "was_on",
                                   "maintenance_mode_on", ModeResult(True, why, True), now)
                continue
            modes[lms] = "enabling"
            record = self.save(record, snapshot={**record.snapshot, "mode": modes})
            done = await self.run_blocking(partial(self.actions.switch_mode, kind, site, True))
            record = self._log(record, modes, lms, "on" if done.ok else "failed",
                               "maintenance_mode_on", done, now)
        return record

    async def off(self, record: OccurrenceRecord, sites: Sites, now: float
                  ) -> OccurrenceRecord:
        modes = dict(record.snapshot.get("mode", {}))
        for lms, state in list(modes.items()):
            # "partner": switched on by the other member of an HA pair, which is down.
            if state not in ("on", "enabling", "failed", "disabling", "partner"):
                continue
            if lms not in sites:
                gone = ModeResult(False, "the LMS is no longer in the config: its "
                                  "maintenance mode may still be on")
                record = self._log(record, modes, lms, "off_failed", "maintenance_mode_off",
                                   gone, now)
                continue
            kind, site = sites[lms]
            if state != "on":  # unsure whether the mode is on: ask, never switch blindly
                found = await self.run_blocking(partial(self.actions.mode_status, kind, site))
                if found.ok and not found.enabled:
                    why = "found off after a restart" if state == "disabling" else ""
                    record = self._log(record, modes, lms, "off", "maintenance_mode_off",
                                       ModeResult(True, why, False), now, quiet=not why)
                    continue
                if not found.ok and state in ("failed", "partner"):
                    continue  # it never came on as far as we know; the start failure is logged
            modes[lms] = "disabling"
            record = self.save(record, snapshot={**record.snapshot, "mode": modes})
            done = await self.run_blocking(partial(self.actions.switch_mode, kind, site, False))
            record = self._log(record, modes, lms, "off" if done.ok else "off_failed",
                               "maintenance_mode_off", done, now)
        return record

    def _log(self, record: OccurrenceRecord, modes: dict[str, str], lms: str, state: str,
             action: str, result: ModeResult, now: float, *,
             quiet: bool = False) -> OccurrenceRecord:
        modes[lms] = state
        log = record.actions_log if quiet else [
            *record.actions_log, action_entry(now, action, result.ok, result.detail, lms)]
        if not result.ok:
            self.log.warning("maintenance window %s: %s on %s failed: %s",
                             record.snapshot["window"]["uid"], action, lms, result.detail)
        return self.save(record, snapshot={**record.snapshot, "mode": dict(modes)}, log=log)
