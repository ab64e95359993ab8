"""Per-family blocking pools (monitor/app/blocking.py): a family hung in a FIFO open()
never starves another, hung workers are counted, replaced and reported by readiness,
and nothing waits for them at shutdown. Calls really block in the kernel (open() of a
FIFO with no writer); each test releases them at the end by opening the writer side."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from checks.base import CheckContext
from monitor.app.blocking import BlockingPools
from monitor.app.runner import CheckRunner
from monitor.kernel.job import CheckJob
from monitor.kernel.result import Result, Status
from monitor.kernel.spec import CheckSpec
from monitor.kernel.target import Target
from tests.conftest import FakeClock
from tests.helpers import wait_for


class Fifos:
    """FIFOs whose open() for reading blocks until ``release`` opens the writer side."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.made: list[Path] = []

    def new(self) -> Path:
        path = self.dir / f"fifo{len(self.made)}"
        os.mkfifo(path)
        self.made.append(path)
        return path

    def hang(self, path: Path) -> bytes:
        with path.open("rb") as fifo:  # blocks: no writer yet
            return fifo.read()

    def release(self) -> None:
        for path in self.made:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader left on it
                continue
            os.close(fd)


@pytest.fixture
def fifos(tmp_path: Path) -> Iterator[Fifos]:
    made = Fifos(tmp_path)
    yield made
    made.release()


async def hang_until_given_up(pools: BlockingPools, family: str, fifos: Fifos) -> None:
    fifo = fifos.new()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pools.run(family, lambda: fifos.hang(fifo)), timeout=0.2)


async def test_a_family_hung_in_fifos_does_not_starve_another(fifos: Fifos) -> None:
    pools = BlockingPools(size=2)
    for _ in range(2):
        await hang_until_given_up(pools, "moodle_dataroot", fifos)

    assert await pools.run("moodle_db", lambda: "answered") == "answered"
    # The hung family itself got replacements for its hung workers.
    assert await pools.run("moodle_dataroot", lambda: "still answers") == "still answers"
    assert pools.pool("moodle_dataroot").hung == 2
    assert pools.pool("moodle_db").hung == 0


async def test_hung_workers_are_counted_reported_and_forgotten_once_they_return(
        fifos: Fifos) -> None:
    pools = BlockingPools(size=2)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(pools.collector())
    await hang_until_given_up(pools, "moodle_dataroot", fifos)
    assert pools.readiness_problems() == []  # one hung of two: not saturated
    await hang_until_given_up(pools, "moodle_dataroot", fifos)

    assert pools.readiness_problems() == ["2 blocking workers hung in moodle_dataroot"]
    labels = {"family": "moodle_dataroot"}
    assert registry.get_sample_value("vigil_blocking_workers_hung", labels) == 2
    assert registry.get_sample_value("vigil_blocking_calls_abandoned_total", labels) == 2

    fifos.release()
    wait_for(lambda: pools.pool("moodle_dataroot").hung == 0, 10, "the hung calls to return")
    assert pools.readiness_problems() == []
    assert registry.get_sample_value("vigil_blocking_workers_hung", labels) == 0
    assert registry.get_sample_value("vigil_blocking_calls_abandoned_total", labels) == 2


async def test_threads_stay_bounded_and_a_queued_call_whose_caller_gave_up_never_runs(
        fifos: Fifos) -> None:
    pools = BlockingPools(size=1)
    for _ in range(2):  # the worker, then its one replacement
        await hang_until_given_up(pools, "code_integrity", fifos)
    ran = threading.Event()

    with pytest.raises(TimeoutError):  # no third thread: it waits in the queue
        await asyncio.wait_for(pools.run("code_integrity", ran.set), timeout=0.2)
    pool = pools.pool("code_integrity")
    assert (pool.threads, pool.hung) == (2, 2)

    fifos.release()
    wait_for(lambda: pool.hung == 0, 10, "the hung calls to return")
    assert await pools.run("code_integrity", lambda: "fresh") == "fresh"
    assert not ran.is_set()
    assert pool.threads <= 1 + 1  # the replacement leaves once the pool is whole again


async def test_closing_never_waits_for_a_hung_call(fifos: Fifos) -> None:
    pools = BlockingPools(size=1)
    await hang_until_given_up(pools, "system", fifos)

    pools.close()  # returns although a worker is stuck in open()

    stuck = [t for t in threading.enumerate() if t.name == "vigil-blocking-system"]
    assert stuck and all(t.daemon for t in stuck)  # interpreter exit does not join them
    with pytest.raises(RuntimeError, match="shut down"):
        await pools.run("system", lambda: None)


class FifoCheck:
    def __init__(self, fifos: Fifos) -> None:
        self.fifos = fifos

    async def run(self, ctx: CheckContext) -> Result:
        fifo = self.fifos.new()
        await ctx.run_blocking(lambda: self.fifos.hang(fifo))
        return Result(Status.OK, "read it")


async def test_a_check_hung_in_a_fifo_times_out_and_its_worker_counts_as_hung(
        fifos: Fifos) -> None:
    runner = CheckRunner(FakeClock(), blocking_workers=1)
    job = CheckJob(Target(name="site", kind="moodle"), "branch",
                   CheckSpec(type="moodle_branch_support", interval=60, timeout=0.2),
                   FifoCheck(fifos))
    try:
        result = await runner.run(job)
        again = await runner.run(job)
    finally:
        runner.close()

    assert result.status is Status.CRITICAL and result.summary == "timed out after 0.2s"
    assert again.status is Status.CRITICAL
    assert runner.pools.readiness_problems() == [
        "2 blocking workers hung in moodle_branch_support"]
