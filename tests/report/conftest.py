"""One seeded state database (tests/report/seed.py) shared by the report tests, and the
way to run ``vigil report`` as a user does (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app.config import VigilConfig, load_config
from monitor.app.store import STATE_FILE, StateStore
from tests.report.seed import SECRET, seed, write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config file of a state database holding the known week."""
    path = write_config(tmp_path_factory.mktemp("report"))
    seed(path)
    return path


@pytest.fixture
def seeded_store(seeded: Path) -> Iterator[tuple[VigilConfig, StateStore]]:
    config = load_config(seeded, env={"SMTP_PASSWORD": SECRET})
    store = StateStore(config.state.dir / STATE_FILE)
    yield config, store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where the rendered pages go for a human to look at (VIGIL_TEST_ARTIFACTS)."""
    base = os.environ.get("VIGIL_TEST_ARTIFACTS")
    directory = Path(base) / "report" if base else tmp_path / "artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def vigil(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``vigil ARGS`` with the secret in the environment, as under systemd."""
    return subprocess.run([sys.executable, "-m", "monitor", *argv], cwd=ROOT,
                          capture_output=True, timeout=300,
                          env={**os.environ, "SMTP_PASSWORD": SECRET, **(env or {})})
