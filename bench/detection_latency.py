"""Detection latency: from "the site went down" to "the on-call webhook got the alert",
for Vigil and for Prometheus + blackbox_exporter + Alertmanager, at the same probe interval.

What it does (everything on 127.0.0.1, temp dirs, stops by itself):

1. In this process: a target HTTP server (a login page, 200; on "fault" every request
   gets 503) and one webhook receiver with two paths, /vigil and /alertmanager, that
   records when the first ``"status": "firing"`` body arrives on each.
2. Starts /usr/bin/prometheus-blackbox-exporter once (module http_2xx, timeout 5s).
3. Each run (``--runs``, default 5) starts fresh, with empty state:
   - Vigil (``python -m monitor run``): one http check on the target every
     ``--interval`` (default 10 s, timeout 5 s as blackbox's); everything else at Vigil's
     defaults (failure and success thresholds, soft retry interval, routing and
     group_wait; ``--vigil-retry-interval`` / ``--vigil-group-wait`` override two of
     them), one webhook receiver -> /vigil;
   - Prometheus scraping blackbox's ``/probe`` for the target every ``--interval``
     (scrape_timeout default 10s), ``evaluation_interval`` ``--eval-interval`` (15s, the
     value of the prometheus.yml that Prometheus and Debian ship; the built-in default
     is 1m), rule ``probe_success == 0`` with ``for: --prom-for`` (1m, a common choice:
     the awesome-prometheus-alerts rule uses 0m, the Prometheus docs' examples use 5m
     and 10m), sending to Alertmanager;
   - Alertmanager (clustering off) with its default timers, group_wait 30s,
     group_interval 5m, repeat_interval 4h; group_by [alertname] as in its example
     config; webhook -> /alertmanager.
   It waits until both sides saw the target up (Vigil's check OK, Prometheus'
   probe_success 1), waits a random 0-``--interval`` s more (so the fault lands at a
   random phase of both probe schedules), switches the target to 503, and waits for
   both notifications (at most ``--timeout`` s). Meanwhile it polls both tools' alert
   APIs every 0.25 s to split each latency into "first failed probe", "alert firing in
   the tool" and "notification received".
4. Prints every run, both medians, the ratio Vigil / Prometheus stack and PASS/MISS
   against the target (ratio <= 0.3). Exits 0 when the measurement itself succeeded.

Run (about 2 minutes per run with the defaults, dominated by the Prometheus side):

    python bench/detection_latency.py
    python bench/detection_latency.py --vigil-retry-interval 2s
    python bench/detection_latency.py --runs 10 --prom-for 0s
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from _support import (
    BLACKBOX,
    BLACKBOX_CONFIG,
    LOOPBACK,
    ROOT,
    Children,
    free_port,
    http_ok,
    machine_line,
    python,
    verdict,
    wait_until,
    warn_if_busy,
    work_directory,
)

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
RATIO_TARGET = 0.3
POLL = 0.25
VIGIL_AGENT = "Vigil/"  # checks/http.py USER_AGENT
BLACKBOX_AGENT = "Blackbox Exporter/"



# -- the target and the webhook receiver, in this process ---------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class Target:
    """The watched site. ``fault()`` makes every later request a 503."""

    fault_at: float | None = None
    first_failure: dict[str, float] = field(default_factory=dict)  # user agent -> time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                agent = self.headers.get("User-Agent", "")
                with target._lock:
                    down = target.fault_at is not None
                    if down:
                        tool = ("vigil" if agent.startswith(VIGIL_AGENT) else
                                "prometheus" if agent.startswith(BLACKBOX_AGENT) else agent)
                        target.first_failure.setdefault(tool, time.monotonic())
                body = (b"down for maintenance" if down else
                        b"<html><form id='login'><input name='logintoken'></form></html>")
                self.send_response(503 if down else 200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Server((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._httpd.server_address[1]}/"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def fault(self) -> float:
        with self._lock:
            self.fault_at = time.monotonic()
            return self.fault_at

    def repair(self) -> None:
        with self._lock:
            self.fault_at = None
            self.first_failure.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass
class Receiver:
    """Webhook endpoint: path -> monotonic time of the first firing notification."""

    firing: dict[str, float] = field(default_factory=dict)
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                path = self.path.strip("/")
                with receiver._lock:
                    receiver.bodies.append((path, body))
                    if body.get("status") == "firing":
                        receiver.firing.setdefault(path, at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Server((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.firing.clear()
            self.bodies.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- configs ------------------------------------------------------------------------------

def vigil_config(workdir: Path, api_port: int, target: str, hook: str,
                 args: argparse.Namespace) -> str:
    # Only what the scenario needs: every alerting setting stays at Vigil's default
    # unless a --vigil-* flag overrides it.
    interval = args.interval
    extra = "".join(f'{key} = "{value}"\n' for key, value in (
        ("retry_interval", args.vigil_retry_interval),) if value)
    route = (f'[alerts.route]\ngroup_wait = "{args.vigil_group_wait}"\n'
             if args.vigil_group_wait else "")
    return f"""\
{route}[state]
dir = "{workdir / 'vigil-state'}"
[server]
host = "{LOOPBACK}"
port = {api_port}
[[alerts.receivers]]
name = "oncall"
type = "webhook"
url = "{hook}/vigil"
[[lms]]
name = "site"
url = "{target}"
[lms.checks.http]
interval = "{interval:g}s"
timeout = "{min(interval, 5.0):g}s"
{extra}"""


def prometheus_config(args: argparse.Namespace, target: str, blackbox_port: int,
                      am_port: int) -> str:
    return f"""\
