"""The layers hold: the import-linter contracts in pyproject.toml are kept, no module-level
import cycle exists, and no import is written inside a function to dodge one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import import_graph  # noqa: E402


def test_the_import_linter_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    ran = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "BROKEN" not in ran.stdout and "KEPT" in ran.stdout


def test_no_module_level_import_cycle() -> None:
    graph, _, _ = import_graph.build(ROOT)
    assert import_graph.cycles(graph) == []


def test_no_import_inside_a_function_dodges_a_cycle() -> None:
    graph, nested, _ = import_graph.build(ROOT)
    assert import_graph.cycle_dodges(graph, nested) == []


def test_a_late_import_that_closes_a_cycle_is_caught() -> None:
    graph = {"a": {"b"}, "b": set()}
    assert import_graph.cycle_dodges(graph, {"b": [(3, "a")]}) == [("b", 3, "a")]
    assert import_graph.cycle_dodges(graph, {"a": [(3, "b")]}) == []


def test_the_kernel_imports_nothing_of_vigil_above_it() -> None:
    graph, nested, _ = import_graph.build(ROOT)
    for module, targets in graph.items():
        if module.startswith("monitor.kernel"):
            late = {t for _, t in nested[module]}
            assert all(t.startswith("monitor.kernel") for t in targets | late), module


def test_modules_stay_about_three_hundred_lines() -> None:
    _, _, modules = import_graph.build(ROOT)
    long = {name: n for name, path in modules.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines()))
            > import_graph.LINE_TOLERANCE and name not in import_graph.DATA_MODULES}
    assert long == {}
