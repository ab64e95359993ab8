"""`vigil run` picks uvloop's event loop when it can import it and asyncio's otherwise
(monitor/app/run.py ``loop_factory``): the daemon must start either way."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from monitor.app.run import loop_factory
from tests.helpers import TargetServer, free_port, wait_for
from tests.test_daemon_process import Vigil, write_config


def test_uvloop_is_chosen_when_it_can_be_imported() -> None:
    assert loop_factory({}) is uvloop.new_event_loop


def test_asyncio_can_be_chosen_on_purpose() -> None:
    assert loop_factory({"VIGIL_EVENT_LOOP": "asyncio"}) is asyncio.new_event_loop


def test_asyncio_is_used_when_uvloop_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert loop_factory({}) is asyncio.new_event_loop


@pytest.fixture
def servers() -> Iterator[tuple[TargetServer, TargetServer]]:
    target, hook = TargetServer(), TargetServer()
    yield target, hook
    target.close()
    hook.close()


@pytest.mark.parametrize("uvloop_importable", [True, False])
def test_the_daemon_runs_checks_on_either_loop(
    tmp_path: Path,
    servers: tuple[TargetServer, TargetServer],
    monkeypatch: pytest.MonkeyPatch,
    uvloop_importable: bool,
) -> None:
    if not uvloop_importable:  # a module named uvloop first on the path, failing to import
        shadow = tmp_path / "shadow"
        shadow.mkdir()
        (shadow / "uvloop.py").write_text("raise ImportError('no uvloop wheel here')\n")
        monkeypatch.setenv("PYTHONPATH", str(shadow))
    monkeypatch.delenv("VIGIL_EVENT_LOOP", raising=False)
    port = free_port()
    write_config(tmp_path / "vigil.toml", port, *servers)
    vigil = Vigil(tmp_path / "vigil.toml", port)
    try:
        checks = wait_for(lambda: (c := vigil.checks()) and len(c) == 3 and c, 30, "three results")
        assert checks["http"]["status"] == "OK", checks["http"]["summary"]
        assert checks["refused"]["status"] == "CRITICAL"
        vigil.proc.send_signal(signal.SIGTERM)
        assert vigil.proc.wait(timeout=30) == 0
        expected = "uvloop" if uvloop_importable else "asyncio"
        assert f"event loop: {expected}" in vigil.output()
    finally:
        if vigil.proc.poll() is None:
            vigil.proc.kill()
            vigil.proc.wait()
        vigil.log.close()
