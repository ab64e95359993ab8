"""``vigil demo``: a demo LMS with injected faults and the daemon watching it.

Starts the Moodle-like demo LMS (monitor/app/demo/lms.py) on loopback, loads the bundled
demo config (pages/demo.toml, the same as examples/demo.toml) with its ports filled
in, runs the real daemon against it and switches faults on a timer, so a newcomer sees
alerts fire and resolve in the terminal and at the webhook within two minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from importlib import resources
from pathlib import Path

from monitor.app.config import parse_config
from monitor.app.daemon import Daemon
from monitor.app.demo.faults import FaultSchedule
from monitor.app.demo.server import DemoServer

log = logging.getLogger("vigil.demo")


def demo_config_text() -> str:
    return resources.files("monitor.app.demo").joinpath("pages/demo.toml").read_text("utf-8")


def demo_env(server: DemoServer, state_dir: Path, api_port: int) -> dict[str, str]:
    assert server.certificate is not None and server.https_url is not None
    return {
        "VIGIL_DEMO_STATE": str(state_dir),
        "VIGIL_DEMO_API_PORT": str(api_port),
        "VIGIL_DEMO_LMS_URL": server.url,
        "VIGIL_DEMO_TLS_PORT": server.https_url.rsplit(":", 1)[1],
        "VIGIL_DEMO_CA": str(server.certificate.ca_file),
        # The webhook sink lives on the control listener, which stays up while "down".
        "VIGIL_DEMO_WEBHOOK_URL": server.webhook_url,
    }


def _banner(server: DemoServer, daemon: Daemon, schedule: FaultSchedule) -> str:
    api = daemon.server.url if daemon.server else "(HTTP API disabled)"
    rows = "\n".join(f"    {start:5.0f}s - {end:5.0f}s  {fault}"
                     for start, end, fault in schedule.table())
    return (
        "\nVigil demo running. Press Ctrl-C to stop.\n"
        f"  demo LMS          {server.url}/login/index.php   (HTTPS {server.https_url})\n"
        f"  console           {api}/\n"
        f"  check states      {api}/api/v1/checks\n"
        f"  firing alerts     {api}/api/v1/alerts\n"
        f"  Prometheus        {api}/metrics\n"
        f"  webhook received  {server.webhook_url}\n"
        f"  fault schedule (repeats every {schedule.cycle_seconds:.0f}s):\n{rows}\n"
    )


async def run_demo(state_dir: Path, api_port: int = 9787, duration: float | None = None) -> int:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    server = DemoServer(tls_dir=state_dir / "demo-tls", cert_days=14)
    await server.start()
    config = parse_config(demo_config_text(), source="demo.toml",
                          env=demo_env(server, state_dir, api_port))
    daemon = Daemon(config)
    schedule = FaultSchedule()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.start()
    except OSError as exc:
        log.error("cannot start the daemon: %s (is another vigil using port %d? try --port)",
                  exc, api_port)
        await daemon.stop()
        await server.stop()
        return 1
    print(_banner(server, daemon, schedule), flush=True)
    faults = asyncio.create_task(server.run_schedule(schedule, clock=time.monotonic))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration)
    finally:
        faults.cancel()
        await asyncio.gather(faults, return_exceptions=True)
        await daemon.stop()
        await server.stop()
    received = len(server.sink.received)
    print(f"\nDemo stopped. The webhook received {received} notification(s); "
          f"state kept in {state_dir}.", flush=True)
    return 0
