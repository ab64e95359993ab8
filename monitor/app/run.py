"""`vigil run`: the daemon as a process: signals, start, wait, stop, exit codes.

Exit codes: 0 stopped by SIGTERM/SIGINT; 1 could not start (e.g. the API port is taken);
2 invalid config (cli/main.py); 4 the state database cannot be opened.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from monitor.app.config import load_config
from monitor.app.daemon import Daemon
from monitor.app.fleet import with_shard
from monitor.kernel.database import StoreError
from monitor.kernel.redact import SecretRegistry

log = logging.getLogger(__name__)

EXIT_STATE = 4  # the state database cannot be opened (permissions, read-only or full disk)
T = TypeVar("T")


def loop_factory(env: Mapping[str, str] | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when it is installed, else asyncio's own.

    uvloop (libuv, in C) runs the same coroutines with less CPU per socket event:
    bench/probe_throughput.py, docs/benchmarks.md "round three". If it cannot be
    imported (a platform without a wheel) the daemon runs as before on asyncio's loop;
    ``VIGIL_EVENT_LOOP=asyncio`` chooses asyncio's loop on purpose (to rule uvloop out
    when chasing a problem)."""
    env = os.environ if env is None else env
    if env.get("VIGIL_EVENT_LOOP", "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            log.debug("uvloop is not installed: running on asyncio's event loop")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop ``loop_factory`` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


async def run_daemon(
    config_path: Path, env: Mapping[str, str] | None = None,
    secrets: SecretRegistry | None = None, shard: str | None = None,
) -> int:
    """``vigil run``: start, serve until SIGTERM/SIGINT, reload on SIGHUP. ``shard``
    (``--shard I/N``) overrides ``[fleet] shard``, at start and on every reload."""
    secrets = SecretRegistry() if secrets is None else secrets
    config = with_shard(load_config(config_path, env=env, secrets=secrets), shard)
    try:
        daemon = Daemon(config, config_path=config_path, env=env, secrets=secrets,
                        shard=shard)
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_STATE
    loop = asyncio.get_running_loop()
    log.info("event loop: %s", type(loop).__module__.split(".")[0])  # uvloop or asyncio
    # asyncio.to_thread and getaddrinfo: daemon threads too, never joined at exit.
    loop.set_default_executor(daemon.runner.pools.loop_executor())
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        await daemon.stop()
        return 1
    await daemon.wait_stopped()
    log.info("stopping")
    await daemon.stop()
    return 0
