"""Records the results of one tick in one write transaction (runner -> state file).

Each finished run hands its result to ``RecordBatch.submit`` and awaits it. The first
submission arms a timer of ``window`` seconds (or the next tick, once every run in
flight has submitted, except under the daemon's scheduler: ``hold_lone_runs``); when it
fires, every result submitted meanwhile is recorded
(state, history, listeners' alert and SLO writes) inside one ``Database.batch()``: one
commit, one WAL append of each touched page, instead of one per result. Each result's
own writes are a savepoint, so one that fails is undone alone. No awaits happen inside
the batch, so no other coroutine writes in the middle of it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from contextlib import nullcontext

from monitor.kernel.database import Database

log = logging.getLogger(__name__)

WINDOW = 0.05  # seconds a finished result may wait for others (alerts are not that fast)


class RecordBatch:
    def __init__(self, database: Database | None, *, window: float = WINDOW,
                 running: Callable[[], int] | None = None) -> None:
        self.database = database
        self.window = window
        # How many runs are in flight (the runner's count): once each of them has
        # submitted, nobody else can join, so the batch is flushed at the next tick
        # instead of after the window (a lone run, `vigil check`, a test, waits no 50 ms).
        self.running = running
        # The daemon's scheduler sets this: there a run that finishes alone is followed
        # by others within the window (2,000 checks at 10 s finish ~10 per 50 ms, rarely
        # together), so it waits for them instead of committing alone; a result is at
        # most ``window`` later in the state file.
        self.hold_lone_runs = False
        self._pending: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._timer: asyncio.Handle | None = None
        self.batches = 0  # flushes done (for tests and the bench)

    async def submit(self, record: Callable[[], None]) -> None:
        """Run ``record`` in the next batch and wait until that batch is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((record, future))
        everyone = (not self.hold_lone_runs and self.running is not None
                    and self.running() <= len(self._pending))
        if everyone:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_soon(self.flush)
        elif self._timer is None:
            self._timer = loop.call_later(self.window, self.flush)
        # Not shielded: each run has its own future, and flush() skips a cancelled one
        # (its result is still recorded); a shield cost an extra future per run.
        await future

    def flush(self) -> None:
        """Record everything pending now, in one transaction. Never raises."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        self.batches += 1
        try:
            with self.database.batch() if self.database else nullcontext():
                for record, _ in pending:
                    record()  # never raises: CheckRunner._record catches and logs
        except sqlite3.Error as exc:  # the COMMIT failed: a full disk, counted in writes
            repeated = (self.database is not None
                        and self.database.writes.consecutive_failures > 1)
            (log.debug if repeated else log.error)(
                "could not record the results of %d check runs: %s", len(pending), exc)
        except Exception:
            log.exception("could not record the results of %d check runs", len(pending))
        finally:
            for _, future in pending:
                if not future.done():
                    future.set_result(None)
