"""What code_integrity runs leave in the daemon's RSS: CodeIntegrityCheck.run N times in one
event loop of a fresh interpreter (the daemon's pattern: the check's own call, the clock
moved by one interval per run), VmRSS read from /proc/self/status after the imports and
after each run. Used by bench/integrity.py (``--rss-runs``), once per mode:

    python bench/_integrity_rss.py TREE RUNS isolated|in-process   -> one JSON line

isolated: the check as the daemon runs it (each run in a short-lived child process);
in-process: the same runs in a thread of this process (CodeIntegrityCheck(isolated=False),
what the daemon did before). ``child_peak_mb`` is the largest RSS any child reached
(getrusage of the reaped children): daemon + child is at most rss + that.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks.base import CheckContext  # noqa: E402
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec  # noqa: E402
from monitor.kernel.target import Target  # noqa: E402


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def probe(tree: str, runs: int, isolated: bool, state_dir: Path) -> dict[str, object]:
    spec = CodeIntegritySpec.model_validate({"type": "code_integrity", "path": tree})
    check = CodeIntegrityCheck(spec, isolated=isolated)
    now = [time.time()]
    ctx = CheckContext(
        Target("bench", "generic"),
        spec.timeout,
        lambda: now[0],
        asyncio.to_thread,
        state_dir=state_dir,
    )
    start, after, cpu, summaries = vm_rss_mb(), [], [], []
    for _ in range(runs):
        before = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        result = await check.run(ctx)
        got = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(
            sum(
                g.ru_utime + g.ru_stime - b.ru_utime - b.ru_stime
                for g, b in zip(got, before, strict=True)
            )
        )
        after.append(vm_rss_mb())
        summaries.append(f"{result.status.name}: {result.summary[:100]}")
        now[0] += spec.interval
    return {
        "mode": "isolated" if isolated else "in-process",
        "start_mb": start,
        "after_mb": after,
        "cpu_s": cpu,
        "summaries": summaries,
        "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> int:
    tree, runs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with tempfile.TemporaryDirectory(prefix="vigil-bench-rss-") as tmp:
        print(json.dumps(asyncio.run(probe(tree, runs, mode == "isolated", Path(tmp)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
