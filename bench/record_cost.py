"""The cost of recording one check result, without the network: CPU and commits.

Runs ``CheckRunner.run`` over checks that answer at once, with the listeners the daemon
gives the runner (SampleRecorder and AlertService through FanOut) on a real state file,
in ticks of ``--batch`` results that finish together (as 64 concurrent checks do), and
prints the CPU microseconds (process time) and the COMMITs (sqlite3 trace) per result.
What is left is the per-run overhead outside the probe itself: runner, state store,
alert evaluation, history. Use it to compare two trees in one sitting (CPU seconds are
less sensitive to other load than wall time):

    python bench/record_cost.py                       # this tree
    (cd /other/tree && python bench/record_cost.py)   # e.g. an export of main
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.config import AlertingConfig  # noqa: E402
from alerts.history import SampleRecorder, WatchPlan  # noqa: E402
from alerts.service import AlertService  # noqa: E402
from monitor.app.listeners import FanOut  # noqa: E402
from monitor.app.runner import CheckRunner  # noqa: E402
from monitor.app.store import StateStore  # noqa: E402
from monitor.kernel.clock import SystemClock  # noqa: E402
from monitor.kernel.job import CheckJob  # noqa: E402
from monitor.kernel.result import Result, Sample, Status  # noqa: E402
from monitor.kernel.spec import CheckSpec  # noqa: E402
from monitor.kernel.target import Target  # noqa: E402

# What an http check returns: 12 samples and a few details.
SAMPLES = tuple([Sample("lms_http_duration_seconds", 0.001, {"phase": p})
                 for p in ("resolve", "connect", "tls", "processing", "transfer")]
                + [Sample(name, 1.0) for name in (
                    "lms_http_response_time_seconds", "lms_http_status_code",
                    "lms_http_redirects", "lms_http_ssl", "lms_http_uncompressed_body_bytes",
                    "lms_http_content_length_bytes")])
RESULT = Result(Status.OK, "HTTP 200 in 2ms", SAMPLES,
                {"url": "http://127.0.0.1/x", "status_code": 200, "redirects": 0,
                 "body_bytes": 290, "phases": {"connect": 0.0002}})


class Answer:
    async def run(self, ctx: object) -> Result:
        return RESULT


async def measure(store: StateStore, args: argparse.Namespace) -> tuple[float, int, int]:
    alerts = AlertService(store, AlertingConfig())
    runner = CheckRunner(SystemClock(), store=store,
                         listener=FanOut([SampleRecorder(store, WatchPlan()), alerts]))
    targets = [Target(name=f"site{i:02d}", kind="generic", url="http://127.0.0.1:9")
               for i in range(20)]
    jobs = [CheckJob(targets[i % 20], f"c{i:04d}", CheckSpec(type="http"), Answer())
            for i in range(args.checks)]
    commits = 0

    def count(sql: str) -> None:
        nonlocal commits
        commits += sql.startswith("COMMIT")

    for start in range(0, len(jobs), args.batch):  # every check has a state: steady state
        await asyncio.gather(*(runner.run(j) for j in jobs[start:start + args.batch]))
    store.database.connection.set_trace_callback(count)
    runs = 0
    cpu = time.process_time()
    for _ in range(args.rounds):
        for start in range(0, len(jobs), args.batch):
            batch = jobs[start:start + args.batch]
            await asyncio.gather(*(runner.run(j) for j in batch))
            runs += len(batch)
    cpu = time.process_time() - cpu
    store.database.connection.set_trace_callback(None)
    runner.close()
    return cpu, runs, commits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000, help="checks (default 2000)")
    parser.add_argument("--batch", type=int, default=64,
                        help="results that finish in the same tick (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of every check (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "vigil.sqlite3")
        cpu, runs, commits = asyncio.run(measure(store, args))
        store.close()
    print(f"record_cost  {runs} results ({args.checks} checks x {args.rounds}, "
          f"{args.batch} per tick): {1e6 * cpu / runs:.0f} CPU-us per result, "
          f"{commits / runs:.3f} commits per result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
