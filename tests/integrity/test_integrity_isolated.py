"""The code_integrity run in a short-lived child process (checks/integrity/isolated.py):
the work happens there, a failure of the child becomes a result naming what happened,
and no child outlives the run (deadline, cancellation)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil
import pytest
from integrity_helpers import assert_catalogued, context

from checks.base import CheckUnavailable
from checks.integrity import baseline, job
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.isolated import IsolatedError, run_isolated
from monitor.kernel.result import Status

SPEC = CodeIntegritySpec.model_validate({"type": "code_integrity"})


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


async def test_the_function_runs_in_another_process() -> None:
    child = await run_isolated(os.readlink, "/proc/self", timeout=60, what="t")
    assert int(child) != os.getpid()


async def test_the_check_verifies_in_a_child_not_in_the_daemon(
    site, state_dir, clock, monkeypatch
) -> None:
    def in_this_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify() ran in the daemon's process")

    monkeypatch.setattr(job, "verify", in_this_process)
    monkeypatch.setattr(baseline, "verify", in_this_process)
    result = assert_catalogued(await CodeIntegrityCheck(SPEC).run(context(site, state_dir, clock)))
    assert result.status == Status.OK and result.summary.startswith("baseline created: ")
    assert children() == []
    # in-process (isolated=False) the same call reaches the patched verify()
    with pytest.raises(AssertionError, match="daemon's process"):
        await CodeIntegrityCheck(SPEC, isolated=False).run(context(site, state_dir, clock))


async def test_isolated_and_in_process_runs_give_the_same_result(
    site, state_dir, clock, tmp_path
) -> None:
    inside = await CodeIntegrityCheck(SPEC, isolated=False).run(
        context(site, tmp_path / "other-state", clock)
    )
    outside = await CodeIntegrityCheck(SPEC).run(context(site, state_dir, clock))
    assert outside == inside
    (site.root / "lib" / "evil.php").write_text("<?php eval($_POST['x']);\n")
    inside = await CodeIntegrityCheck(SPEC, isolated=False).run(
        context(site, tmp_path / "other-state", clock)
    )
    outside = await CodeIntegrityCheck(SPEC).run(context(site, state_dir, clock))
    assert outside == inside and outside.status == Status.CRITICAL


async def test_an_exception_in_the_child_names_its_type() -> None:
    with pytest.raises(IsolatedError, match="invalid literal") as got:
        await run_isolated(int, "not a number", timeout=60, what="t")
    assert got.value.kind == "ValueError"


async def test_a_child_that_exits_or_is_killed_says_so() -> None:
    with pytest.raises(
        IsolatedError, match="integrity run: its worker process exited with code 3"
    ) as got:
        await run_isolated(os._exit, 3, timeout=60, what="integrity run")
    assert got.value.kind == "died"
    with pytest.raises(IsolatedError, match="was killed by signal 9"):
        await run_isolated(signal.raise_signal, signal.SIGKILL, timeout=60, what="t")
    assert children() == []


async def test_a_child_past_the_deadline_is_killed_and_reaped() -> None:
    with pytest.raises(IsolatedError, match="did not finish within 0.5s and was killed") as got:
        await run_isolated(time.sleep, 60, timeout=0.5, what="t")
    assert got.value.kind == "timeout"
    assert children() == []


async def test_a_cancelled_run_kills_its_child() -> None:
    task = asyncio.create_task(run_isolated(time.sleep, 60, timeout=120, what="t"))
    for _ in range(200):  # until the child is up (bounded)
        await asyncio.sleep(0.05)
        if children():
            break
    assert children()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children() == []


async def test_the_check_past_its_timeout_is_unknown_naming_the_kill(
    site, state_dir, clock
) -> None:
    with pytest.raises(
        CheckUnavailable,
        match="code integrity run: its worker process did not finish within 0.001s and was killed",
    ):
        await CodeIntegrityCheck(SPEC).run(context(site, state_dir, clock, timeout=0.001))
    assert children() == []


async def test_a_missing_code_directory_is_reported_from_the_child(
    tmp_path, state_dir, site, clock
) -> None:
    site.root.rename(tmp_path / "moved")
    with pytest.raises(CheckUnavailable) as got:
        await CodeIntegrityCheck(SPEC).run(context(site, state_dir, clock))
    assert "worker process" not in str(got.value) and str(site.root) in str(got.value)



PARENT = """
import asyncio, sys, time
import psutil
from checks.integrity.isolated import run_isolated

async def main():
    task = asyncio.create_task(run_isolated(time.sleep, 120, timeout=300, what="t"))
    while not psutil.Process().children():
        await asyncio.sleep(0.05)
    print(psutil.Process().children()[0].pid, flush=True)
    await task

asyncio.run(main())
"""


def test_a_child_dies_with_a_daemon_killed_by_sigkill() -> None:
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()  # SIGKILL: the parent's finally/kill never runs
    parent.wait()
    # Bounded wait for the kernel's parent-death signal (not a timing assertion: the
    # child sleeps 120 s, so without PR_SET_PDEATHSIG it is still there after 30).
    try:
        child.wait(timeout=30)
    except psutil.TimeoutExpired:
        child.kill()
        pytest.fail("the integrity worker outlived its SIGKILLed parent")
