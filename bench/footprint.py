"""Footprint: resident memory (RSS) and CPU share of `vigil run` watching one Moodle site
with the check set of examples/moodle.toml, sampled over 5 minutes.

What it does (everything on 127.0.0.1, bounded in time, stops by itself):

1. Starts the demo LMS (monitor/app/demo/server.py DemoServer: HTTP, HTTPS with a private CA,
   control listener with the webhook sink) in its own process, together with a tiny
   loopback DNS responder (dnspython) so the dns check never leaves the machine; that
   process's CPU is not counted.
2. Writes a config with the checks and intervals of examples/moodle.toml, pointed at the
   demo: login_page (https, 30 s, keyword + forbidden keywords + latency), appsitecheck
   (https, 1 m, json_fields), tls (demo's https port, 1 h), dns (the loopback responder,
   5 m), system (30 s), process (30 s; the example's php-fpm/nginx become the demo LMS
   and vigil processes, cron/postgres are optional with min_count = 0 as this machine
   runs neither), database_port (tcp, 30 s, to the demo's port since there is no
   PostgreSQL). Receivers: log, and a webhook to the demo's sink (loopback).
3. Starts ``python -m monitor run -c FILE`` (HTTP API on a free port), waits for
   /readyz and ``--warmup`` seconds (default 60: every check's first run is spread over
   the first minute), then for ``--seconds`` (default 300) samples the vigil process
   (+ children) every ``--sample-every`` seconds with psutil: RSS, and CPU seconds
   (user + system, all threads). Meanwhile it scrapes /metrics every
   ``--scrape-interval`` seconds (default 15, like a Prometheus server; 0 = never), so
   the scrape cost is part of the figure.
4. Prints max/mean RSS and mean CPU % of one core over the window, PASS/MISS against the
   targets (RSS <= 80 MB, CPU <= 1 %), and each check's last status. Exits 0 whenever
   the measurement itself succeeded.

Run (about 6.5 minutes with the defaults):

    python bench/footprint.py
    python bench/footprint.py --seconds 60 --warmup 30     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
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
CPU_TARGET_PCT = 1.0
DNS_NAME = "moodle.example.edu"


# -- the demo side (runs in its own process: `footprint.py --serve-demo INFO_FILE`) --------

class _DnsResponder(asyncio.DatagramProtocol):
    """Answers every A query with 127.0.0.1 (TTL 60): a stand-in resolver on loopback."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        import dns.message
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        assert self.transport is not None
        try:
            query = dns.message.from_wire(data)
        except Exception:  # a malformed datagram: ignore it, as a resolver would
            return
        reply = dns.message.make_response(query)
        for question in query.question:
            if question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.A, "127.0.0.1"))
        self.transport.sendto(reply.to_wire(), addr)


async def serve_demo(info_file: Path, seconds: float) -> None:
    """Run the demo LMS and the DNS responder until SIGTERM or ``seconds`` pass."""
    sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on sys.path, the repo is not
    from monitor.app.demo.server import DemoServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # 90 days: the example's tls thresholds (21 d / 7 d) see a healthy certificate.
    server = DemoServer(tls_dir=info_file.parent / "demo-tls", cert_days=90)
    await server.start(LOOPBACK, 0, https_port=0, control_port=0)
    dns_transport, _ = await loop.create_datagram_endpoint(_DnsResponder,
                                                           local_addr=(LOOPBACK, 0))
    assert server.certificate is not None and server.https_url is not None
    info = {"url": server.url, "https_url": server.https_url,
            "ca_file": str(server.certificate.ca_file), "webhook_url": server.webhook_url,
            "dns_port": dns_transport.get_extra_info("sockname")[1]}
    partial = info_file.with_suffix(".tmp")
    partial.write_text(json.dumps(info))
    partial.rename(info_file)
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
    finally:
        dns_transport.close()
        await server.stop()


