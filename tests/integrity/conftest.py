"""Fixtures for the integrity tests: a generated Moodle code tree, a clock, a state dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from integrity_helpers import Clock, code_site

from tests.moodle_double.sitedir import FakeSite


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(tmp_path: Path) -> FakeSite:
    return code_site(tmp_path)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
