"""Run the real `vigil` command line (monitor/app/cli/main.py) in this process and report
what it imported and where its memory is, for tests/test_import_footprint.py and
bench/footprint.py. Not a test itself; product code knows nothing of it.

    python tests/vigil_process_probe.py --modules OUT.json [--trace OUT.txt] -- run -c FILE

- ``--modules``: when the command exits (``vigil run`` leaves through os._exit after a
  SIGTERM), the names in sys.modules are written to OUT.json first.
- ``--trace``: tracemalloc runs from the first import on; on SIGUSR1 the live allocations
  are written to OUT.txt, grouped by package and by file (tracemalloc adds its own
  memory: a traced process's RSS is not the figure, its allocations are). Taking the
  snapshot blocks the event loop for a while: runs are missed meanwhile.
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


def write_trace(out: Path, top: int = 25) -> None:
    """Live allocations by the file (and package) of their most recent frame. Allocations
    made by importlib itself (<frozen importlib...>) are the code objects and module data
    that imports loaded; the import split of bench/footprint.py says by which package.
    One frame per allocation: with more, a snapshot of the daemon took over 10 minutes."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    by_package: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    for stat in snapshot.statistics("filename"):
        filename = stat.traceback[0].filename
        if filename.startswith("<frozen importlib"):
            package = file = "(imports: code objects and module data)"
        else:
            package, file = owner(filename)
        by_package[package] += stat.size
        by_file[file] += stat.size
    total = sum(by_package.values())
    lines = [f"live Python allocations: {total / 2**20:.1f} MB (tracemalloc)", "by package:"]
    lines += [f"  {size / 2**20:7.2f} MB  {name}" for name, size in by_package.most_common(top)]
    lines.append("by file:")
    lines += [f"  {size / 2**20:7.2f} MB  {name}" for name, size in by_file.most_common(top)]
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
        tracemalloc.start()

        def on_usr1(signum: int, frame: FrameType | None) -> None:
            write_trace(args.trace)

        signal.signal(signal.SIGUSR1, on_usr1)
    real_exit = os._exit

    def exit_after_listing(code: int) -> None:
        # Without the names kept out as not installed (None: monitor/app/unused_extras.py).
        imported = sorted(name for name, module in sys.modules.items() if module is not None)
        args.modules.write_text(json.dumps(imported), encoding="utf-8")
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
