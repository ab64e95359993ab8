"""Adding and editing windows the way admins do it (API, web form, CLI): validate the
scope, check Moodle exams, refuse on a conflict unless forced, then store.

One code path for the HTTP API (monitor/app/web/api_maintenance.py) and the CLI
(monitor/app/cli/maintenance_cmd.py), so both refuse the same windows with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.maintenance.book import MaintenanceBook, merge_changes, parse_spec
from alerts.maintenance.exams import ExamReport, LmsSites, exam_conflicts
from alerts.maintenance.model import WindowSpec
from alerts.maintenance.store import Window
from checks.actions import MaintenanceActions

# Fields whose change can move a window onto an exam; editing only a comment does not
# re-run the exam check (or need force again).
_TIMING = ("kind", "timezone", "start", "end", "duration", "rrule", "matchers", "lms",
           "check")


@dataclass(frozen=True, slots=True)
class Outcome:
    window: Window | None  # None: refused because of exams (see ``exams``)
    exams: ExamReport

    @property
    def refused(self) -> bool:
        return self.window is None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"exams": self.exams.as_json()}
        if self.window is not None:
            body["window"] = self.window.as_json()
        else:
            body["error"] = ("the window overlaps exams (or exams could not be checked); "
                             "set force to schedule it anyway")
            body["problems"] = self.exams.lines()
        return body


async def add_window(book: MaintenanceBook, spec: WindowSpec, sites: LmsSites, *,
                     actions: MaintenanceActions, source: str, force: bool,
                     now: float) -> Outcome:
    """Raises WindowError for a bad scope; refuses (window None) over exams unless forced.
    ``sites``: LMS name -> (kind, site access); ``actions`` reads their exams."""
    book.check_scope(spec)
    report = await exam_conflicts(book, spec, sites, now, actions)
    if report.blocks and not force:
        return Outcome(None, report)
    window = book.add(spec, source, forced=report.blocks, now=now)
    return Outcome(window, report)


async def edit_window(book: MaintenanceBook, window_id: int, changes: Mapping[str, Any],
                      sites: LmsSites, *, actions: MaintenanceActions, force: bool,
                      now: float) -> Outcome:
    current = book.get(window_id)
    spec = parse_spec(merge_changes(current.spec, changes))
    book.check_scope(spec)
    report = ExamReport()
    if any(key in changes for key in _TIMING):
        report = await exam_conflicts(book, spec, sites, now, actions)
        if report.blocks and not force:
            return Outcome(None, report)
    window = book.edit(window_id, changes, forced=report.blocks, now=now)
    return Outcome(window, report)
