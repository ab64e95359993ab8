"""What Vigil does around each maintenance occurrence: notices, the LMS's own maintenance
mode, a snapshot at the start, integrity acceptance and the post-maintenance report.

Sits beside the router: the daemon calls ``MaintenanceLifecycle.step(now)`` every few
seconds. It reads the book (alerts/maintenance/book.py) for occurrences, the scheduler's
jobs for the checks in a window's scope (and ``run_checks``, the scheduler's run_now, at
the end), the state store for their states, and hands notices and reports to
lifecycle_messages.py (outbox rows with a fixed dedup key per window uid, occurrence
start and what, so a restart never sends one twice). The LMS's maintenance mode goes
through lifecycle_mode.py, the integrity acceptance through lifecycle_integrity.py, both
on the actions the checks provide (checks/actions.py; the shell hands them in), the
comparison and wording through report.py. The runner asks ``windows_for`` which window
covers a check (CheckContext.maintenance_windows).

Crash safety: each occurrence's progress is a row of maintenance_occurrences (state,
snapshot, actions_log), saved after every action. States, in order: noticed -> starting
-> started -> ending -> accepted -> checked -> done (or missed: never started, cancelled:
ended before it began). lifecycle_mode.py says how a switch of the LMS's maintenance mode
survives a crash without being repeated or skipped, and that an admin's own maintenance
mode is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alerts.maintenance.book import MaintenanceBook
from alerts.maintenance.calendar import Occurrence
from alerts.maintenance.lifecycle_integrity import IntegritySteps
from alerts.maintenance.lifecycle_messages import EnqueueMessage, MaintenanceMessages
from alerts.maintenance.lifecycle_mode import ModeSwitch
from alerts.maintenance.report import ReportRenderer, action_entry, build_report, take_snapshot
from alerts.maintenance.store import (
    OccurrenceRecord,
    get_occurrence,
    save_occurrence,
    unfinished_occurrences,
)
from alerts.store import AlertingState
from checks.actions import MaintenanceActions
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result
from monitor.state.store import CheckState

T = TypeVar("T")
FINISHED = ("done", "missed", "cancelled")
STARTED = ("starting", "started")  # the end actions are still to do
# After a window ends, its scope stays quiet while the end actions (integrity accept, the
# re-run of every check, the report) finish, so an in-window change does not page and then
# resolve a few seconds later; capped so a stuck end never silences alerts for long.
END_GRACE = 600.0
Window = tuple[float, float]
RunBlocking = Callable[[Callable[[], T]], Awaitable[T]]


def job_labels(job: CheckJob) -> dict[str, str]:
    """The labels a check's alerts carry (the router matches windows against these)."""
    return {**job.target.labels, **job.spec.labels, "lms": job.target.name,
            "check": job.name, "check_type": job.spec.type}


def in_scope(occ: Occurrence, labels: Mapping[str, str]) -> bool:
    """A check is in a window's scope when every matcher matches its labels; a severity
    matcher is decided per alert, so it does not narrow the checks snapshotted and re-run."""
    return all(m.matches(labels) for m in occ.matchers if m.label != "severity")


