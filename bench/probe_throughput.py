"""Probe throughput: Vigil's CPU per 1,000 HTTP checks and its scheduling lag, next to
prometheus-blackbox-exporter's CPU per 1,000 HTTP probes, against the same local server.

What it does, in one run (everything on 127.0.0.1, bounded in time, stops by itself):

1. Starts bench/target_server.py in its own process: a raw-asyncio HTTP server that
   answers every GET with a small 200 page and closes the connection.
2. Vigil: writes a config with ``--lms`` x ``--checks-per-lms`` http checks (default
   20 x 100 = 2,000) at ``--interval`` (default 10 s), each on its own path of the same
   server, and starts ``python -m monitor run -c FILE`` as a subprocess with its
   HTTP server on a free port. After a warm-up (every check has run at least once, and
   at least ``--warmup`` seconds), it measures for ``--seconds`` (default 60):
   - CPU: psutil user+system seconds of the vigil process (all its threads) and its
     children, delta over the window;
   - checks: ``vigil_check_runs_total`` scraped from /metrics at the window's start and
     end (the scrapes sit just outside the CPU window, so their own CPU is not counted;
     both figures are turned into rates over their own exact intervals);
   - lag: p99 of the delta of the ``vigil_scheduler_lag_seconds`` histogram over the
     window, interpolated inside the bucket as PromQL's histogram_quantile does.
3. blackbox_exporter: starts /usr/bin/prometheus-blackbox-exporter on a free port with a
   generated config (module http_2xx: prober http, timeout 5s, preferred_ip_protocol
   ip4), sends ``--blackbox-warmup`` probes, then drives ``--blackbox-probes`` (default:
   as many as Vigil ran in its window at its nominal rate) through
   ``/probe?module=http_2xx&target=http://127.0.0.1:PORT/siteNN/cNNN`` paced at
   ``--blackbox-rate`` probes/s (default: Vigil's nominal rate, checks / interval = 200/s)
   with at most ``--blackbox-concurrency`` probes in flight (keep-alive client, as
   Prometheus scrapes). CPU: psutil user+system seconds of the exporter over the window.
4. Prints both figures, the ratio Vigil/blackbox and PASS/MISS against the targets
   (ratio <= 1, as efficient as the Go exporter (#12); p99 lag < 1 s). Always exits 0
   when the measurement itself succeeded: it is a measurement, not a test.

Run (about 2.5 minutes with the defaults):

    python bench/probe_throughput.py
    python bench/probe_throughput.py --seconds 90 --lms 1 --checks-per-lms 2000

The target server's CPU share during each phase is printed too: it must stay well
below one core, so that it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from _support import (
    BENCH,
    BLACKBOX,
    BLACKBOX_CONFIG,
    LOOPBACK,
    Children,
    CpuSample,
    bucket_delta,
    cpu_sample,
    free_port,
    histogram_buckets,
    histogram_quantile,
    http_ok,
    machine_line,
    python,
    quantile_bucket,
    scrape,
    total,
    verdict,
    wait_until,
    warn_if_busy,
    work_directory,
)

RATIO_TARGET = 1.0  # issue #12: at most as much CPU per probe as blackbox_exporter
LAG_TARGET = 1.0


@dataclass(frozen=True, slots=True)
class VigilFigures:
    checks: int
    all_ran_once_by: float
    skipped_at_start: float
    runs: float
    ok_runs: float
    skipped: float
    window: float
    cpu_seconds: float
    cpu_per_1000: float
    check_rate: float
    lag_p50: float
    lag_p99: float
    lag_p99_bucket: tuple[float, float]
    lag_max_bucket: float
    lag_observations: float
    rss_mb: float
    server_cpu_pct: float


@dataclass(frozen=True, slots=True)
class BlackboxFigures:
    probes: int
    succeeded: int
    window: float
    cpu_seconds: float
    cpu_per_1000: float
    probe_rate: float
    latency_p99: float
    rss_mb: float
    server_cpu_pct: float


def target_path(lms: int, check: int) -> str:
    return f"/site{lms:02d}/c{check:04d}"


def vigil_config(state_dir: Path, api_port: int, target: str, args: argparse.Namespace) -> str:
    lines = [
        "[state]", f'dir = "{state_dir}"',
        "[server]", f'host = "{LOOPBACK}"', f"port = {api_port}",
        "[scheduler]", f"max_concurrency = {args.max_concurrency}",
        "[[alerts.receivers]]", 'name = "log"', 'type = "log"',
    ]
    for lms in range(args.lms):
        lines += ["[[lms]]", f'name = "site{lms:02d}"', f'url = "{target}/site{lms:02d}/"']
        for check in range(args.checks_per_lms):
            lines += [f"[lms.checks.c{check:04d}]", 'type = "http"',
                      f'url = "{target}{target_path(lms, check)}"',
                      f'interval = "{args.interval:g}s"', f'timeout = "{args.timeout:g}s"']
    return "\n".join(lines) + "\n"


def py_spy() -> str:
    """py-spy from PATH, else beside this interpreter (pip installs it into the venv)."""
    beside = Path(sys.executable).parent / "py-spy"
    found = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if found is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy (into this venv)")
    return found


def cpu_pct(before: CpuSample, after: CpuSample) -> float:
    return 100.0 * (after.cpu - before.cpu) / max(after.at - before.at, 1e-9)


def run_vigil(children: Children, workdir: Path, target: str,
              server: psutil.Process, args: argparse.Namespace) -> VigilFigures:
    api_port = free_port()
    config = workdir / "vigil.toml"
    config.write_text(vigil_config(workdir / "state", api_port, target, args))
    checks = args.lms * args.checks_per_lms
    print(f"[vigil] starting with {checks} http checks every {args.interval:g}s "
          f"(log: {workdir / 'vigil.log'})", flush=True)
    proc = children.start("vigil", [python(), "-m", "monitor", "run", "-c", str(config)],
                          log=workdir / "vigil.log")
    api = f"http://{LOOPBACK}:{api_port}"
    wait_until(lambda: http_ok(api + "/readyz"), 60, "vigil /readyz", proc)
    started = time.monotonic()

    def all_ran_once() -> float | None:
        """Skipped runs so far + 1 (truthy) once every check has run, else None."""
        _, samples = scrape(api + "/metrics")
        if total(samples, "vigil_check_runs_total") < checks:
            return None
        return total(samples, "vigil_check_skipped_total") + 1
    skipped_at_start = wait_until(all_ran_once, args.interval * 3 + 120,
                                  "every check to run once", proc, interval=0.5) - 1
    all_ran_once_by = time.monotonic() - started
    print(f"[vigil] every check ran once {all_ran_once_by:.1f}s after /readyz "
          f"({skipped_at_start:.0f} runs skipped so far); warming up {args.warmup:g}s more",
          flush=True)
    time.sleep(args.warmup)
    print(f"[vigil] measuring for {args.seconds:g}s", flush=True)

    vigil = psutil.Process(proc.pid)
    profiler = None
    if args.profile is not None:  # py-spy samples from outside; its own CPU is not vigil's
        profiler = children.start("py-spy", [
            py_spy(), "record", "--format", "raw", "--rate", "100",
            "--duration", str(int(args.seconds)), "--pid", str(proc.pid),
            "--output", str(args.profile)], log=workdir / "py-spy.log")
    t0, before = scrape(api + "/metrics")
    cpu0, srv0 = cpu_sample(vigil), cpu_sample(server)
    time.sleep(args.seconds)
    cpu1, srv1 = cpu_sample(vigil), cpu_sample(server)
    t1, after = scrape(api + "/metrics")
    if profiler is not None:
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            children.stop(profiler)
        print(f"[vigil] py-spy profile (collapsed stacks) written to {args.profile}", flush=True)
    if proc.poll() is not None:
        raise RuntimeError(f"vigil exited during the measurement (code {proc.returncode})")
    children.stop(proc)

    runs = total(after, "vigil_check_runs_total") - total(before, "vigil_check_runs_total")
    ok_runs = (total(after, "vigil_check_runs_total", status="OK")
               - total(before, "vigil_check_runs_total", status="OK"))
    skipped = (total(after, "vigil_check_skipped_total")
               - total(before, "vigil_check_skipped_total"))
    lag = bucket_delta(histogram_buckets(before, "vigil_scheduler_lag_seconds"),
                       histogram_buckets(after, "vigil_scheduler_lag_seconds"))
    check_rate = runs / (t1 - t0)
    cpu_rate = (cpu1.cpu - cpu0.cpu) / (cpu1.at - cpu0.at)
    nonempty = [bound for (bound, count), (_, prev) in zip(lag, [(0.0, 0.0), *lag], strict=False)
                if count > prev]
    return VigilFigures(
        checks=checks, all_ran_once_by=all_ran_once_by, skipped_at_start=skipped_at_start,
        runs=runs, ok_runs=ok_runs, skipped=skipped, window=cpu1.at - cpu0.at,
        cpu_seconds=cpu1.cpu - cpu0.cpu,
        cpu_per_1000=1000.0 * cpu_rate / check_rate if check_rate else math.inf,
        check_rate=check_rate,
        lag_p50=histogram_quantile(0.50, lag), lag_p99=histogram_quantile(0.99, lag),
        lag_p99_bucket=quantile_bucket(0.99, lag),
        lag_max_bucket=nonempty[-1] if nonempty else math.nan,
        lag_observations=lag[-1][1] if lag else 0.0, rss_mb=cpu1.rss / 2**20,
        server_cpu_pct=cpu_pct(srv0, srv1),
    )


async def drive_probes(base: str, target: str, count: int, rate: float, concurrency: int,
                       paths: list[str], offset: int) -> tuple[int, list[float]]:
    """Send ``count`` /probe requests paced at ``rate``/s (0: as fast as allowed)."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    succeeded = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:
        async def one(i: int) -> None:
            nonlocal succeeded
            try:
                start = time.monotonic()
                params = {"module": "http_2xx", "target": target + paths[(offset + i) % len(paths)]}
                response = await client.get(base + "/probe", params=params)
                latencies.append(time.monotonic() - start)
                if re.search(r"^probe_success 1$", response.text, re.MULTILINE):
                    succeeded += 1
            finally:
                slots.release()

        tasks: set[asyncio.Task[None]] = set()
        began = time.monotonic()
        for i in range(count):
            if rate > 0:
                delay = began + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    return succeeded, latencies


