"""Integrity acceptance around an occurrence of a window with ``accept_integrity_changes``.

MaintenanceLifecycle (lifecycle.py) asks ``IntegritySteps.marks`` at the start (what already
differs from each baseline in scope, kept in the occurrence's snapshot) and ``.accept`` at
the end (accept what changed inside the window, keep older changes for review). The work
on the trees is the ``ChangeAcceptance`` of checks/actions.py (checks/integrity/window.py,
handed in by the shell); its results carry an error instead of raising. The outcome of
each tree is saved as it is accepted, so after a crash no tree is accepted twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from alerts.maintenance.report import action_entry, integrity_entry
from alerts.maintenance.store import OccurrenceRecord
from checks.actions import ChangeAcceptance
from monitor.kernel.job import CheckJob

Save = Callable[..., OccurrenceRecord]  # MaintenanceLifecycle._save
RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class IntegritySteps:
    def __init__(self, acceptance: ChangeAcceptance | None, state_dir: Path | None,
                 run_blocking: RunBlocking, save: Save) -> None:
        self.acceptance, self.state_dir = acceptance, state_dir
        self.run_blocking, self.save = run_blocking, save

    def watched(self, scope: Mapping[str, CheckJob]) -> dict[str, CheckJob]:
        """The checks in scope whose baseline a window may change."""
        if self.acceptance is None:
            return {}
        return {key: job for key, job in scope.items() if self.acceptance.watches(job)}

    async def marks(self, scope: Mapping[str, CheckJob], now: float) -> dict[str, Any]:
        marks: dict[str, Any] = {}
        for key, job in self.watched(scope).items():
            if self.state_dir is None or self.acceptance is None:
                marks[key] = {"error": "no state directory: the baseline is not kept"}
                continue
            found = await self.run_blocking(partial(
                self.acceptance.mark, job, self.state_dir, now))
            marks[key] = ({"error": found.error} if found.error is not None else
                          {"root": found.root, "marks": dict(found.marks)})
        return marks

    async def accept(self, record: OccurrenceRecord, jobs: Mapping[str, CheckJob],
                     now: float) -> OccurrenceRecord:
        marks = record.snapshot.get("integrity", {})
        name = record.snapshot["window"]["name"]
        for key, started in marks.items():
            results = list(record.snapshot.get("integrity_result", []))
            lms, check = key.split("/", 1)
            if any(r["lms"] == lms and r["check"] == check for r in results):
                continue  # accepted before a restart
            job, log = jobs.get(key), list(record.actions_log)
            error = started.get("error") or (None if job else "the check is no longer "
                                             "configured")
            if error is None and self.state_dir is not None and job is not None \
                    and self.acceptance is not None:
                done = await self.run_blocking(partial(
                    self.acceptance.accept, job, self.state_dir, started["marks"], now,
                    f"maintenance window {name}"))
                error = done.error
                if error is None:
                    results.append(integrity_entry(lms, check, done.root, done.accepted,
                                                   done.kept))
                    log.append(action_entry(now, "integrity_accept", True,
                                            f"{len(done.accepted)} file(s) accepted, "
                                            f"{done.kept} change(s) from before the window "
                                            "left", lms))
            if error is not None:
                results.append(integrity_entry(lms, check, started.get("root"), error=error))
                log.append(action_entry(now, "integrity_accept", False, error, lms))
            # Saved per tree: after a crash a tree is not accepted (and reported) twice.
            record = self.save(record, log=log,
                               snapshot={**record.snapshot, "integrity_result": results})
        return record
