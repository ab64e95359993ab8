"""What a maintenance window may ask of an LMS and of the checks watching it: the interface
maintenance (alerts/maintenance/) uses instead of reaching into a check family.

alerts/maintenance/lifecycle*.py and exams.py -> these Protocols -> the implementations
that live with their families (checks/moodle/maintenance_mode.py, checks/moodle/
window_exams.py, checks/integrity/window.py), gathered by kind in the explicit table of
checks/actions_registry.py, which the shell (monitor/app) hands to maintenance.

Every method is blocking (run it in a thread) and never raises for a fault of the LMS or
of the tree it looks at: a script that cannot start, a database that cannot be read or a
tree without a baseline becomes a result with ok=False / an error and the cause. An
exception out of these means a bug, and the lifecycle logs and retries it as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from monitor.kernel.job import CheckJob

Marks = Mapping[str, Any]  # path -> fingerprint of its state (None: absent)


@dataclass(frozen=True, slots=True)
class ModeResult:
    """The answer of the LMS's own maintenance mode switch or status."""

    ok: bool
    detail: str  # one line for the actions log: the script's answer or the failure
    enabled: bool | None = None  # the mode after the call (None: unknown)


@dataclass(frozen=True, slots=True)
class ExamQuery:
    """Which exams a window needs to know about."""

    start: float  # exams that open or close in [start, end]
    end: float
    now: float
    active_within: float  # an attempt saved this recently is in progress, older ones abandoned
    in_progress: bool  # also list the exams with attempts in progress now


@dataclass(frozen=True, slots=True)
class Exam:
    exam_id: int
    name: str
    course: str  # how an admin names the course (short name, else its id)
    opens: int  # Unix seconds, 0 = not set
    closes: int
    attempts_in_progress: int


@dataclass(frozen=True, slots=True)
class ExamRead:
    """Exams found on one LMS; ``unreachable`` (the LMS could not be read: we cannot promise
    there is no exam) or ``unchecked`` (it can never be read, e.g. no database configured)
    say why nothing was found instead."""

    dated: tuple[Exam, ...] = ()  # opening or closing in [start, end]
    running: tuple[Exam, ...] = ()  # attempts in progress now (asked for in the query)
    unreachable: str | None = None
    unchecked: str | None = None


class LmsActions(Protocol):
    """What a window may ask of one kind of LMS. ``site`` is the per-site access the daemon
    opened for it (may be None: nothing configured)."""

    def mode_status(self, site: Any) -> ModeResult: ...

    def switch_mode(self, site: Any, on: bool) -> ModeResult: ...

    def read_exams(self, site: Any, query: ExamQuery) -> ExamRead | None:
        """None: this site has no exams to read (no access configured for them)."""
        ...


@dataclass(frozen=True, slots=True)
class WindowMarks:
    """What differed from a check's baseline as a window started (or why it is unknown)."""

    root: str | None = None
    marks: Marks = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WindowAcceptance:
    """What the end of a window accepted into a check's baseline (or why nothing)."""

    root: str | None = None
    accepted: tuple[str, ...] = ()  # sorted paths
    kept: int = 0  # changes from before the window, left for the admin to review
    error: str | None = None


class ChangeAcceptance(Protocol):
    """Integrity checks: accept the changes made inside a window into the baseline."""

    def watches(self, job: CheckJob) -> bool:
        """True for a check whose baseline a window may change."""
        ...

    def mark(self, job: CheckJob, state_dir: Path, now: float) -> WindowMarks: ...

    def accept(self, job: CheckJob, state_dir: Path, marks: Marks, now: float,
               actor: str) -> WindowAcceptance: ...


def unsupported_mode(kind: str, supported: list[str]) -> ModeResult:
    return ModeResult(False, f"Vigil cannot switch the maintenance mode of a {kind!r} LMS "
                      f"(it can for: {', '.join(supported) or 'no kind'})")


@dataclass(frozen=True, slots=True)
class MaintenanceActions:
    """LMS kind -> its actions, and the integrity acceptance: what maintenance is handed."""

    lms: Mapping[str, LmsActions] = field(default_factory=dict)
    integrity: ChangeAcceptance | None = None

    def mode_status(self, kind: str, site: Any) -> ModeResult:
        actions = self.lms.get(kind)
        return actions.mode_status(site) if actions else unsupported_mode(kind, list(self.lms))

    def switch_mode(self, kind: str, site: Any, on: bool) -> ModeResult:
        actions = self.lms.get(kind)
        if actions is None:
            return unsupported_mode(kind, list(self.lms))
        return actions.switch_mode(site, on)

    def read_exams(self, kind: str, site: Any, query: ExamQuery) -> ExamRead | None:
        """None: an LMS kind without exams, or a site without access to them."""
        actions = self.lms.get(kind)
        return actions.read_exams(site, query) if actions else None