global:
  scrape_interval: {args.interval:g}s
  evaluation_interval: {args.eval_interval}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{LOOPBACK}:{am_port}"]
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: ["{target}"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: {LOOPBACK}:{blackbox_port}
"""


def prometheus_rules(args: argparse.Namespace) -> str:
    return f"""\
groups:
  - name: bench
    rules:
      - alert: EndpointDown
        expr: probe_success == 0
        for: {args.prom_for}
        labels:
          severity: critical
        annotations:
          summary: "{{{{ $labels.instance }}}} is down"
"""


def alertmanager_config(hook: str, args: argparse.Namespace) -> str:
    return f"""\
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: {args.group_wait}
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: oncall
    webhook_configs:
      - url: "{hook}/alertmanager"
        send_resolved: true
"""


# -- one run ------------------------------------------------------------------------------

@dataclass
class Side:
    """What one tool did after the fault, in seconds after it (None: did not happen)."""

    probe: float | None = None
    firing: float | None = None
    notified: float | None = None


@dataclass
class RunResult:
    phase: float
    vigil: Side
    prometheus: Side


class Stack:
    """The processes of one run: Vigil, Prometheus and Alertmanager, all fresh."""

    def __init__(self, children: Children, workdir: Path, target: Target, receiver: Receiver,
                 blackbox_port: int, args: argparse.Namespace) -> None:
        self.children = children
        workdir.mkdir()
        api_port, prom_port, am_port = free_port(), free_port(), free_port()
        self.vigil_api = f"http://{LOOPBACK}:{api_port}"
        self.prom_api = f"http://{LOOPBACK}:{prom_port}"
        am_api = f"http://{LOOPBACK}:{am_port}"
        (workdir / "vigil.toml").write_text(
            vigil_config(workdir, api_port, target.url, receiver.url, args))
        (workdir / "prometheus.yml").write_text(
            prometheus_config(args, target.url, blackbox_port, am_port))
        (workdir / "rules.yml").write_text(prometheus_rules(args))
        (workdir / "alertmanager.yml").write_text(alertmanager_config(receiver.url, args))
        self.am = children.start("alertmanager", [
            ALERTMANAGER, f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'am-data'}", f"--web.listen-address={LOOPBACK}:{am_port}",
            "--cluster.listen-address=", "--log.level=warn"], log=workdir / "alertmanager.log")
        self.prom = children.start("prometheus", [
            PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'prom-data'}",
            f"--web.listen-address={LOOPBACK}:{prom_port}", "--log.level=warn"],
            log=workdir / "prometheus.log")
        self.vigil = children.start("vigil", [
            python(), "-m", "monitor", "run", "-c", str(workdir / "vigil.toml")],
            log=workdir / "vigil.log", cwd=ROOT)
        wait_until(lambda: http_ok(am_api + "/-/ready"), 30, "alertmanager /-/ready", self.am)
        wait_until(lambda: http_ok(self.prom_api + "/-/ready"), 30, "prometheus /-/ready",
                   self.prom)
        wait_until(lambda: http_ok(self.vigil_api + "/readyz"), 60, "vigil /readyz", self.vigil)

    def vigil_check_ok(self) -> bool:
        checks = httpx.get(self.vigil_api + "/api/v1/checks", timeout=5).json()["checks"]
        return any(c["check"] == "http" and c["status"] == "OK" for c in checks)

    def vigil_firing(self) -> bool:
        alerts = httpx.get(self.vigil_api + "/api/v1/alerts", timeout=5).json()["alerts"]
        return any(a.get("state") == "firing" for a in alerts)

    def prometheus_probe_ok(self) -> bool:
        data = httpx.get(self.prom_api + "/api/v1/query", params={"query": "probe_success"},
                         timeout=5).json()["data"]["result"]
        return bool(data) and data[0]["value"][1] == "1"

    def prometheus_firing(self) -> bool:
        alerts = httpx.get(self.prom_api + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return any(a["state"] == "firing" for a in alerts)

    def stop(self) -> None:
        for proc in (self.vigil, self.prom, self.am):
            self.children.stop(proc)


def measure(stack: Stack, target: Target, receiver: Receiver, rng: random.Random,
            args: argparse.Namespace) -> RunResult:
    wait_until(stack.vigil_check_ok, 3 * args.interval + 30, "vigil's first OK check",
               stack.vigil)
    wait_until(stack.prometheus_probe_ok, 3 * args.interval + 30,
               "prometheus' first probe_success 1", stack.prom)
    phase = rng.uniform(0.0, args.interval)
    time.sleep(phase)
    receiver.reset()
    fault = target.fault()
    vigil, prom = Side(), Side()
    deadline = fault + args.timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        if vigil.firing is None and safe(stack.vigil_firing):
            vigil.firing = now - fault
        if prom.firing is None and safe(stack.prometheus_firing):
            prom.firing = now - fault
        if "vigil" in receiver.firing and "alertmanager" in receiver.firing:
            break
        for proc, name in ((stack.vigil, "vigil"), (stack.prom, "prometheus"),
                           (stack.am, "alertmanager")):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during the run (code {proc.returncode})")
        time.sleep(POLL)
    for side, tool, path in ((vigil, "vigil", "vigil"), (prom, "prometheus", "alertmanager")):
        if tool in target.first_failure:
            side.probe = target.first_failure[tool] - fault
        if path in receiver.firing:
            side.notified = receiver.firing[path] - fault
    target.repair()
    return RunResult(phase, vigil, prom)


def safe(predicate: Any) -> bool:
    try:
        return bool(predicate())
    except (httpx.HTTPError, ValueError, KeyError):
        return False


# -- report -------------------------------------------------------------------------------

def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def vigil_settings(config_path: Path, args: argparse.Namespace) -> str:
    """Vigil's effective alerting settings, read through its own config loader."""
    sys.path.insert(0, str(ROOT))
    from monitor.app.config import load_config  # noqa: PLC0415 (only for the report)

    config = load_config(config_path)
    alerts = config.alerts
    spec = config.lms[0].checks["http"]
    retry = getattr(spec, "retry_interval", None)
    parts = [f"interval {spec.interval:g}s", f"timeout {spec.timeout:g}s",
             f"failure_threshold {alerts.failure_threshold}",
             f"success_threshold {alerts.success_threshold}",
             f"retry_interval {retry:g}s" if retry else
             f"soft re-check after interval x soft_retry_ratio {alerts.soft_retry_ratio:g}"
             f" = {spec.interval * alerts.soft_retry_ratio:g}s" if alerts.soft_retry_ratio
             else "no soft re-check (soft: interval)"]
    route = getattr(alerts, "route", None)
    if route is not None:
        from alerts.routing import compile_route  # noqa: PLC0415

        root = compile_route(route)  # the effective timings, defaults filled in
        parts += [f"group_wait {root.group_wait:g}s", f"group_interval {root.group_interval:g}s"]
    return ", ".join(parts)


def report(results: list[RunResult], config_path: Path, args: argparse.Namespace) -> None:
    print()
    print(f"detection_latency  {machine_line()}")
    print("fault: the target answers 503 to every request from then on; latency = fault -> "
          "first firing notification received by the webhook")
    print()
    print(f"{'run':>3} {'phase':>6} | {'Vigil: probe':>12} {'firing':>7} {'notified':>9} | "
          f"{'Prom: probe':>11} {'firing':>7} {'notified':>9}")
    for i, r in enumerate(results, 1):
        print(f"{i:>3} {r.phase:>6.1f} | {fmt(r.vigil.probe):>12} {fmt(r.vigil.firing):>7} "
              f"{fmt(r.vigil.notified):>9} | {fmt(r.prometheus.probe):>11} "
              f"{fmt(r.prometheus.firing):>7} {fmt(r.prometheus.notified):>9}")
    vigil = [r.vigil.notified for r in results if r.vigil.notified is not None]
    prom = [r.prometheus.notified for r in results if r.prometheus.notified is not None]
    print("(seconds after the fault; phase = random wait after both sides saw the target up)")
    print()
    print(f"Vigil: {vigil_settings(config_path, args)}")
    print(f"Prometheus: scrape_interval {args.interval:g}s, evaluation_interval "
          f"{args.eval_interval}, rule probe_success == 0 for {args.prom_for}; blackbox "
          f"http_2xx timeout 5s; Alertmanager group_wait {args.group_wait}, group_interval 5m")
    if len(vigil) < len(results) or len(prom) < len(results):
        print(f"MISSING notifications: Vigil {len(results) - len(vigil)}, "
              f"Prometheus stack {len(results) - len(prom)} (timeout {args.timeout:g}s)")
    if not vigil or not prom:
        print("no median: a side never notified")
        return
    vm, pm = statistics.median(vigil), statistics.median(prom)
    print(f"median fault -> notification: Vigil {vm:.1f} s (min {min(vigil):.1f}, max "
          f"{max(vigil):.1f}), Prometheus + blackbox + Alertmanager {pm:.1f} s (min "
          f"{min(prom):.1f}, max {max(prom):.1f}), {len(results)} runs")
    ratio = vm / pm
    print(f"ratio Vigil / Prometheus stack: {ratio:.2f}  (target <= {RATIO_TARGET:g})  "
          f"{verdict(ratio <= RATIO_TARGET)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="probe interval of both sides in seconds (default 10)")
    parser.add_argument("--eval-interval", default="15s",
                        help="Prometheus evaluation_interval (default 15s)")
    parser.add_argument("--prom-for", default="1m",
                        help="'for' of the Prometheus alert rule (default 1m)")
    parser.add_argument("--group-wait", default="30s",
                        help="Alertmanager group_wait (default 30s, its default)")
    parser.add_argument("--vigil-retry-interval", default="",
                        help="set the check's retry_interval (soft state), e.g. 2s "
                             "(default: Vigil's default)")
    parser.add_argument("--vigil-group-wait", default="",
                        help="set [alerts.route] group_wait, e.g. 5s (default: Vigil's default)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up on a notification after this many seconds (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random phases")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (configs, logs, state) and print it")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    for binary in (PROMETHEUS, BLACKBOX, ALERTMANAGER):
        if not Path(binary).exists():
            print(f"{binary} is not installed (apt-get install prometheus "
                  "prometheus-blackbox-exporter prometheus-alertmanager)", file=sys.stderr)
            return 2
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    warn_if_busy()
    target, receiver = Target(), Receiver()
    results: list[RunResult] = []
    try:
        with work_directory("vigil-latency-", args.keep) as workdir, Children() as children:
            (workdir / "blackbox.yml").write_text(BLACKBOX_CONFIG)
            blackbox_port = free_port()
            blackbox = children.start("blackbox", [
                BLACKBOX, f"--config.file={workdir / 'blackbox.yml'}",
                f"--web.listen-address={LOOPBACK}:{blackbox_port}", "--log.level=warn"],
                log=workdir / "blackbox.log")
            wait_until(lambda: http_ok(f"http://{LOOPBACK}:{blackbox_port}/-/healthy"), 30,
                       "blackbox_exporter /-/healthy", blackbox)
            for run in range(1, args.runs + 1):
                stack = Stack(children, workdir / f"run{run}", target, receiver,
                              blackbox_port, args)
                try:
                    result = measure(stack, target, receiver, rng, args)
                finally:
                    stack.stop()
                results.append(result)
                print(f"[run {run}/{args.runs}] Vigil {fmt(result.vigil.notified)} s, "
                      f"Prometheus stack {fmt(result.prometheus.notified)} s", flush=True)
            report(results, workdir / "run1" / "vigil.toml", args)
    finally:
        target.close()
        receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
