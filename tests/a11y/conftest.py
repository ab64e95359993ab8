"""Fixtures for the a11y probe tests: the page server, a real Chromium and axe-core, and a
run that fails the test if any Chromium of the run outlives it."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from checks.a11y.check import A11yCheck
from checks.a11y.spec import A11ySpec, find_axe
from checks.base import CheckContext
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result
from monitor.kernel.target import Target
from tests.a11y.site import A11ySite

Run = Callable[..., Awaitable[Result]]


@pytest.fixture(scope="session")
def axe_path() -> Path:
    found, looked = find_axe(None)
    if found is None:
        pytest.fail("axe-core is not installed (looked at " + ", ".join(map(str, looked))
                    + "): run scripts/test.sh, which runs "
                    "npm install --prefix .cache/axe-core axe-core@4")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run scripts/test.sh (apt-get install chromium)")
    return path


@pytest.fixture
def site() -> Iterator[A11ySite]:
    server = A11ySite()
    yield server
    server.close()


def live_browsers(scratch: Path) -> list[psutil.Process]:
    """Processes (not zombies) of a Chromium whose profile lives under ``scratch``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(scratch) in arg for arg in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


@pytest.fixture
def run_a11y(tmp_path: Path, axe_path: Path, chromium: str) -> Run:
    """Run the check once in real Chromium; afterwards no browser of the run may be alive
    and its temporary profile must be gone. Every sample must be catalogued."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    async def run(timeout: float = 60.0, check: A11yCheck | None = None,
                  **settings: Any) -> Result:
        settings.setdefault("axe_core_path", str(axe_path))
        settings.setdefault("chromium", chromium)
        if check is None:
            spec = A11ySpec.model_validate({"type": "a11y", "timeout": timeout, **settings})
            check = A11yCheck(spec, scratch_dir=scratch)
        ctx = CheckContext(target=Target("campus", "generic", None), timeout=timeout,
                           now=time.time, run_blocking=lambda fn: asyncio.to_thread(fn))
        result = await check.run(ctx)
        assert live_browsers(scratch) == [], "a Chromium of the run is still alive"
        assert list(scratch.iterdir()) == [], "the run left its profile directory behind"
        for sample in result.samples:
            assert sample.name in CATALOGUE, f"{sample.name} is not catalogued"
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels)
        return result

    return run


def counts(result: Result, name: str = "lms_a11y_violations") -> dict[str, float]:
    return {s.labels["impact"]: s.value for s in result.samples if s.name == name}