def run_blackbox(children: Children, workdir: Path, target: str,
                 server: psutil.Process, probes: int, args: argparse.Namespace) -> BlackboxFigures:
    port = free_port()
    config = workdir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG)
    print(f"[blackbox] starting {BLACKBOX} (log: {workdir / 'blackbox.log'})", flush=True)
    proc = children.start("blackbox", [BLACKBOX, f"--config.file={config}",
                                       f"--web.listen-address={LOOPBACK}:{port}",
                                       "--log.level=warn"], log=workdir / "blackbox.log")
    base = f"http://{LOOPBACK}:{port}"
    wait_until(lambda: http_ok(base + "/-/healthy"), 30, "blackbox_exporter /-/healthy", proc)
    paths = [target_path(lms, check) for lms in range(args.lms)
             for check in range(args.checks_per_lms)]
    asyncio.run(drive_probes(base, target, args.blackbox_warmup, args.blackbox_rate,
                             args.blackbox_concurrency, paths, 0))
    print(f"[blackbox] warm-up done; driving {probes} probes at "
          f"{args.blackbox_rate:g}/s" if args.blackbox_rate > 0 else
          f"[blackbox] warm-up done; driving {probes} probes as fast as "
          f"{args.blackbox_concurrency} clients allow", flush=True)
    exporter = psutil.Process(proc.pid)
    cpu0, srv0 = cpu_sample(exporter), cpu_sample(server)
    succeeded, latencies = asyncio.run(drive_probes(
        base, target, probes, args.blackbox_rate, args.blackbox_concurrency, paths,
        args.blackbox_warmup))
    cpu1, srv1 = cpu_sample(exporter), cpu_sample(server)
    if proc.poll() is not None:
        raise RuntimeError(f"blackbox_exporter exited during the measurement "
                           f"(code {proc.returncode})")
    children.stop(proc)
    latencies.sort()
    window = cpu1.at - cpu0.at
    return BlackboxFigures(
        probes=probes, succeeded=succeeded, window=window, cpu_seconds=cpu1.cpu - cpu0.cpu,
        cpu_per_1000=1000.0 * (cpu1.cpu - cpu0.cpu) / probes, probe_rate=probes / window,
        latency_p99=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies else math.nan,
        rss_mb=cpu1.rss / 2**20, server_cpu_pct=cpu_pct(srv0, srv1),
    )


