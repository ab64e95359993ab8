"""monitor/app/heap_trim.py: the daemon's periodic malloc_trim (RSS: bench/footprint.py)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.app.heap_trim import find_malloc_trim, trim_forever


def test_glibc_malloc_trim_is_found_and_callable() -> None:
    # The test machines run glibc; a wrong symbol or signature would raise here.
    trim = find_malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)  # 1: memory was returned, 0: none could be


async def test_trims_until_stopped_and_waits_between_trims() -> None:
    stop = asyncio.Event()
    pads: list[int] = []

    def trim(pad: int) -> int:
        pads.append(pad)
        if len(pads) == 3:
            stop.set()
        return 1

    await asyncio.wait_for(trim_forever(stop, every=0.0, trim=trim), timeout=30)
    assert pads == [0, 0, 0]


async def test_a_failing_trim_ends_the_task_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def broken(pad: int) -> int:
        nonlocal calls
        calls += 1
        raise OSError("no")

    await asyncio.wait_for(trim_forever(asyncio.Event(), every=0.0, trim=broken), timeout=30)
    assert calls == 1
    assert "malloc_trim failed" in caplog.text