# -- where the resident memory comes from (runs in fresh interpreters) ---------------------

_LIST_MODULES = """
import json, sys
sys.path.insert(0, sys.argv[1])
import monitor.app.cli.main, monitor.app.daemon
print(json.dumps(list(sys.modules)))
"""

_MEASURE_GROUPS = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
groups = json.loads(sys.stdin.read())
def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
out = [["(interpreter)", rss()]]
for name, modules in groups:
    before = rss()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:
            pass
    out.append([name, rss() - before])
print(json.dumps(out))
"""


def import_breakdown() -> list[tuple[str, float]]:
    """Approximate RSS (MB) that each top-level package adds when `vigil run` imports it.

    A fresh interpreter lists what ``monitor.app.cli.main`` + ``monitor.app.daemon`` import; another
    imports the same modules group by group (stdlib, then third-party packages by name,
    then Vigil's own) and reads VmRSS after each group. A package pulled in by an earlier
    group is counted there, so the split is approximate; the total is not.
    """
    listed = subprocess.run([python(), "-c", _LIST_MODULES, str(ROOT)], check=True,
                            capture_output=True, text=True, cwd=ROOT)
    modules: list[str] = json.loads(listed.stdout.strip().splitlines()[-1])
    ours = {"monitor", "checks", "alerts"}
    by_top: dict[str, list[str]] = {}
    for module in modules:
        top = module.split(".")[0]
        key = ("~stdlib" if top in sys.stdlib_module_names or top.startswith("_")
               else f"~vigil ({'/'.join(sorted(ours))})" if top in ours else top)
        by_top.setdefault(key, []).append(module)
    order = sorted(by_top, key=lambda k: (k != "~stdlib", k.startswith("~vigil"), k))
    groups = [(name.lstrip("~"), by_top[name]) for name in order]
    measured = subprocess.run([python(), "-c", _MEASURE_GROUPS, str(ROOT)], check=True,
                              capture_output=True, text=True, cwd=ROOT,
                              input=json.dumps(groups))
    result: list[list[Any]] = json.loads(measured.stdout.strip().splitlines()[-1])
    return [(str(name), float(size) / 2**20) for name, size in result]


def print_breakdown(rows: list[tuple[str, float]], top: int = 12) -> None:
    total_mb = sum(size for _, size in rows)
    print(f"where the memory comes from (imports of `vigil run` alone: {total_mb:.1f} MB RSS; "
          "approximate split):")
    shown = sorted(rows, key=lambda row: -row[1])[:top]
    for name, size in shown:
        print(f"  {size:6.1f} MB  {name}")
    rest = total_mb - sum(size for _, size in shown)
    print(f"  {rest:6.1f} MB  everything else")


# -- the measuring side ----------------------------------------------------------------------

def vigil_config(state_dir: Path, api_port: int, demo: dict[str, Any]) -> str:
    """examples/moodle.toml's checks and intervals, pointed at the demo LMS on loopback."""
    https = demo["https_url"]
    tls_port = int(https.rsplit(":", 1)[1])
    lms_port = int(demo["url"].rsplit(":", 1)[1])
    return f"""
[state]
dir = "{state_dir}"

[server]
host = "{LOOPBACK}"
port = {api_port}

[scheduler]
max_concurrency = 32

[alerts]
failure_threshold = 3
success_threshold = 2
base_url = "http://{LOOPBACK}:{api_port}"

[[alerts.receivers]]
name = "log"
type = "log"

[[alerts.receivers]]
name = "ops-webhook"
type = "webhook"
url = "{demo["webhook_url"]}"

[[lms]]
name = "moodle-demo"
kind = "moodle"
url = "{https}"
labels = {{ team = "elearning" }}

[lms.checks.login_page]
type = "http"
url = "{https}/login/index.php"
ca_file = "{demo["ca_file"]}"
interval = "30s"
timeout = "10s"
keyword = ["logintoken"]
forbidden_keyword = ["Error reading from database", "dmlreadexception"]
latency_warning = "2s"
latency_critical = "5s"

[lms.checks.appsitecheck]
type = "http"
url = "{https}/login/token.php?appsitecheck=1"
ca_file = "{demo["ca_file"]}"
interval = "1m"
json_fields = {{ appsitecheck = "ok" }}

[lms.checks.tls]
host = "{LOOPBACK}"
port = {tls_port}
server_name = "localhost"
ca_file = "{demo["ca_file"]}"
interval = "1h"
warning_days = 21
critical_days = 7

[lms.checks.dns]
name = "{DNS_NAME}"
nameservers = ["{LOOPBACK}"]
port = {demo["dns_port"]}
interval = "5m"

[lms.checks.system]
interval = "30s"
disk_free_warning = 0.15
disk_free_critical = 0.05
load_per_core_warning = 2.0
load_per_core_critical = 4.0

[lms.checks.process]
interval = "30s"
processes = [
  {{ name = "demo-lms", pattern = "footprint.py --serve-demo", match = "cmdline" }},
  {{ name = "vigil", pattern = "monitor.app.cli.main run", match = "cmdline" }},
  {{ name = "cron", min_count = 0 }},
  {{ name = "postgres", min_count = 0 }},
]

[lms.checks.database_port]
type = "tcp"
host = "{LOOPBACK}"
port = {lms_port}
interval = "30s"
"""


@dataclass(frozen=True, slots=True)
class Figures:
    samples: list[CpuSample]
    startup_cpu: float
    startup_rss_mb: float
    scrapes: int

    @property
    def window(self) -> float:
        return self.samples[-1].at - self.samples[0].at

    @property
    def cpu_pct(self) -> float:
        return 100.0 * (self.samples[-1].cpu - self.samples[0].cpu) / self.window

    @property
    def max_interval_cpu_pct(self) -> float:
        return max(100.0 * (b.cpu - a.cpu) / (b.at - a.at)
                   for a, b in zip(self.samples, self.samples[1:], strict=False))

    @property
    def rss_mb(self) -> list[float]:
        return [s.rss / 2**20 for s in self.samples]


def measure(proc: psutil.Process, api: str, args: argparse.Namespace) -> Figures:
    startup = cpu_sample(proc)
    samples = [startup]
    scrapes = 0
    deadline = startup.at + args.seconds
    next_sample = startup.at + args.sample_every
    next_scrape = startup.at if args.scrape_interval > 0 else float("inf")
    with httpx.Client(timeout=10, trust_env=False) as client:
        while True:
            now = time.monotonic()
            if now >= next_scrape and now < deadline:
                client.get(api + "/metrics").raise_for_status()
                scrapes += 1
                next_scrape += args.scrape_interval
            if now >= next_sample or now >= deadline:
                samples.append(cpu_sample(proc))
                next_sample += args.sample_every
                if now >= deadline:
                    break
            time.sleep(max(0.0, min(next_sample, next_scrape, deadline) - time.monotonic()))
    return Figures(samples, startup.cpu, startup.rss / 2**20, scrapes)


def report(fig: Figures, checks: list[dict[str, Any]], args: argparse.Namespace) -> None:
    rss = fig.rss_mb
    max_rss, mean_rss = max(rss), sum(rss) / len(rss)
    print()
    print(f"footprint  {machine_line()}")
    scraped = (f"/metrics scraped every {args.scrape_interval:g}s" if args.scrape_interval > 0
               else "/metrics never scraped")
    print("vigil run with the examples/moodle.toml check set against the demo LMS "
          f"({len(checks)} checks, 1 LMS); {scraped}")
    print(f"CPU seconds until the window opened (start-up + {args.warmup:g}s warm-up): "
          f"{fig.startup_cpu:.2f}; RSS then {fig.startup_rss_mb:.1f} MB")
    print(f"window {fig.window:.0f}s, {len(fig.samples)} samples every {args.sample_every:g}s, "
          f"{fig.scrapes} scrapes")
    print()
    print(f"RSS max   {max_rss:7.1f} MB   (target <= {RSS_TARGET_MB:g} MB)  "
          f"{verdict(max_rss <= RSS_TARGET_MB)}")
    print(f"RSS mean  {mean_rss:7.1f} MB   (min {min(rss):.1f} MB)")
    print(f"CPU mean  {fig.cpu_pct:7.2f} %    of one core (target <= {CPU_TARGET_PCT:g} %)  "
          f"{verdict(fig.cpu_pct <= CPU_TARGET_PCT)}")
    print(f"CPU max   {fig.max_interval_cpu_pct:7.2f} %    over any {args.sample_every:g}s "
          "sample interval")
    print()
    print("last results:")
    for check in checks:
        print(f"  {check.get('lms')}/{check.get('check'):<14} {check.get('status', '?'):<9} "
              f"{check.get('summary', '')}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="RSS and CPU %% of `vigil run` with the Moodle example check set against "
                    "the demo LMS.")
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="sampling window in seconds (default 300)")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds after /readyz before the window opens (default 60)")
    parser.add_argument("--sample-every", type=float, default=5.0,
                        help="seconds between RSS/CPU samples (default 5)")
    parser.add_argument("--scrape-interval", type=float, default=15.0,
                        help="scrape /metrics this often during the window, as Prometheus "
                             "would (default 15; 0 = never)")
    parser.add_argument("--rss-breakdown", choices=["auto", "always", "never"], default="auto",
                        help="print which imported packages the RSS comes from: auto = only "
                             "when the RSS target is missed (default)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (config, logs, state) and print it")
    parser.add_argument("--serve-demo", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-seconds", type=float, default=1800.0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.serve_demo is not None:  # the helper process
        asyncio.run(serve_demo(args.serve_demo, args.serve_seconds))
        return 0
    warn_if_busy()
    with work_directory("vigil-footprint-", args.keep) as workdir, Children() as children:
        info_file = workdir / "demo.json"
        budget = args.warmup + args.seconds + 600
        demo_proc = children.start("demo", [
            python(), str(Path(__file__).resolve()), "--serve-demo", str(info_file),
            "--serve-seconds", str(budget)], log=workdir / "demo.log")
        wait_until(info_file.exists, 60, "the demo LMS", demo_proc)
        demo = json.loads(info_file.read_text())
        wait_until(lambda: http_ok(demo["url"] + "/login/index.php"), 15, "demo login page",
                   demo_proc)
        api_port = free_port()
        config = workdir / "vigil.toml"
        config.write_text(vigil_config(workdir / "state", api_port, demo))
        print(f"[footprint] demo LMS at {demo['url']} / {demo['https_url']}; starting vigil "
              f"(log: {workdir / 'vigil.log'})", flush=True)
        proc = children.start("vigil", [python(), "-m", "monitor", "run", "-c",
                                        str(config)], log=workdir / "vigil.log")
        api = f"http://{LOOPBACK}:{api_port}"
        wait_until(lambda: http_ok(api + "/readyz"), 60, "vigil /readyz", proc)
        print(f"[footprint] vigil ready; warming up {args.warmup:g}s, then sampling for "
              f"{args.seconds:g}s", flush=True)
        time.sleep(args.warmup)
        figures = measure(psutil.Process(proc.pid), api, args)
        if proc.poll() is not None:
            raise RuntimeError(f"vigil exited during the measurement (code {proc.returncode})")
        checks = httpx.get(api + "/api/v1/checks", timeout=10).json()["checks"]
        report(figures, checks, args)
        missed = max(figures.rss_mb) > RSS_TARGET_MB
        if args.rss_breakdown == "always" or (args.rss_breakdown == "auto" and missed):
            print()
            print_breakdown(import_breakdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