def report(vigil: VigilFigures, bb: BlackboxFigures, args: argparse.Namespace) -> None:
    ratio = vigil.cpu_per_1000 / bb.cpu_per_1000 if bb.cpu_per_1000 > 0 else math.inf
    print()
    print(f"probe_throughput  {machine_line()}")
    print("target: one local HTTP server process (bench/target_server.py), same URL shape "
          "http://127.0.0.1:PORT/siteNN/cNNNN for both tools")
    print()
    print(f"{'':34} {'Vigil':>14} {'blackbox_exporter':>18}")
    print(f"{'probes in window':34} {vigil.runs:>14.0f} {bb.probes:>18d}")
    print(f"{'  of which OK / probe_success':34} {vigil.ok_runs:>14.0f} {bb.succeeded:>18d}")
    print(f"{'window (s)':34} {vigil.window:>14.1f} {bb.window:>18.1f}")
    print(f"{'probe rate (/s)':34} {vigil.check_rate:>14.1f} {bb.probe_rate:>18.1f}")
    print(f"{'CPU seconds in window':34} {vigil.cpu_seconds:>14.2f} {bb.cpu_seconds:>18.2f}")
    print(f"{'CPU % of one core':34} {100 * vigil.cpu_seconds / vigil.window:>14.1f} "
          f"{100 * bb.cpu_seconds / bb.window:>18.1f}")
    print(f"{'CPU seconds per 1,000 probes':34} {vigil.cpu_per_1000:>14.3f} "
          f"{bb.cpu_per_1000:>18.3f}")
    print(f"{'RSS at end (MB)':34} {vigil.rss_mb:>14.1f} {bb.rss_mb:>18.1f}")
    print(f"{'target server CPU % (not counted)':34} {vigil.server_cpu_pct:>14.1f} "
          f"{bb.server_cpu_pct:>18.1f}")
    print()
    print(f"Vigil: {vigil.checks} checks every {args.interval:g}s "
          f"({args.lms} LMS x {args.checks_per_lms}), max_concurrency {args.max_concurrency}; "
          f"runs skipped in window: {vigil.skipped:.0f}")
    print(f"Vigil start-up: every check had run once {vigil.all_ran_once_by:.1f}s after "
          f"/readyz; {vigil.skipped_at_start:.0f} runs skipped until then")
    print(f"Vigil scheduling lag over {vigil.lag_observations:.0f} runs: "
          f"p50 {vigil.lag_p50 * 1000:.1f} ms, p99 {vigil.lag_p99 * 1000:.1f} ms "
          f"(interpolated in its bucket ({vigil.lag_p99_bucket[0]:g}, "
          f"{vigil.lag_p99_bucket[1]:g}] s; highest non-empty bucket "
          f"le={vigil.lag_max_bucket:g} s)")
    pacing = (f"paced at {args.blackbox_rate:g}/s" if args.blackbox_rate > 0
              else "unpaced")
    print(f"blackbox: {pacing}, at most {args.blackbox_concurrency} in flight; "
          f"/probe p99 latency {bb.latency_p99 * 1000:.1f} ms")
    print()
    print(f"ratio Vigil/blackbox CPU per 1,000 probes: {ratio:.2f}  "
          f"(target <= {RATIO_TARGET:g})  {verdict(ratio <= RATIO_TARGET)}")
    print(f"Vigil p99 scheduling lag: {vigil.lag_p99:.3f} s  "
          f"(target < {LAG_TARGET:g} s)  {verdict(vigil.lag_p99 < LAG_TARGET)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Vigil vs blackbox_exporter: CPU per 1,000 HTTP probes and p99 "
                    "scheduling lag, against one local HTTP server.")
    parser.add_argument("--lms", type=int, default=20, help="LMS targets (default 20)")
    parser.add_argument("--checks-per-lms", type=int, default=100,
                        help="http checks per LMS (default 100)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="check interval in seconds (default 10)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="check timeout in seconds (default 5)")
    parser.add_argument("--max-concurrency", type=int, default=64,
                        help="Vigil [scheduler] max_concurrency (default 64, Vigil's default)")
    parser.add_argument("--warmup", type=float, default=20.0,
                        help="Vigil warm-up: wait until every check ran once, then this many "
                             "seconds more before the window (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="Vigil measurement window in seconds (default 60)")
    parser.add_argument("--blackbox-probes", type=int, default=0,
                        help="probes sent to blackbox_exporter in its window (default: "
                             "Vigil's nominal rate x --seconds, at least 1000)")
    parser.add_argument("--blackbox-rate", type=float, default=0.0,
                        help="probes/s sent to blackbox_exporter, 0 = Vigil's nominal rate "
                             "(checks / interval); negative = unpaced")
    parser.add_argument("--blackbox-concurrency", type=int, default=64,
                        help="most /probe requests in flight (default 64)")
    parser.add_argument("--blackbox-warmup", type=int, default=200,
                        help="probes sent before blackbox_exporter's window (default 200)")
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE",
                        help="also sample vigil with py-spy (pip install py-spy) during its "
                             "window and write collapsed stacks to FILE (adds some overhead)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (configs, logs, state) and print it")
    args = parser.parse_args()
    nominal = args.lms * args.checks_per_lms / args.interval
    if args.blackbox_rate == 0:
        args.blackbox_rate = nominal
    elif args.blackbox_rate < 0:
        args.blackbox_rate = 0.0
    if args.blackbox_probes <= 0:
        args.blackbox_probes = max(1000, int(nominal * args.seconds))
    return args


def main() -> int:
    args = parse_args()
    if not Path(BLACKBOX).exists():
        print(f"{BLACKBOX} is not installed; on Debian: "
              "apt-get install prometheus-blackbox-exporter", file=sys.stderr)
        return 2
    warn_if_busy()
    with work_directory("vigil-bench-", args.keep) as workdir, Children() as children:
        port = free_port()
        target = f"http://{LOOPBACK}:{port}"
        budget = args.warmup + args.seconds + 3 * args.interval + 600
        server_proc = children.start("target", [
            python(), str(BENCH / "target_server.py"), "--port", str(port),
            "--seconds", str(budget)], log=workdir / "target.log")
        wait_until(lambda: http_ok(target + "/_stats"), 15, "the target server", server_proc)
        server = psutil.Process(server_proc.pid)
        vigil = run_vigil(children, workdir, target, server, args)
        bb = run_blackbox(children, workdir, target, server, args.blackbox_probes, args)
        served = httpx.get(target + "/_stats", timeout=5).text
        report(vigil, bb, args)
        print(f"target server answered {served} requests in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
