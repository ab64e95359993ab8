"""`vigil run --shard` on the command line and across SIGHUP reloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from monitor.app.cli.main import main
from monitor.app.config import load_config
from monitor.app.daemon import Daemon
from monitor.app.fleet import with_shard
from monitor.kernel.shard import hashmod
from tests.conftest import FakeClock

SITES = [f"site-{i}" for i in range(8)]


def write(path: Path, shard: str | None) -> None:
    text = f'[state]\ndir = "{path.parent / "state"}"\n[server]\nenabled = false\n'
    if shard is not None:
        text += f'[fleet]\nshard = "{shard}"\nmirror_windows = false\n'
    text += "".join(f'[[lms]]\nname = "{n}"\nurl = "http://127.0.0.1:9"\n'
                    f'[lms.checks.http]\ninterval = 3600\n' for n in SITES)
    path.write_text(text)


def scheduled(daemon: Daemon) -> set[str]:
    return {job.target.name for job in daemon.scheduler.jobs.values()}


def shard_sites(index: int, count: int) -> set[str]:
    return {n for n in SITES if hashmod(n, count) == index}


async def test_a_reload_follows_the_config_shard_unless_the_command_line_set_one(
        tmp_path: Path) -> None:
    path = tmp_path / "vigil.toml"
    write(path, "0/2")
    daemon = Daemon(load_config(path), config_path=path, clock=FakeClock())
    await daemon.start()
    try:
        assert scheduled(daemon) == shard_sites(0, 2)
        write(path, "1/3")
        assert daemon.reload()
        assert scheduled(daemon) == shard_sites(1, 3)
        exposition = generate_latest(daemon.registry).decode()
        assert f'vigil_fleet_owned_sites{{shard="1"}} {len(shard_sites(1, 3))}.0' in exposition
    finally:
        await daemon.stop()
    write(path, "0/2")
    cli = Daemon(with_shard(load_config(path), "1/2"), config_path=path, clock=FakeClock(),
                 shard="1/2")
    await cli.start()
    try:
        assert scheduled(cli) == shard_sites(1, 2)
        write(path, "0/3")
        assert cli.reload()
        assert scheduled(cli) == shard_sites(1, 2)  # --shard wins over the file
    finally:
        await cli.stop()


def test_a_bad_shard_on_the_command_line_is_refused_naming_the_rule(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "-c", str(tmp_path / "vigil.toml"), "--shard", "2/2"])
    assert exited.value.code == 2
    assert "--shard: '2/2': shards are numbered from 0, so I must be less than N" in (
        capsys.readouterr().err)
