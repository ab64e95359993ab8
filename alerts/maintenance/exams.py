"""Refusing maintenance windows that would cut through a Moodle exam.

The API and ``vigil maintenance add/edit`` call ``exam_conflicts`` before storing a
window; a conflict refuses the window unless the admin forces it, and the answer lists
the quizzes. For each Moodle site in the window's scope (book.lms_scope) one read-only
round on its database (checks/moodle/window_exams.py, asked through the LMS actions of
checks/actions.py that the shell hands in) finds:
- quizzes that close (or open) inside an occurrence, over the next RECURRING_HORIZON for a
  recurring window, and within MANUAL_LOOKAHEAD of the start of a manual one;
- quizzes with attempts in progress now (saved within the last ACTIVE_WITHIN), when an
  occurrence runs now or starts within IN_PROGRESS_LEAD: those students lose their work.
A site whose database cannot be read is reported as unreachable and, like a conflict,
refuses the window unless forced: we cannot promise there is no exam. A Moodle site
without a configured database is noted as unchecked and does not refuse (it could never
be checked); other LMS kinds have no quizzes to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alerts.maintenance.calendar import window_occurrences
from alerts.maintenance.model import WindowSpec
from alerts.maintenance.store import Window
from checks.actions import Exam, ExamQuery, ExamRead, MaintenanceActions

if TYPE_CHECKING:
    from alerts.maintenance.book import MaintenanceBook

RECURRING_HORIZON = 60 * 86400.0
MANUAL_LOOKAHEAD = 4 * 3600.0
IN_PROGRESS_LEAD = 3600.0
ACTIVE_WITHIN = 3 * 3600.0  # as the moodle_exams check: older attempts are abandoned
LmsSites = Mapping[str, tuple[str, Any]]  # LMS name -> (kind, site access)


@dataclass(frozen=True, slots=True)
class ExamConflict:
    lms: str
    quiz_id: int
    quiz: str
    course: str
    timeopen: int
    timeclose: int
    attempts_in_progress: int
    reasons: tuple[str, ...]

    def line(self) -> str:
        return (f"{self.lms}: quiz {self.quiz!r} (id {self.quiz_id}, course {self.course}): "
                + "; ".join(self.reasons))


@dataclass(frozen=True, slots=True)
class ExamReport:
    conflicts: list[ExamConflict] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # LMS -> cause
    unchecked: dict[str, str] = field(default_factory=dict)  # LMS -> why (not refusing)
    checked: list[str] = field(default_factory=list)
    until: float | None = None  # occurrences up to here were checked

    @property
    def blocks(self) -> bool:
        return bool(self.conflicts or self.unreachable)

    def lines(self) -> list[str]:
        out = [c.line() for c in self.conflicts]
        out += [f"{lms}: cannot check for exams: {cause}" for lms, cause in
                self.unreachable.items()]
        return out

    def as_json(self) -> dict[str, Any]:
        return {"conflicts": [asdict(c) for c in self.conflicts],
                "unreachable": dict(self.unreachable), "unchecked": dict(self.unchecked),
                "checked": list(self.checked), "checked_until": self.until}


def spans_to_check(spec: WindowSpec, now: float) -> list[tuple[float, float]]:
    """The occurrences (start, end) that could meet an exam, from now on."""
    probe = Window(0, "", spec, "api", now, now, None, False)
    if spec.kind == "manual":
        return [(max(o.start, now), max(o.start, now) + MANUAL_LOOKAHEAD)
                for o in window_occurrences(probe, now, now + 1)]
    horizon = now + (RECURRING_HORIZON if spec.kind == "recurring" else 10 * 365 * 86400.0)
    return [(o.start, o.end or o.start) for o in window_occurrences(probe, now, horizon)]


async def exam_conflicts(
    book: MaintenanceBook, spec: WindowSpec, sites: LmsSites, now: float,
    actions: MaintenanceActions,
    run_blocking: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None,
) -> ExamReport:
    spans = spans_to_check(spec, now)
    report = ExamReport(until=max((e for _, e in spans), default=None))
    if not spans:
        return report
    query = ExamQuery(min(s for s, _ in spans), max(e for _, e in spans), now, ACTIVE_WITHIN,
                      in_progress=any(s <= now + IN_PROGRESS_LEAD and e > now
                                      for s, e in spans))
    run = run_blocking or asyncio.to_thread
    for lms in book.lms_scope(spec):
        if lms not in sites:
            continue
        kind, site = sites[lms]
        found = await run(partial(actions.read_exams, kind, site, query))
        if found is None:  # no exams on this kind of LMS, or no access to them
            continue
        if found.unchecked is not None:
            report.unchecked[lms] = found.unchecked
        elif found.unreachable is not None:
            report.unreachable[lms] = found.unreachable
        else:
            report.checked.append(lms)
            report.conflicts.extend(_conflicts(lms, spans, found, now, spec.timezone))
    return report


def _conflicts(lms: str, spans: list[tuple[float, float]], found: ExamRead, now: float,
               zone: str) -> list[ExamConflict]:
    reasons: dict[int, list[str]] = {}
    exams: dict[int, Exam] = {}
    for exam in found.dated:
        for label, at in (("closes", exam.closes), ("opens", exam.opens)):
            if at and any(s <= at <= e for s, e in spans):
                reasons.setdefault(exam.exam_id, []).append(
                    f"{label} at {_local(at, zone)} during the window")
                exams[exam.exam_id] = exam
    for exam in found.running:
        reasons.setdefault(exam.exam_id, []).append(
            f"{exam.attempts_in_progress} attempt(s) in progress now")
        exams[exam.exam_id] = exam
    return [ExamConflict(lms, q, exams[q].name, exams[q].course, exams[q].opens,
                         exams[q].closes, exams[q].attempts_in_progress, tuple(reasons[q]))
            for q in sorted(reasons, key=lambda q: (exams[q].closes, q))]


def _local(timestamp: float, zone: str) -> str:
    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
