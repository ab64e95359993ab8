"""Footprint: resident memory (RSS) and CPU share of `vigil run` with the complete config
`vigil init --moodle` writes for a Moodle site, at the default intervals.

What it does (everything on this machine, bounded in time, stops by itself):

1. Builds the site (bench/_footprint_site.py): the Moodle double's database on the local
   PostgreSQL (``--scale`` of bench/moodle_probes.py's large site; kept and reused with
   ``--keep-db``), a Moodle 5.1 site directory with a code tree of ``--tree-files`` files
   and ``--tree-mb`` MB (bench/integrity.py's Moodle-shaped generator), the demo LMS
   serving the wwwroot over HTTPS (own process, not counted), an SMTP stand-in, the
   vigil-moodle-cli helper on a socket (own process, not counted); then runs
   `vigil init --moodle` and keeps its check set and defaults (26 checks: http, tls, every
   Moodle probe, code_integrity, dataroot_scripts, system, process, os_updates). One
   receiver: a webhook to the demo's sink.
2. Starts `vigil run -c FILE` (through tests/vigil_process_probe.py, which runs the real
   command line and lists sys.modules when it exits) and samples it every
   ``--sample-every`` s for ``--minutes`` (default 40) from the start: RSS, and CPU seconds
   of the process and its children (user + system). /metrics is scraped every 15 s, as
   Prometheus would. The code tree's baseline is recorded before the daemon starts, with
   `vigil integrity baseline` as an admin does at install (README), so the window shows
   the daemon as it runs for good; ``--first-baseline`` lets the daemon record it itself
   (install day: its first run hashes half the tree, the I/O budget leaves the rest to
   the 5-minute runs of the first hour, each dearer than a settled run; "RSS max" then includes
   the first baseline).
3. Prints RSS max and RSS at the end (of the daemon), the peak RSS of the daemon plus its
   child processes (code_integrity runs in one; sampled every 0.2 s), the CPU seconds of
   each minute, and CPU % of one core at the default intervals: from ``--warmup`` s
   (default 15 min) to the end. The first quarter hour is a start-up that happens once:
   the first run of every check, the soft re-checks of the checks
   that fail on this host (os_updates, moodle_filestore: at a fifth of their interval
   until confirmed); its share is printed too, from 60 s. Then PASS/MISS against the
   targets (RSS <= 80 MB, CPU <= 0.5 %), each check's last status, the RSS each imported
   package costs, and the top live Python allocations (tracemalloc) of a second, traced
   daemon started on a fresh state directory and read after ``--trace-seconds`` (0: skip).

Run (about 43 minutes with the defaults; the first run also loads the database):

    python bench/footprint.py
    python bench/footprint.py --minutes 3 --warmup 60 --trace-seconds 60    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from _footprint_memory import import_breakdown, print_breakdown
from _footprint_site import SITE_NAME, MoodleSite, build_site, open_site_database, start_smtp
from _support import (
    LOOPBACK,
    ROOT,
    Children,
    CpuSample,
    cpu_sample,
    free_port,
    http_ok,
    machine_line,
    python,
    verdict,
    wait_until,
    warn_if_busy,
    work_directory,
)

RSS_TARGET_MB = 80.0
CPU_TARGET_PCT = 0.5
PEAK_EVERY = 0.2  # seconds between the RSS samples of daemon + children (Peaks)
PROBE = ROOT / "tests" / "vigil_process_probe.py"


async def serve_demo(info_file: Path, seconds: float) -> None:
    """The demo LMS (HTTP, HTTPS with a private CA, webhook sink) until SIGTERM."""
    sys.path.insert(0, str(ROOT))
    from monitor.app.demo.server import DemoServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = DemoServer(tls_dir=info_file.parent / "demo-tls", cert_days=90)
    await server.start(LOOPBACK, 0, https_port=0, control_port=0)
    assert server.certificate is not None and server.https_url is not None
    info = {"url": server.url, "https_url": server.https_url,
            "ca_file": str(server.certificate.ca_file), "webhook_url": server.webhook_url}
    partial = info_file.with_suffix(".tmp")
    partial.write_text(json.dumps(info))
    partial.rename(info_file)
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
    finally:
        await server.stop()


@dataclass
class Figures:
    samples: list[CpuSample]
    warm: CpuSample  # the sample at --warmup
    scrapes: int
    peaks: Peaks

    @property
    def cpu_pct(self) -> float:
        return self.cpu_pct_from(self.warm)

    def cpu_pct_from(self, first: CpuSample) -> float:
        last = self.samples[-1]
        return 100.0 * (last.cpu - first.cpu) / max(1e-9, last.at - first.at)

    def sample_at(self, seconds: float) -> CpuSample:
        t0 = self.samples[0].at
        return min(self.samples, key=lambda s: abs(s.at - t0 - seconds))

    def rss_mb(self) -> list[float]:
        return [s.rss / 2**20 for s in self.samples]


class Peaks(threading.Thread):
    """RSS peaks sampled every PEAK_EVERY s: the daemon alone, and the daemon plus its
    child processes (code_integrity runs in a short-lived child: its peak would fall
    between the --sample-every samples of the daemon). The sum counts pages the
    processes share (the libraries) once per process: an upper bound."""

    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc, self.done = proc, threading.Event()
        self.daemon_mb = self.total_mb = 0.0
        self.children_seen: set[int] = set()

    def run(self) -> None:
        while not self.done.wait(PEAK_EVERY):
            try:
                own = self.proc.memory_info().rss
                kids = self.proc.children(recursive=True)
            except psutil.Error:
                return
            total = own
            for kid in kids:
                with contextlib.suppress(psutil.Error):
                    total += kid.memory_info().rss
                    self.children_seen.add(kid.pid)
            self.daemon_mb = max(self.daemon_mb, own / 2**20)
            self.total_mb = max(self.total_mb, total / 2**20)


def measure(proc: psutil.Process, api: str, args: argparse.Namespace) -> Figures:
    peaks = Peaks(proc)
    peaks.start()
    start = cpu_sample(proc)
    samples, warm, scrapes = [start], None, 0
    deadline = start.at + args.minutes * 60
    next_sample, next_scrape = start.at + args.sample_every, start.at + 15.0
    with httpx.Client(timeout=10, trust_env=False) as client:
        while True:
            now = time.monotonic()
            if now >= next_scrape:
                try:  # the first scrapes may come before the API listens
                    client.get(api + "/metrics").raise_for_status()
                    scrapes += 1
                except httpx.HTTPError:
                    pass
                next_scrape += 15.0
            if now >= next_sample or now >= deadline:
                samples.append(cpu_sample(proc))
                next_sample += args.sample_every
                if warm is None and now - start.at >= args.warmup:
                    warm = samples[-1]
                if now >= deadline:
                    break
            time.sleep(max(0.0, min(next_sample, next_scrape, deadline) - time.monotonic()))
    peaks.done.set()
    peaks.join()
    return Figures(samples, warm or samples[-1], scrapes, peaks)


def cpu_by_minute(fig: Figures) -> list[str]:
    """CPU seconds spent in each whole minute from the start: a one-off (the first
    baseline) shows as one heavy minute, a steady cost as an even row."""
    minutes = int((fig.samples[-1].at - fig.samples[0].at) // 60)
    return [f"{fig.sample_at(m * 60).cpu - fig.sample_at((m - 1) * 60).cpu:.2f}"
            for m in range(1, minutes + 1)]


def interpreter_build(python: str) -> str:
    """Version and linkage of the daemon's interpreter (pyenv builds a shared libpython,
    Debian links it into /usr/bin/python3.11): part of what the RSS figures depend on."""
    code = ("import sys; print(sys.version.split()[0], 'libpython shared' if 'libpython' in "
            "open('/proc/self/maps').read() else 'libpython linked in')")  # (sysconfig: how
    # the distribution built its libpython, not whether this executable uses it)
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    return done.stdout.strip() or f"could not ask it: {done.stderr.strip()[-200:]}"


def report(fig: Figures, site: MoodleSite, checks: list[dict[str, Any]],
           args: argparse.Namespace) -> None:
    rss = fig.rss_mb()
    print(f"\nfootprint  {machine_line()}")
    print(f"command: python bench/footprint.py {' '.join(sys.argv[1:])}".rstrip())
    configured = len(tomllib.loads(site.config.read_text())["lms"][0]["checks"])
    print(f"vigil run with the config `vigil init --moodle` wrote ({configured} checks + "
          f"{len(checks) - configured} of alerting's synthetic ones, 1 Moodle 5.1 site); "
          f"database {site.loaded}; code tree {site.tree_files:,} files "
          f"{site.tree_bytes / 1e6:,.0f} MB; /metrics every 15 s ({fig.scrapes} scrapes); "
          f"1 webhook receiver; vigil ran on {args.vigil_python} "
          f"({interpreter_build(args.vigil_python)}); code tree baseline "
          + ("recorded by the daemon's own first runs (--first-baseline)" if args.first_baseline
             else "recorded beforehand by `vigil integrity baseline`, as at install"))
    marks = [m for m in (1, 2, 5, 10, 20, 30, 60) if m <= args.minutes] + [args.minutes]
    timeline = []
    for minute in dict.fromkeys(marks):
        at = fig.sample_at(minute * 60)
        timeline.append(f"{minute:g} min {at.rss / 2**20:.1f}")
    print("RSS over time (MB): " + ", ".join(timeline))
    print("CPU per minute, daemon + children (CPU-s): " + ", ".join(cpu_by_minute(fig)))
    print()
    print(f"RSS max           {max(rss):7.1f} MB  (target <= {RSS_TARGET_MB:g} MB)  "
          f"{verdict(max(rss) <= RSS_TARGET_MB)}")
    print(f"RSS after {args.minutes:g} min  {rss[-1]:7.1f} MB  (target <= {RSS_TARGET_MB:g} MB)  "
          f"{verdict(rss[-1] <= RSS_TARGET_MB)}")
    print(f"RSS peak, daemon + children {fig.peaks.total_mb:7.1f} MB  (daemon alone "
          f"{fig.peaks.daemon_mb:.1f} MB; sampled every {PEAK_EVERY:g} s; "
          f"{len(fig.peaks.children_seen)} child processes seen, code_integrity runs in one; "
          f"the sum counts shared library pages once per process)")
    print(f"CPU               {fig.cpu_pct:7.2f} %   of one core from {args.warmup:g} s to the "
          f"end, at the default intervals (target <= {CPU_TARGET_PCT:g} %)  "
          f"{verdict(fig.cpu_pct <= CPU_TARGET_PCT)}")
    print(f"CPU from 60 s to the end, start-up included: {fig.cpu_pct_from(fig.sample_at(60)):.2f} "
          f"%; CPU seconds in the first {args.warmup:g} s (first runs, soft re-checks"
          + (", the first baseline" if args.first_baseline else "")
          + f"): {fig.warm.cpu - fig.samples[0].cpu:.2f}")
    print("\nlast results:")
    for check in sorted(checks, key=lambda c: str(c.get("check"))):
        print(f"  {check.get('check'):<28} {check.get('status', '?'):<9} "
              f"{str(check.get('summary', ''))[:110]}")


def traced_run(children: Children, site: MoodleSite, workdir: Path, seconds: float,
               interpreter: str) -> str:
    """A second daemon on a fresh state directory (its first baseline included), traced
    with tracemalloc; its allocations after ``seconds``."""
    config = workdir / "traced.toml"
    api_port = free_port()
    text = site.config.read_text()
    text = text.replace(f'dir = "{workdir / "state"}"', f'dir = "{workdir / "state-traced"}"')
    text = re.sub(r"^port = \d+$", f"port = {api_port}", text, count=1, flags=re.M)
    config.write_text(text)
    out = workdir / "trace.txt"
    proc = children.start("traced", [interpreter, str(PROBE), "--modules",
                                     str(workdir / "traced-modules.json"), "--trace", str(out),
                                     "--", "run", "-c", str(config)],
                          log=workdir / "traced.log")
    api = f"http://{LOOPBACK}:{api_port}"
    wait_until(lambda: http_ok(api + "/readyz"), 600, "traced vigil /readyz", proc)
    time.sleep(seconds)
    proc.send_signal(signal.SIGUSR1)
    wait_until(out.exists, 600, "the tracemalloc snapshot", proc)
    children.stop(proc)
    return out.read_text()


def settle_baseline(site: MoodleSite, interpreter: str) -> None:
    """The baseline as an admin records it at install (README): every file hashed once,
    before the daemon starts; its CPU is not the daemon's. Without it the daemon's own
    first baseline leaves half the tree to the next ~10 five-minute runs (the I/O budget),
    and a 40-minute window measures that first hour, not the daemon as it runs for good."""
    done = subprocess.run([interpreter, "-m", "monitor", "integrity", "baseline", "-c",
                           str(site.config), "--lms", SITE_NAME],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"vigil integrity baseline failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=40.0,
                        help="how long to watch the daemon (default 40)")
    parser.add_argument("--warmup", type=float, default=900.0,
                        help="seconds of start-up not counted in CPU %% (default 900)")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--scale", type=float, default=0.1,
                        help="database size, x bench/moodle_probes.py's large site (0.1)")
    parser.add_argument("--tree-files", type=int, default=30_500)
    parser.add_argument("--tree-mb", type=int, default=320)
    parser.add_argument("--trace-seconds", type=float, default=120.0,
                        help="tracemalloc a second daemon for this long (0: skip)")
    parser.add_argument("--vigil-python", default=python(),
                        help="the interpreter that runs vigil, e.g. of a venv with only "
                             "`pip install .` (no test extras); default: this one")
    parser.add_argument("--first-baseline", action="store_true",
                        help="let the daemon record the code tree's first baseline itself "
                             "(install day) instead of `vigil integrity baseline` beforehand")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--keep-db", action="store_true", help="keep the database for reuse")
    parser.add_argument("--serve-demo", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-seconds", type=float, default=7200.0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.serve_demo is not None:  # the demo LMS's own process
        asyncio.run(serve_demo(args.serve_demo, args.serve_seconds))
        return 0
    warn_if_busy()
    say = lambda msg: print(f"[footprint] {msg}", flush=True)  # noqa: E731
    db, loaded = open_site_database(args.scale, say)
    smtp = start_smtp(free_port())
    try:
        with work_directory("vigil-footprint-", args.keep) as workdir, Children() as children:
            info_file = workdir / "demo.json"
            demo_proc = children.start("demo", [
                python(), str(Path(__file__).resolve()), "--serve-demo", str(info_file),
                "--serve-seconds", str(args.minutes * 60 + args.trace_seconds + 1800)],
                log=workdir / "demo.log")
            wait_until(info_file.exists, 60, "the demo LMS", demo_proc)
            demo = json.loads(info_file.read_text())
            api_port = free_port()
            say("building the site and running `vigil init --moodle`")
            site = build_site(workdir, db, loaded, demo, smtp.port, api_port, args.tree_files,
                              args.tree_mb)
            helper = children.start("helper", site.helper_argv(), log=workdir / "helper.log")
            wait_until(site.helper_socket.exists, 30, "the vigil-moodle-cli helper", helper)
            if not args.first_baseline:
                say("recording the code tree's baseline with `vigil integrity baseline`")
                settle_baseline(site, args.vigil_python)
            modules = workdir / "modules.json"
            proc = children.start("vigil", [args.vigil_python, str(PROBE), "--modules",
                                            str(modules), "--", "run", "-c", str(site.config)],
                                  log=workdir / "vigil.log")
            api = f"http://{LOOPBACK}:{api_port}"
            say(f"vigil started (log: {workdir / 'vigil.log'}); sampling for "
                f"{args.minutes:g} min")
            figures = measure(psutil.Process(proc.pid), api, args)
            if proc.poll() is not None:
                raise RuntimeError(f"vigil exited during the measurement ({proc.returncode})")
            checks = [c for c in httpx.get(api + "/api/v1/checks", timeout=30).json()["checks"]
                      if c.get("lms") == SITE_NAME]
            children.stop(proc)
            report(figures, site, checks, args)
            print()
            loaded_modules = len(json.loads(modules.read_text()))
            print_breakdown(import_breakdown(modules, args.vigil_python), loaded_modules)
            if args.trace_seconds > 0:
                say(f"tracing a second daemon for {args.trace_seconds:g} s")
                print("\nwhere the Python heap goes (tracemalloc, a second daemon on a fresh "
                      f"state directory, after {args.trace_seconds:g} s):")
                print(traced_run(children, site, workdir, args.trace_seconds,
                                 args.vigil_python))
    finally:
        smtp.stop()
        if args.keep_db:
            from _moodle_support import keep_open

            keep_open(db)
        else:
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
