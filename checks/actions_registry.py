"""Which LMS kinds a maintenance window can act on: the explicit table of checks/actions.py
implementations, kept outside the families so they stay independent of each other.

The shell (monitor/app/daemon.py, cli/maintenance_cmd.py, web/api_maintenance.py) hands
``MAINTENANCE_ACTIONS`` to maintenance (alerts/maintenance/), which imports only the
interface. A new LMS kind adds its entry here.

The implementations are imported on their first call (a window starting or ending, the
maintenance API): checks/moodle/actions.py and checks/integrity/window.py bring the
Moodle probes' helpers, the integrity baseline and hashing (43 modules, ~2 MB RSS) into
every daemon otherwise, also one that watches no Moodle site or code tree (#12).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.actions import (
    ExamQuery,
    ExamRead,
    MaintenanceActions,
    Marks,
    ModeResult,
    WindowAcceptance,
    WindowMarks,
)
from monitor.kernel.job import CheckJob

if TYPE_CHECKING:
    from checks.integrity.window import IntegrityWindow
    from checks.moodle.actions import MoodleActions


@functools.cache
def _moodle() -> MoodleActions:
    from checks.moodle.actions import MoodleActions

    return MoodleActions()


@functools.cache
def _integrity() -> IntegrityWindow:
    from checks.integrity.window import IntegrityWindow

    return IntegrityWindow()


class _MoodleOnFirstUse:
    """checks/moodle/actions.py's ``MoodleActions``, imported on the first call."""

    def mode_status(self, site: Any) -> ModeResult:
        return _moodle().mode_status(site)

    def switch_mode(self, site: Any, on: bool) -> ModeResult:
        return _moodle().switch_mode(site, on)

    def read_exams(self, site: Any, query: ExamQuery) -> ExamRead | None:
        return _moodle().read_exams(site, query)


class _IntegrityOnFirstUse:
    """checks/integrity/window.py's ``IntegrityWindow``, imported on the first call."""

    def watches(self, job: CheckJob) -> bool:
        return _integrity().watches(job)

    def mark(self, job: CheckJob, state_dir: Path, now: float) -> WindowMarks:
        return _integrity().mark(job, state_dir, now)

    def accept(
        self, job: CheckJob, state_dir: Path, marks: Marks, now: float, actor: str
    ) -> WindowAcceptance:
        return _integrity().accept(job, state_dir, marks, now, actor)


MAINTENANCE_ACTIONS = MaintenanceActions(
    lms={
        "moodle": _MoodleOnFirstUse(),
    },
    integrity=_IntegrityOnFirstUse(),
)
