"""Shared fixtures: a fake clock and a throwaway state store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from monitor.app.store import StateStore


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(tmp_path / "state" / "vigil.sqlite3")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _needs(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.needs("promtool", root=True)``: what scripts/test.sh provides. A test
    missing it fails naming it; a skip would let the suite pass without the test."""
    for mark in request.node.iter_markers("needs"):
        missing = [tool for tool in mark.args if shutil.which(tool) is None]
        if mark.kwargs.get("root") and os.geteuid() != 0:
            missing.append("root (the test command runs as root, as CI does)")
        if missing:
            pytest.fail(f"missing {', '.join(missing)}: run the README's test command "
                        "(scripts/test.sh), which installs it", pytrace=False)
