"""Run the real `vigil` command line (monitor/app/cli/main.py) in this process and report
what it imported and where its memory is, for tests/test_import_footprint.py and
bench/footprint.py. Not a test itself; product code knows nothing of it.

    python tests/vigil_process_probe.py --modules OUT.json [--trace OUT.txt] -- run -c FILE

- ``--modules``: when the command exits (``vigil run`` leaves through os._exit after a
  SIGTERM), the names in sys.modules are written to OUT.json first.
- ``--trace``: tracemalloc runs from the first import on; on SIGUSR1 the live allocations
  are written to OUT.txt, grouped by package and by file (tracemalloc adds its own
  memory: a traced process's RSS is not the figure, its allocations are). Taking the
  snapshot blocks the event loop for a minute or more: runs are missed meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import sysconfig
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sysconfig.get_paths()["stdlib"]


def owner(filename: str) -> tuple[str, str]:
    """(package, file) for an allocation's file: a site-packages distribution's top-level
    package, Vigil's own top-level package, or the standard library."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1:]
        return rest[0].removesuffix(".py"), "/".join(rest)
    if filename.startswith(str(ROOT)):
        rest = path.relative_to(ROOT).parts
        return f"vigil:{rest[0]}", "/".join(rest)
    if filename.startswith(STDLIB):
        rest = path.relative_to(STDLIB).parts
        return "stdlib", "stdlib/" + "/".join(rest)
    return "other", filename


def write_trace(out: Path, top: int = 20) -> None:
    """Live allocations in two groups: made while a module was being imported (an
    importlib frame on the stack: code objects, classes, tables built at import) and made
    at run time, each by the package and file of the most recent frame outside importlib
    (for unmarshalled code that is the importing module: approximate)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    groups: dict[str, tuple[Counter[str], Counter[str]]] = {
        "import": (Counter(), Counter()), "run": (Counter(), Counter())}
    for trace in snapshot.traces:
        names = [frame.filename for frame in trace.traceback]
        kind = "import" if any(n.startswith("<frozen importlib") for n in names) else "run"
        own = [n for n in names if not n.startswith("<frozen")]
        package, file = owner(own[-1] if own else names[-1])
        groups[kind][0][package] += trace.size
        groups[kind][1][file] += trace.size
    total = sum(sum(g[0].values()) for g in groups.values())
    lines = [f"live Python allocations: {total / 2**20:.1f} MB (tracemalloc)"]
    for kind, title in (("import", "made while importing"), ("run", "made at run time")):
        packages, files = groups[kind]
        lines.append(f"{title}: {sum(packages.values()) / 2**20:.1f} MB; by package:")
        lines += [f"  {size / 2**20:7.2f} MB  {name}" for name, size in packages.most_common(top)]
        lines.append(f"{title}: by file:")
        lines += [f"  {size / 2**20:7.2f} MB  {name}" for name, size in files.most_common(top)]
    partial = out.with_suffix(".tmp")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.rename(out)  # whole or not at all: the bench waits for the name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", type=Path, required=True)
    parser.add_argument("--trace", type=Path)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.trace is not None:
        tracemalloc.start(12)  # enough to see importlib above most import-time allocations

        def on_usr1(signum: int, frame: FrameType | None) -> None:
            write_trace(args.trace)

        signal.signal(signal.SIGUSR1, on_usr1)
    real_exit = os._exit

    def exit_after_listing(code: int) -> None:
        args.modules.write_text(json.dumps(sorted(sys.modules)), encoding="utf-8")
        real_exit(code)

    os._exit = exit_after_listing  # type: ignore[assignment]
    sys.path.insert(0, str(ROOT))
    from monitor.app.cli.main import main as vigil

    vigil([a for a in args.argv if a != "--"])


if __name__ == "__main__":
    main()


def modules_of_vigil_run(config: Path, api: str, checks: set[str], workdir: Path,
                         timeout: float = 180.0) -> set[str]:
    """For tests: start `vigil run -c config` through this script, wait until each of its
    ``checks`` has a result (the lazy imports a first run makes are then done), stop it
    with SIGTERM as systemd would, and return the modules it had imported. ``checks``
    names them (the API also lists alerting's synthetic checks)."""
    import subprocess
    import time

    import httpx

    out = workdir / "modules.json"
    log = (workdir / "vigil.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--modules",
                             str(out), "--", "run", "-c", str(config)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, (workdir / "vigil.log").read_text()
            assert time.monotonic() < deadline, "not every check ran in time: " + (
                workdir / "vigil.log").read_text()[-3000:]
            try:
                ran = {c["check"] for c in httpx.get(api + "/api/v1/checks",
                                                     timeout=5).json()["checks"]}
            except (httpx.HTTPError, ValueError, KeyError):
                ran = set()
            if checks <= ran:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return set(json.loads(out.read_text(encoding="utf-8")))
