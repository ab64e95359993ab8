"""What a maintenance window may ask of a Moodle site (checks/actions.py ``LmsActions``):
its maintenance mode (maintenance_mode.py) and its exams (window_exams.py).
checks/actions_registry.py lists it under the kind "moodle"."""

from __future__ import annotations

from typing import Any

from checks.actions import ExamQuery, ExamRead, ModeResult
from checks.moodle import maintenance_mode, window_exams


class MoodleActions:
    def mode_status(self, site: Any) -> ModeResult:
        return maintenance_mode.mode_status(site)

    def switch_mode(self, site: Any, on: bool) -> ModeResult:
        return maintenance_mode.switch_mode(site, on)

    def read_exams(self, site: Any, query: ExamQuery) -> ExamRead | None:
        return window_exams.read_exams(site, query)
