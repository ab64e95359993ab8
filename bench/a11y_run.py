"""Cost of one `a11y` run: wall time, Chromium's peak memory and CPU, per audited page set.

What it does (everything on 127.0.0.1, bounded, stops by itself):

1. Serves the test pages of tests/a11y/site.py (a page with seven known WCAG violations,
   a clean one) on a loopback port.
2. Runs the a11y check (checks/a11y/) ``--runs`` times (default 5) with its defaults
   (WCAG 2.1 AA tags, memory_limit_mib 1024, a fresh Chromium and profile per run) on
   ``--pages`` pages (default 2: the violations page and the clean page).
3. Prints, per run and as the median: wall seconds, the peak resident memory of all
   Chromium processes together (the check's own sample, every 0.25 s), and the CPU
   seconds of the reaped browser tree (getrusage RUSAGE_CHILDREN delta; Chromium's zygote
   children reaped by init are missed, so it is a lower bound). Exits 0 when every run
   audited every page.

Run:

    python bench/a11y_run.py
    python bench/a11y_run.py --runs 3 --pages 4
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on sys.path, the repo is not

from checks.a11y.check import A11yCheck  # noqa: E402
from checks.a11y.spec import A11ySpec  # noqa: E402
from checks.base import CheckContext  # noqa: E402
from monitor.kernel.result import Status  # noqa: E402
from monitor.kernel.target import Target  # noqa: E402
from tests.a11y.site import A11ySite  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def one_run(check: A11yCheck) -> tuple[float, int, float, str]:
    ctx = CheckContext(target=Target("bench", "generic"), timeout=check.spec.timeout,
                       now=time.time, run_blocking=asyncio.to_thread)
    cpu, start = children_cpu(), time.perf_counter()
    result = await check.run(ctx)
    wall = time.perf_counter() - start
    if result.status is Status.UNKNOWN:
        raise SystemExit(f"run failed: {result.summary}")
    return wall, int(result.details["browser_peak_mib"]), children_cpu() - cpu, result.summary


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=2)
    args = parser.parse_args()
    site = A11ySite()
    try:
        urls = [f"{site.url}/pages/violations.html", f"{site.url}/pages/clean.html"]
        pages = {f"p{i}": urls[i % 2] for i in range(args.pages)}
        with tempfile.TemporaryDirectory() as scratch:
            check = A11yCheck(A11ySpec.model_validate({"type": "a11y", "pages": pages}),
                              scratch_dir=Path(scratch))
            rows = []
            for n in range(args.runs):
                wall, peak, cpu, summary = await one_run(check)
                rows.append((wall, peak, cpu))
                print(f"run {n + 1}: {wall:.2f} s wall, browser peak {peak} MiB, "
                      f"browser CPU >= {cpu:.2f} s  ({summary[:60]}...)")
    finally:
        site.close()
    walls, peaks, cpus = zip(*rows, strict=True)
    print(f"median of {args.runs} runs, {args.pages} pages each: "
          f"{statistics.median(walls):.2f} s wall, peak {statistics.median(peaks):.0f} MiB "
          f"(max {max(peaks)} MiB, limit 1024), browser CPU >= {statistics.median(cpus):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
