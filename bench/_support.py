"""Shared helpers for the scripts in bench/: ports, child processes, CPU, /metrics.

Not a benchmark itself. The scripts import it as a sibling module (``python
bench/NAME.py`` puts bench/ first on sys.path).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"


# The peer both HTTP benchmarks compare against: Debian's blackbox_exporter, one module.
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""


@contextlib.contextmanager
def work_directory(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary directory for logs and state, kept when asked or when the run fails."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    failed = False
    try:
        yield workdir
    except BaseException:
        failed = True
        print(f"benchmark failed; logs are in {workdir}", file=sys.stderr)
        raise
    finally:
        if keep or failed:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               proc: subprocess.Popen[bytes] | None = None, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {proc.returncode}")
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what} (last error: {last})")


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


class Children:
    """Starts child processes and always stops them: SIGTERM, then SIGKILL after a grace."""

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes] | None]] = []

    def start(self, name: str, argv: Sequence[str], *, log: Path | None = None,
              cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = log.open("wb") if log is not None else None
        proc = subprocess.Popen(
            list(argv), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if out is not None else subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self._procs.append((name, proc, out))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace`` s, then SIGKILL; return the exit code."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc, out in reversed(self._procs):
            try:
                self.stop(proc)
            finally:
                if out is not None:
                    out.close()
        self._procs.clear()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds (user + system) of a process and its children, at a monotonic time."""

    at: float
    cpu: float
    rss: int


def cpu_sample(proc: psutil.Process) -> CpuSample:
    """Process + live children (threads are inside the process's own times) + reaped children."""
    at = time.monotonic()
    with proc.oneshot():
        times = proc.cpu_times()
        rss = proc.memory_info().rss
    total = times.user + times.system + times.children_user + times.children_system
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            ctimes = child.cpu_times()
            total += ctimes.user + ctimes.system
    return CpuSample(at, total, rss)


# -- Prometheus text format ---------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, timeout: float = 30.0) -> tuple[float, Samples]:
    """GET a /metrics page; return (monotonic time halfway through, {(name, labels): value})."""
    start = time.monotonic()
    text = httpx.get(url, timeout=timeout).text
    middle = (start + time.monotonic()) / 2
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return middle, samples


def total(samples: Samples, name: str, **match: str) -> float:
    """Sum of every series of ``name`` whose labels include ``match``."""
    return sum(value for (sample_name, labels), value in samples.items()
               if sample_name == name and all(dict(labels).get(k) == v for k, v in match.items()))


def histogram_buckets(samples: Samples, name: str) -> list[tuple[float, float]]:
    """[(upper bound, cumulative count)] of a label-less histogram, sorted by bound."""
    buckets = [(float(dict(labels)["le"]), value)
               for (sample_name, labels), value in samples.items()
               if sample_name == f"{name}_bucket"]
    return sorted(buckets)


def bucket_delta(before: list[tuple[float, float]],
                 after: list[tuple[float, float]]) -> list[tuple[float, float]]:
    old = dict(before)
    return [(bound, count - old.get(bound, 0.0)) for bound, count in after]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Like PromQL histogram_quantile: linear interpolation inside the bucket holding rank q.

    Returns NaN without observations; the highest finite bound if the rank falls in +Inf.
    """
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def quantile_bucket(q: float, buckets: list[tuple[float, float]]) -> tuple[float, float]:
    """(lower, upper] bounds of the bucket that holds rank q: the estimate's precision."""
    if not buckets or buckets[-1][1] <= 0:
        return (math.nan, math.nan)
    rank = q * buckets[-1][1]
    lower = 0.0
    for bound, count in buckets:
        if count >= rank:
            return (lower, bound)
        lower = bound
    return (lower, math.inf)


# -- reporting ------------------------------------------------------------------------------

def machine_line() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load1, load5, _ = os.getloadavg()  # other work on the machine skews the figures
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({model}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"load avg {load1:.2f}/{load5:.2f} (1/5 min)")


def warn_if_busy() -> None:
    """Say so when other work is competing for the CPUs: lag and rates suffer from it."""
    load1 = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load1 > 0.5 * cpus:
        print(f"WARNING: load average {load1:.2f} on {cpus} CPUs before the start: other work "
              "competes for the CPUs, so lag and rates may be skewed (CPU seconds less so)",
              flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def python() -> str:
    return sys.executable
