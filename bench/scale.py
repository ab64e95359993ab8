"""A thousand sites on one instance: scheduling lag, CPU, RSS, state file and /metrics.

What it does, in one run (everything on 127.0.0.1, bounded in time, stops by itself):

1. Writes a private CA and a server certificate (monitor/app/demo/tls.py) and starts
   bench/target_server.py in its own process: the same small login page over HTTP and
   HTTPS, and a DNS responder answering every A query with 127.0.0.1.
2. Writes a config of ``--sites`` LMS (default 1,000), each with the generic checks a
   site gets (``http`` on its login page over HTTPS and ``tls``, as ``with_check_defaults``
   gives an https site) plus ``tcp``, ``dns`` and six more ``http`` pages: 10 checks a
   site, 10,000 in all, every ``--interval`` (default 60 s). Each site has its own paths
   (/siteNNNN/...) and DNS name on the shared ports.
3. Starts ``python -m monitor run -c FILE``, waits until every check has run once, then
   measures for ``--minutes`` (default 3): CPU and RSS (psutil, sampled every 5 s), the
   lag histogram ``vigil_scheduler_lag_seconds`` (p50/p99 of its delta over the window,
   interpolated as PromQL's histogram_quantile does), the state file's size and growth
   (file + WAL), its rows written (check_history rows, read-only) and the process's bytes
   written (/proc io), and a GET of /metrics every 15 s (one kept client, as Prometheus
   has) with the headers Prometheus 2.42 sends (``Accept: application/openmetrics-text;
   version=1.0.0,...`` and ``Accept-Encoding: gzip``; time until the body is read and
   inflated, its size and the bytes on the wire), plus, 7.5 s after each, a plain one
   (text format, no compression: what rounds one and two measured).
4. Prints PASS/MISS: p99 lag < 1 s, median /metrics scrape (as Prometheus asks) < 100 ms,
   max RSS < 400 MB.
   Exits 0 whenever the measurement itself worked: a measurement, not a test.

Run (about 2 minutes of start-up, then the window):

    python bench/scale.py
    python bench/scale.py --minutes 10
    python bench/scale.py --sites 100 --minutes 1     # a quick look
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from _support import (
    BENCH,
    LOOPBACK,
    ROOT,
    Children,
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

LAG_TARGET = 1.0
SCRAPE_TARGET = 0.100
RSS_TARGET_MB = 400.0
# What Prometheus 2.42 sends with each scrape (captured from /usr/bin/prometheus).
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
PLAIN_HEADERS = {"Accept": "text/plain;version=0.0.4", "Accept-Encoding": "identity"}
PAGES = (
    "",
    "login/index.php",
    "course/view.php?id=2",
    "my/",
    "theme/styles.php",
    "login/token.php?appsitecheck=1",
)


def site_checks(n: int, ports: dict[str, int], ca: Path, interval: float) -> list[str]:
    """The TOML of one site: http + tls (the https defaults), tcp, dns and six pages."""
    site = f"site{n:04d}"
    https = f"https://{LOOPBACK}:{ports['https']}/{site}"
    every = f'interval = "{interval:g}s"'
    lines = [
        "[[lms]]",
        f'name = "{site}"',
        f'url = "{https}/"',
        "[lms.checks.http]",
        f'url = "{https}/login/index.php"',
        f'ca_file = "{ca}"',
        'keyword = "Log in"',
        every,
        "[lms.checks.tls]",
        f"port = {ports['https']}",
        'server_name = "localhost"',
        f'ca_file = "{ca}"',
        every,
        "[lms.checks.tcp]",
        f'host = "{LOOPBACK}"',
        f"port = {ports['http']}",
        every,
        "[lms.checks.dns]",
        f'name = "{site}.lms.test"',
        f'nameservers = ["{LOOPBACK}"]',
        f"port = {ports['dns']}",
        every,
    ]
    for i, page in enumerate(PAGES):
        lines += [
            f"[lms.checks.page{i}]",
            'type = "http"',
            f'url = "http://{LOOPBACK}:{ports["http"]}/{site}/{page}"',
            every,
        ]
    return lines


def vigil_config(
    state_dir: Path, api_port: int, ports: dict[str, int], ca: Path, args: argparse.Namespace
) -> str:
    lines = [
        "[state]",
        f'dir = "{state_dir}"',
        "[server]",
        f'host = "{LOOPBACK}"',
        f"port = {api_port}",
        "[[alerts.receivers]]",
        'name = "log"',
        'type = "log"',
    ]
    for n in range(args.sites):
        lines += site_checks(n, ports, ca, args.interval)
    return "\n".join(lines) + "\n"


@dataclass
class Window:
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (at, cpu seconds)
    rss_mb: list[float] = field(default_factory=list)
    scrape_s: list[float] = field(default_factory=list)  # as Prometheus asks
    scrape_bytes: list[int] = field(default_factory=list)
    scrape_wire: list[int] = field(default_factory=list)
    plain_s: list[float] = field(default_factory=list)  # text, no compression


def state_bytes(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("vigil.sqlite3*") if p.exists())


def history_rows(state_dir: Path) -> int:
    db = sqlite3.connect(f"file:{state_dir / 'vigil.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM check_history").fetchone()[0])
    finally:
        db.close()


def timed_scrape(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, int, int]:
    """Seconds until the body is read (and inflated), its size, the bytes on the wire.

    One client for the whole window, as Prometheus keeps its own: a new httpx client per
    GET (``httpx.get``) built an SSL context each time, ~20 ms of CPU inside the timing."""
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    size = len(response.content)
    return time.perf_counter() - start, size, response.num_bytes_downloaded


def measure(vigil: psutil.Process, api: str, state_dir: Path, seconds: float) -> Window:
    window = Window()
    end = time.monotonic() + seconds
    next_scrape = time.monotonic() + 7.5
    next_plain = next_scrape + 7.5
    client = httpx.Client(timeout=60)
    while time.monotonic() < end:
        sample = cpu_sample(vigil)
        window.cpu.append((sample.at, sample.cpu))
        window.rss_mb.append(sample.rss / 2**20)
        if time.monotonic() >= next_scrape:
            took, size, wire = timed_scrape(client, api + "/metrics", PROMETHEUS_HEADERS)
            window.scrape_s.append(took)
            window.scrape_bytes.append(size)
            window.scrape_wire.append(wire)
            next_scrape += 15.0
        if time.monotonic() >= next_plain:
            window.plain_s.append(timed_scrape(client, api + "/metrics", PLAIN_HEADERS)[0])
            next_plain += 15.0
        time.sleep(max(0.0, min(5.0, end - time.monotonic())))
    client.close()
    sample = cpu_sample(vigil)
    window.cpu.append((sample.at, sample.cpu))
    window.rss_mb.append(sample.rss / 2**20)
    return window


def run(args: argparse.Namespace, children: Children, workdir: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from monitor.app.demo.tls import write_demo_certificate

    cert = write_demo_certificate(workdir / "tls", days=90.0)
    ports = {"http": free_port(), "https": free_port(), "dns": free_port()}
    budget = args.minutes * 60 + 3 * args.interval + 900
    target = children.start(
        "target",
        [
            python(),
            str(BENCH / "target_server.py"),
            "--port",
            str(ports["http"]),
            "--tls-port",
            str(ports["https"]),
            "--cert",
            str(cert.cert_file),
            "--key",
            str(cert.key_file),
            "--dns-port",
            str(ports["dns"]),
            "--seconds",
            str(budget),
        ],
        log=workdir / "target.log",
    )
    wait_until(
        lambda: http_ok(f"http://{LOOPBACK}:{ports['http']}/_stats"),
        15,
        "the target server",
        target,
    )
    api_port = free_port()
    state_dir = workdir / "state"
    config = workdir / "vigil.toml"
    config.write_text(vigil_config(state_dir, api_port, ports, cert.ca_file, args))
    checks = args.sites * (4 + len(PAGES))
    print(
        f"[scale] {args.sites} sites, {checks} checks every {args.interval:g}s; starting "
        f"vigil (log: {workdir / 'vigil.log'})",
        flush=True,
    )
    started = time.monotonic()
    proc = children.start(
        "vigil", [python(), "-m", "monitor", "run", "-c", str(config)], log=workdir / "vigil.log"
    )
    api = f"http://{LOOPBACK}:{api_port}"
    wait_until(lambda: http_ok(api + "/healthz"), 300, "vigil /healthz", proc, interval=1)
    ready = time.monotonic() - started

    def all_ran() -> bool:
        return total(scrape(api + "/metrics", timeout=60)[1], "vigil_check_runs_total") >= checks

    wait_until(all_ran, args.interval * 3 + 300, "every check to run once", proc, interval=5)
    print(
        f"[scale] up in {ready:.1f}s; every check ran once {time.monotonic() - started:.1f}s "
        f"after start; warming up {args.warmup:g}s, then measuring {args.minutes:g} min",
        flush=True,
    )
    time.sleep(args.warmup)
    vigil = psutil.Process(proc.pid)
    _, before = scrape(api + "/metrics", timeout=60)
    bytes0, rows0, io0 = state_bytes(state_dir), history_rows(state_dir), vigil.io_counters()
    window = measure(vigil, api, state_dir, args.minutes * 60)
    bytes1, rows1, io1 = state_bytes(state_dir), history_rows(state_dir), vigil.io_counters()
    _, after = scrape(api + "/metrics", timeout=60)
    if proc.poll() is not None:
        raise RuntimeError(f"vigil exited during the measurement (code {proc.returncode})")
    children.stop(proc)

    wall = window.cpu[-1][0] - window.cpu[0][0]
    cpu_pct = 100 * (window.cpu[-1][1] - window.cpu[0][1]) / wall
    runs = total(after, "vigil_check_runs_total") - total(before, "vigil_check_runs_total")
    ok = total(after, "vigil_check_runs_total", status="OK") - total(
        before, "vigil_check_runs_total", status="OK"
    )
    skipped = total(after, "vigil_check_skipped_total") - total(before, "vigil_check_skipped_total")
    lag = bucket_delta(
        histogram_buckets(before, "vigil_scheduler_lag_seconds"),
        histogram_buckets(after, "vigil_scheduler_lag_seconds"),
    )
    p50, p99 = histogram_quantile(0.50, lag), histogram_quantile(0.99, lag)
    low, high = quantile_bucket(0.99, lag)
    scrape_med = statistics.median(window.scrape_s) if window.scrape_s else float("nan")
    rss_max = max(window.rss_mb)

    print()
    print(f"scale  {machine_line()}")
    print(
        f"vigil run: {args.sites} LMS x {checks // args.sites} checks = {checks} checks "
        f"every {args.interval:g}s (http x7 incl. one over HTTPS, tls, tcp, dns)"
    )
    print(
        f"window {wall:.0f}s: {runs:.0f} runs ({runs / wall:.1f}/s, nominal "
        f"{checks / args.interval:.1f}/s), {ok:.0f} OK, {skipped:.0f} skipped"
    )
    print(
        f"scheduling lag: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(in bucket ({low:g}, {high:g}] s)"
    )
    per_1000 = 1000 * (window.cpu[-1][1] - window.cpu[0][1]) / max(runs, 1)
    print(f"CPU: {cpu_pct:.1f} % of one core ({per_1000:.2f} CPU-s per 1,000 runs)")
    print(f"RSS: max {rss_max:.0f} MB, at end {window.rss_mb[-1]:.0f} MB")
    print(
        f"state file: {bytes1 / 2**20:.1f} MB at end (file + WAL), grew "
        f"{(bytes1 - bytes0) / 2**20:.1f} MB; {(rows1 - rows0) / wall:.1f} history rows/s; "
        f"{(io1.write_bytes - io0.write_bytes) / wall / 1024:.0f} KiB/s written by vigil"
    )
    print(
        f"/metrics as Prometheus asks (OpenMetrics, gzip): {len(window.scrape_s)} scrapes, "
        f"median {scrape_med * 1000:.0f} ms, max {max(window.scrape_s, default=0) * 1000:.0f} "
        f"ms, {statistics.median(window.scrape_bytes) / 1024:.0f} KiB "
        f"({statistics.median(window.scrape_wire) / 1024:.0f} KiB on the wire)"
    )
    if window.plain_s:
        print(
            f"/metrics plain (text, no compression): {len(window.plain_s)} scrapes, median "
            f"{statistics.median(window.plain_s) * 1000:.0f} ms, "
            f"max {max(window.plain_s) * 1000:.0f} ms"
        )
    print()
    print(
        f"p99 scheduling lag {p99:.3f} s  (target < {LAG_TARGET:g} s)  {verdict(p99 < LAG_TARGET)}"
    )
    print(
        f"/metrics scrape median {scrape_med * 1000:.0f} ms  (target < "
        f"{SCRAPE_TARGET * 1000:.0f} ms)  {verdict(scrape_med < SCRAPE_TARGET)}"
    )
    print(
        f"RSS max {rss_max:.0f} MB  (target < {RSS_TARGET_MB:.0f} MB)  "
        f"{verdict(rss_max < RSS_TARGET_MB)}"
    )
    served = httpx.get(f"http://{LOOPBACK}:{ports['http']}/_stats", timeout=10).text
    print(f"target server answered {served} requests and queries in total")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000, help="LMS targets (default 1000)")
    parser.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="every check's interval in seconds (default 60)",
    )
    parser.add_argument(
        "--minutes", type=float, default=3.0, help="measurement window in minutes (default 3)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds to wait after every check ran once (default 30)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (config, logs, state) and print it",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so the target server and vigil are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    warn_if_busy()
    with work_directory("vigil-scale-", args.keep) as workdir, Children() as children:
        return run(args, children, workdir)


if __name__ == "__main__":
    sys.exit(main())
