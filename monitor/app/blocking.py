"""Blocking calls, one small thread pool per family, and abandoned when they hang.

checks call ``ctx.run_blocking(fn)`` -> CheckRunner -> ``BlockingPools.run(family, fn)``
(the family is the check type; maintenance actions use "maintenance") -> a worker thread
of that family's pool. Issue #11: with one shared pool of 8 threads, eight file-system
calls hung on a dead NFS mount (or a FIFO where a file should be) made every database
probe time out until a restart, /readyz stayed ready, and SIGTERM waited for systemd's
SIGKILL. Here:

- each family has its own pool (``size`` workers, created lazily, idle workers leave),
  so a family's hang never starves another;
- a call whose caller gave up (the runner's timeout cancels the await) while it runs is
  *abandoned*: its worker counts as hung (``vigil_blocking_workers_hung{family}``) and a
  replacement may start, up to ``size`` extra threads per family; a queued call whose
  caller gave up never starts;
- a pool with ``size`` or more hung workers makes /readyz say so;
- every worker is a daemon thread and nothing joins them: shutdown never waits for a
  hung call (``vigil run`` also leaves with os._exit once the graceful part is done,
  for threads other libraries start, see monitor/app/cli/main.py).

Why threads that are abandoned rather than a subprocess per file-system walk: a process
blocked in the kernel on a dead hard-mounted NFS server is as stuck as a thread (SIGKILL
waits for the I/O), so a subprocess buys no reclaim; it costs a fork and pickling the
walk's results (integrity hashes, tens of thousands of entries) on every run. Counting,
replacing and never joining hung threads keeps the daemon working; what a hung thread
holds is a stack and one file descriptor, bounded by ``size`` per family (TasksMax=).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.kernel.metric import MetricSpec, declare

log = logging.getLogger(__name__)
T = TypeVar("T")

BLOCKING_METRICS = declare(
    MetricSpec("vigil_blocking_workers_hung", "gauge",
               "Blocking calls still running after their caller gave up (a timed-out check), "
               "by family (check type, maintenance, default).", ("family",)),
    MetricSpec("vigil_blocking_calls_abandoned_total", "counter",
               "Blocking calls abandoned while running because their caller gave up, "
               "by family.", ("family",)),
)
IDLE_SECONDS = 60.0  # an idle worker leaves after this; the pool starts one on demand


class _Call:
    __slots__ = ("fn", "future", "abandoned", "done")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()
        self.abandoned = False
        self.done = False


class FamilyPool(Executor):
    """Up to ``size`` live workers (plus up to ``size`` more while others hang).

    An ``Executor`` so the event loop can use one as its default executor: its
    ``shutdown`` never joins a thread.
    """

    def __init__(self, family: str, size: int, idle: float = IDLE_SECONDS) -> None:
        self.family = family
        self.size = size
        self._idle_after = idle
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.threads = 0  # workers alive
        self.hung = 0  # workers running an abandoned call
        self.abandoned_total = 0
        self._idle = 0  # workers waiting for a call
        self._waiting = 0  # calls queued, not yet taken
        self._closed = False

    # -- Executor ------------------------------------------------------------------
    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self.start(lambda: fn(*args, **kwargs)).future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls and cancel queued ones; never waits for a running call."""
        with self._lock:
            self._closed = True
            threads = self.threads
        while True:
            try:
                call = self._queue.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                call.future.cancel()
        for _ in range(threads):
            self._queue.put(None)  # wakes idle workers so they leave

    # -- calls ---------------------------------------------------------------------
    def start(self, fn: Callable[[], Any]) -> _Call:
        call = _Call(fn)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.family} blocking pool is shut down")
            self._waiting += 1
            self._queue.put(call)
            self._grow()
        return call

    def abandon(self, call: _Call) -> None:
        """The caller gave up: a queued call never starts; a running one counts as hung."""
        if call.future.cancel():
            return
        with self._lock:
            if call.done or call.abandoned:
                return
            call.abandoned = True
            self.hung += 1
            self.abandoned_total += 1
            hung = self.hung
            self._grow()
        log.warning("a blocking call of %s is still running after its caller gave up "
                    "(%d hung in this family)", self.family, hung)

    def _grow(self) -> None:
        """With the lock held: start a worker if calls wait and the bounds allow one."""
        if (self._waiting > self._idle and self.threads - self.hung < self.size
                and self.threads < 2 * self.size and not self._closed):
            self.threads += 1
            try:
                threading.Thread(target=self._work, name=f"vigil-blocking-{self.family}",
                                 daemon=True).start()
            except RuntimeError:  # the unit's TasksMax: the call waits for a worker
                self.threads -= 1
                log.error("cannot start a blocking worker for %s: no threads left",
                          self.family)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                call = self._queue.get(timeout=self._idle_after)
            except queue.Empty:
                call = None
            with self._lock:
                self._idle -= 1
                if call is None:
                    if self._waiting > self._idle and not self._closed:
                        continue  # a call arrived as we timed out
                    self.threads -= 1
                    return
                self._waiting -= 1
            self._run(call)
            with self._lock:
                if self.threads - self.hung > self.size:  # replaced while it hung: leave
                    self.threads -= 1
                    return

    def _run(self, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return  # its caller gave up before it started
        try:
            result = call.fn()
        except BaseException as exc:  # handed to the caller, as ThreadPoolExecutor does
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        with self._lock:
            call.done = True
            if call.abandoned:
                self.hung -= 1
        try:
            if outcome[0]:
                call.future.set_result(outcome[1])
            else:
                call.future.set_exception(outcome[1])
        except RuntimeError:  # the event loop that waited is closed (after shutdown)
            pass


class BlockingPools:
    """One FamilyPool per family, made on first use."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._pools: dict[str, FamilyPool] = {}
        self._lock = threading.Lock()

    def pool(self, family: str, size: int | None = None) -> FamilyPool:
        """The family's pool; ``size`` applies when this call creates it."""
        with self._lock:
            found = self._pools.get(family)
            if found is None:
                found = self._pools[family] = FamilyPool(family, size or self.size)
            return found

    async def run(self, family: str, fn: Callable[[], T]) -> T:
        pool = self.pool(family)
        call = pool.start(fn)
        try:
            result: T = await asyncio.wrap_future(call.future)
        except asyncio.CancelledError:
            pool.abandon(call)
            raise
        return result

    def loop_executor(self, family: str = "default", size: int = 16) -> ThreadPoolExecutor:
        """For ``loop.set_default_executor``: asyncio.to_thread and getaddrinfo then run
        on daemon threads that shutdown never joins."""
        return _LoopExecutor(self.pool(family, size))

    def pools(self) -> list[FamilyPool]:
        with self._lock:
            return sorted(self._pools.values(), key=lambda p: p.family)

    def readiness_problems(self) -> list[str]:
        """'N blocking workers hung in F' for each family with a pool's worth hung."""
        return [f"{p.hung} blocking workers hung in {p.family}"
                for p in self.pools() if p.hung >= p.size]

    def close(self) -> None:
        for pool in self.pools():
            pool.shutdown(wait=False)

    def collector(self) -> Collector:
        return _PoolCollector(self)


class _LoopExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor in name only (asyncio 3.11 accepts no other as the default
    executor): its calls go to a FamilyPool and it starts no thread of its own."""

    def __init__(self, pool: FamilyPool) -> None:
        super().__init__(max_workers=1, thread_name_prefix="vigil-unused")
        self._family_pool = pool

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._family_pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._family_pool.shutdown(wait=False)


class _PoolCollector(Collector):
    def __init__(self, pools: BlockingPools) -> None:
        self._pools = pools

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        hung = GaugeMetricFamily("vigil_blocking_workers_hung",
                                 BLOCKING_METRICS["vigil_blocking_workers_hung"].help,
                                 labels=["family"])
        abandoned = CounterMetricFamily(
            "vigil_blocking_calls_abandoned",
            BLOCKING_METRICS["vigil_blocking_calls_abandoned_total"].help, labels=["family"])
        for pool in self._pools.pools():
            hung.add_metric([pool.family], pool.hung)
            abandoned.add_metric([pool.family], pool.abandoned_total)
        yield hung
        yield abandoned
