"""Fixtures for the Open edX connector tests: the stand-in and a catalogue-checking run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from checks.base import Check, CheckContext
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result
from monitor.kernel.target import Target
from tests.openedx_double.server import OpenedxDouble


@pytest.fixture
def edx() -> Iterator[OpenedxDouble]:
    double = OpenedxDouble()
    yield double
    double.close()


@pytest.fixture
async def probe() -> AsyncIterator[Callable[..., Awaitable[Result]]]:
    """Run a check once; every sample must be catalogued with its catalogued labels."""
    checks: list[Any] = []

    async def run(check: Check, url: str | None, timeout: float = 5.0) -> Result:
        checks.append(check)
        ctx = CheckContext(target=Target(name="edx", kind="openedx", url=url),
                           timeout=timeout, now=time.time,
                           run_blocking=lambda fn: asyncio.to_thread(fn))
        result = await check.run(ctx)
        for sample in result.samples:
            assert sample.name in CATALOGUE, f"{sample.name} is not catalogued"
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
        assert "\n" not in result.summary
        return result

    yield run
    for check in checks:
        await check.aclose()