class MaintenanceLifecycle:
    def __init__(
        self, store: AlertingState, book: MaintenanceBook, *,
        jobs: Callable[[], Mapping[str, CheckJob]],
        run_checks: Callable[[Sequence[str]], Awaitable[Mapping[str, Result]]],
        receivers: Callable[[], Sequence[str]],
        actions: MaintenanceActions,
        state_dir: Path | None = None,
        renderer: ReportRenderer | None = None,
        run_blocking: RunBlocking[Any] | None = None,
        wake: Callable[[], None] | None = None,
        base_url: str | None = None,
        enqueue_message: EnqueueMessage | None = None,
        logger: logging.Logger | None = None,
        acts_for: Callable[[str], bool] | None = None,
    ) -> None:
        self.store, self.book = store, book
        # HA pair (alerts/fleet_ha.py): may this instance switch the LMS's maintenance
        # mode for a window from this source? Alone: always.
        self.acts_for = acts_for or (lambda source: True)
        self.jobs, self.run_checks = jobs, run_checks
        self.state_dir = state_dir
        self.run_blocking: RunBlocking[Any] = run_blocking or asyncio.to_thread
        self.log = logger or logging.getLogger("vigil.maintenance")
        self.messages = MaintenanceMessages(
            store, receivers, renderer=renderer, wake=wake, base_url=base_url,
            enqueue_message=enqueue_message, logger=self.log)
        self.mode = ModeSwitch(actions, self.run_blocking, self._save, self.log)
        self.integrity = IntegritySteps(actions.integrity, state_dir, self.run_blocking,
                                        self._save)
        self._errors: dict[str, str] = {}  # occurrence key -> last error logged

    # -- questions from the runner ------------------------------------------------------
    def windows_for(self, job: CheckJob, now: float) -> tuple[Window, ...]:
        """The active window covering ``job`` now, as [start, end) for the check context
        (checks/moodle/maintenance.py: maintenance mode inside a window is expected)."""
        occ = self.book.covering(job_labels(job), now)
        if occ is None:
            return ()
        return ((occ.start, math.inf if occ.end is None else occ.end),)

    def covering(self, labels: Mapping[str, str], now: float) -> Occurrence | None:
        """What the router asks: the window covering ``labels`` now, or one that ended
        less than END_GRACE ago whose end actions are not done yet."""
        occ = self.book.covering(labels, now)
        if occ is not None:
            return occ
        for ended in self.book.occurrences_between(now - END_GRACE, now):
            if ended.end is None or not now - END_GRACE < ended.end <= now:
                continue
            if not ended.matches(labels):
                continue
            record = get_occurrence(self.store.database, ended.window_id, ended.start)
            if record is not None and record.state not in FINISHED:
                return ended
        return None

    # -- the loop step ----------------------------------------------------------------
    async def step(self, now: float) -> None:
        """One pass over upcoming, active and unfinished occurrences. Never raises: a
        failing occurrence is logged and retried at the next step."""
        try:
            todo = self._occurrences(now)
        except Exception:
            self.log.exception("maintenance lifecycle: cannot read the windows")
            return
        for key, (occ, record) in todo.items():
            try:
                await self._advance(occ, record, now)
                self._errors.pop(key, None)
            except Exception as exc:
                if self._errors.get(key) != repr(exc):  # once per distinct failure
                    self.log.exception("maintenance lifecycle: occurrence %s failed; "
                                       "retrying at the next step", key)
                self._errors[key] = repr(exc)

    def _occurrences(self, now: float) -> dict[str, tuple[Occurrence | None, Any]]:
        """Occurrences to look at: upcoming within the longest notice period, active,
        and every unfinished record (its occurrence may be gone: ended or edited)."""
        ahead = max((w.spec.actions.notify_before or 0.0
                     for w in self.book.list(include_ended=False)), default=0.0)
        found: dict[str, tuple[Occurrence | None, Any]] = {}
        for occ in self.book.occurrences_between(now, now + ahead + 1.0):
            found[occ.key] = (occ, get_occurrence(self.store.database, occ.window_id, occ.start))
        for window_id, starts_at in unfinished_occurrences(self.store.database, FINISHED):
            record = get_occurrence(self.store.database, window_id, starts_at)
            live = self._live(window_id, starts_at, now)
            key = live.key if live else f"window {window_id}:{int(starts_at)}"
            found.setdefault(key, (live, record))
        return found

    def _live(self, window_id: int, start: float, now: float) -> Occurrence | None:
        for occ in self.book.occurrences_between(start, max(now, start) + 1e-3):
            if occ.window_id == window_id and occ.start == start:
                return occ
        return None

    async def _advance(self, occ: Occurrence | None, record: OccurrenceRecord | None,
                       now: float) -> None:
        state = record.state if record else None
        if state in FINISHED:
            return
        if occ is None or (occ.end is not None and occ.end <= now):  # over, or gone
            end = now if occ is None or occ.end is None else occ.end
            if record is not None and state in (*STARTED, "ending", "accepted", "checked"):
                await self._end(record, end, now)
            elif record is not None:  # only noticed: it never ran while we were up
                self._save(record, state="missed" if occ is not None else "cancelled")
            return
        if now < occ.start:
            if state is None and occ.actions.notify_before and \
                    now >= occ.start - occ.actions.notify_before:
                self._notice(occ, "before", self._window_info(occ), now)
                self._save(self._new_record(occ, "noticed"))
            return
        if state in (None, "noticed", "starting"):
            await self._start(occ, record, now)

    # -- start ------------------------------------------------------------------------
    async def _start(self, occ: Occurrence, record: OccurrenceRecord | None,
                     now: float) -> None:
        if record is None or record.state == "noticed":
            scope = self._scope(occ)
            snapshot: dict[str, Any] = {
                "window": self._window_info(occ), "scope": sorted(scope),
                "lms": sorted({job.target.name for job in scope.values()}),
                "before": take_snapshot(self._states(scope), now),
                "integrity": (await self.integrity.marks(scope, now)
                              if occ.actions.accept_integrity_changes else {}),
                "mode": {}}
            late = now - occ.start
            detail = f"{len(scope)} check(s) in scope" + (
                f", {late:.0f}s after the scheduled start" if late > 60 else "")
            record = self._save(self._new_record(occ, "starting"), snapshot=snapshot,
                                log=[action_entry(now, "snapshot", True, detail)])
        if occ.actions.lms_maintenance_mode and self._acts(occ.window_id):
            record = await self.mode.on(record, self._sites(record.snapshot["lms"]), now)
        self._save(record, state="started")

    def _acts(self, window_id: int) -> bool:
        window = self.book.windows.get(window_id)
        return self.acts_for(window.source if window else "config")

    def _scope(self, occ: Occurrence) -> dict[str, CheckJob]:
        return {key: job for key, job in self.jobs().items() if in_scope(occ, job_labels(job))}

    def _states(self, keys: Collection[str]) -> list[CheckState]:
        return [s for s in self.store.states() if f"{s.lms}/{s.check}" in keys]

    # -- end --------------------------------------------------------------------------
    async def _end(self, record: OccurrenceRecord, end: float, now: float) -> None:
        snap = record.snapshot or {}
        actions = snap.get("window", {}).get("actions", {})
        window = {**snap.get("window", {}), "end": end}
        if record.state in STARTED:
            record = self._save(record, state="ending", ends_at=end,
                                snapshot={**snap, "window": window})
        if record.state == "ending":
            if actions.get("lms_maintenance_mode") and not snap.get("mode") and \
                    self._acts(record.window_id):  # the HA partner switched it on, then died
                record = self._save(record, snapshot={**record.snapshot, "mode": {
                    lms: "partner" for lms in record.snapshot.get("lms", [])}})
            record = await self.mode.off(record, self._sites(
                list(record.snapshot.get("mode", {}))), now)
            if actions.get("notify_at_end"):
                self._notice_from(record, "end", now)
            record = await self.integrity.accept(record, self.jobs(), now)
            record = self._save(record, state="accepted")
        if record.state == "accepted":
            scope = [k for k in record.snapshot["scope"] if k in self.jobs()]
            results = await self.run_checks(scope)
            after = take_snapshot(self._states(record.snapshot["scope"]), now)
            entry = action_entry(now, "checks_run", True, f"{len(results)} of "
                                 f"{len(record.snapshot['scope'])} check(s) run")
            record = self._save(record, state="checked", log=[*record.actions_log, entry],
                                snapshot={**record.snapshot, "after": after})
        if record.state == "checked":
            report = None
            if actions.get("report", True):
                report = self._report(record, now)
            self._save(record, state="done", report=report)

    # -- notices and report -----------------------------------------------------------
    def _report(self, record: OccurrenceRecord, now: float) -> dict[str, Any]:
        snap = record.snapshot
        report = build_report(snap["window"], snap["before"], snap["after"],
                              integrity=snap.get("integrity_result", []),
                              actions=record.actions_log, generated_at=now)
        self.messages.report(snap["window"], snap["lms"], report, now)
        return report

    def _notice(self, occ: Occurrence, kind: str, window: dict[str, Any], now: float) -> None:
        lms = sorted({job.target.name for job in self._scope(occ).values()})
        self.messages.notice(kind, window, lms, [], now)

    def _notice_from(self, record: OccurrenceRecord, kind: str, now: float) -> None:
        snap = record.snapshot
        self.messages.notice(kind, snap["window"], snap["lms"], record.actions_log, now)

    # -- records ----------------------------------------------------------------------
    def _window_info(self, occ: Occurrence) -> dict[str, Any]:
        window = self.book.windows.get(occ.window_id)
        return {"id": occ.window_id, "uid": occ.uid, "name": occ.name, "kind": occ.kind,
                "timezone": occ.timezone, "start": occ.start, "end": occ.end,
                "scope": ", ".join(str(m) for m in occ.matchers),
                "comment": window.spec.comment if window else "",
                "actions": occ.actions.model_dump(mode="json")}

    def _new_record(self, occ: Occurrence, state: str) -> OccurrenceRecord:
        return OccurrenceRecord(occ.window_id, occ.start, occ.end, state, None, None, [])

    def _save(self, record: OccurrenceRecord, *, state: str | None = None,
              snapshot: Any = None, log: list[Any] | None = None, report: Any = None,
              ends_at: float | None = None) -> OccurrenceRecord:
        new = OccurrenceRecord(
            record.window_id, record.starts_at,
            record.ends_at if ends_at is None else ends_at, state or record.state,
            record.snapshot if snapshot is None else snapshot,
            record.report if report is None else report,
            record.actions_log if log is None else log)
        save_occurrence(self.store.database, new)
        return new

    def _sites(self, names: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """LMS name -> (kind, site access) for the LMS that have a job with a site."""
        sites: dict[str, tuple[str, Any]] = {}
        for job in self.jobs().values():
            if job.target.name in names and job.target.name not in sites:
                sites[job.target.name] = (job.target.kind, job.site)
        return sites

