"""Where the daemon's memory goes, for bench/footprint.py. Not a benchmark itself.

- import_breakdown(): the modules the measured `vigil run` had imported (its sys.modules at
  exit, written by tests/vigil_process_probe.py), imported again in a fresh interpreter
  package by package, reading VmRSS after each: the RSS each package's import costs.
  A package pulled in by an earlier one is counted there, so the split is approximate;
  the total is not.
- The tracemalloc view comes from a second, traced daemon (tests/vigil_process_probe.py
  --trace); this module only prints it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _support import ROOT

_MEASURE_GROUPS = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
groups = json.loads(sys.stdin.read())
def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
out = [["(interpreter)", rss(), 0]]
for name, modules in groups:
    before = rss()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:
            pass
    out.append([name, rss() - before, len(modules)])
print(json.dumps(out))
"""

OURS = {"monitor", "checks", "alerts"}


def group_of(module: str) -> str:
    top = module.split(".")[0]
    if top in OURS:
        return "vigil:" + ".".join(module.split(".")[:2])
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "~stdlib"
    return top


def import_breakdown(modules_file: Path, interpreter: str) -> list[tuple[str, float, int]]:
    """(package, MB of RSS its import adds, modules) for what `vigil run` imported."""
    modules: list[str] = json.loads(modules_file.read_text(encoding="utf-8"))
    by_group: dict[str, list[str]] = {}
    for module in modules:
        if module == "__main__" or module.startswith("vigil_process_probe"):
            continue
        by_group.setdefault(group_of(module), []).append(module)
    # Standard library first, then third-party packages, then Vigil's own.
    order = sorted(by_group, key=lambda g: (g != "~stdlib", g.startswith("vigil:"), g))
    groups = [(name.lstrip("~"), sorted(by_group[name], key=len)) for name in order]
    measured = subprocess.run([interpreter, "-c", _MEASURE_GROUPS, str(ROOT)], check=True,
                              capture_output=True, text=True, cwd=ROOT,
                              input=json.dumps(groups))
    rows: list[list[Any]] = json.loads(measured.stdout.strip().splitlines()[-1])
    return [(str(name), float(size) / 2**20, int(count)) for name, size, count in rows]


def print_breakdown(rows: list[tuple[str, float, int]], modules: int, top: int = 16) -> None:
    total_mb = sum(size for _, size, _ in rows)
    print(f"import cost of what `vigil run` imported ({modules} modules in sys.modules): "
          f"{total_mb:.1f} MB RSS in a fresh interpreter; by package (approximate split):")
    shown = sorted(rows, key=lambda row: -row[1])[:top]
    for name, size, count in shown:
        print(f"  {size:6.1f} MB  {name}" + (f"  ({count} modules)" if count else ""))
    rest = total_mb - sum(size for _, size, _ in shown)
    print(f"  {rest:6.1f} MB  everything else")
    print("  by layer: " + "; ".join(f"{name} {size:.1f} MB" for name, size in layers(rows)))


# The packages the product card requires (README) and what they import: with the
# interpreter and the standard library, the part of the RSS no choice of Vigil's removes.
CARD = {"prometheus_client", "apscheduler", "tzlocal", "psutil", "httpx", "httpcore", "anyio",
        "h11", "sniffio", "certifi", "idna", "jinja2", "markupsafe"}


def layers(rows: list[tuple[str, float, int]]) -> list[tuple[str, float]]:
    """The import cost split into what any build of the product carries (interpreter,
    standard library, the required packages), Vigil's own modules, and the libraries Vigil
    chose (SQLAlchemy, pydantic, the database driver, the web server...)."""
    totals = {"interpreter + stdlib": 0.0, "required packages": 0.0, "Vigil's modules": 0.0,
              "chosen libraries": 0.0}
    for name, size, _ in rows:
        layer = ("interpreter + stdlib" if name in ("(interpreter)", "stdlib")
                 else "required packages" if name in CARD
                 else "Vigil's modules" if name.startswith("vigil:") else "chosen libraries")
        totals[layer] += size
    return list(totals.items())


def heavy_modules_loaded(modules_file: Path, heavy: tuple[str, ...]) -> list[str]:
    """Which of the ``heavy`` top-level packages the run imported."""
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    tops = {m.split(".")[0] for m in modules}
    return [name for name in heavy if name in tops]
