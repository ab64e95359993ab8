#!/usr/bin/env python3
"""Print the product's module import graph: cycles, function-level imports and large files.

Run from the repository root: ``python scripts/import_graph.py``.  Exit 1 when a
module-level cycle exists.  Used by tests/architecture to keep the layers honest.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("monitor", "checks", "alerts", "grafana")
# "About 300 lines or less" (STYLE.md): a module within 5% of it is about 300.
LINE_LIMIT = 300
LINE_TOLERANCE = 315
# Generated or tabular data whose length is its content, not its design.
DATA_MODULES: dict[str, str] = {
    # One SQLAlchemy Table per Moodle table Vigil reads, transcribed column by column from
    # Moodle's install.xml: splitting it would scatter one schema over several files.
    "checks.moodle.schema": "Moodle table declarations transcribed from install.xml",
}


def product_modules(root: Path) -> dict[str, Path]:
    """Map dotted module names to files for every product package."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> tuple[set[str], list[tuple[int, str]]]:
    """(module-level imports of product modules, [(line, target)] of imports inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top: set[str] = set()
    nested: list[tuple[int, str]] = []
    is_package = path.name == "__init__.py"

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _resolve(module, is_package, node)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        found = []
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append(name)
        return found

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in dict.fromkeys(targets(child)):
                    if in_function:
                        nested.append((child.lineno, target))
                    elif not type_only:
                        top.add(target)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                visit(child, in_function, True)
            else:
                visit(child, in_function, type_only)

    visit(tree, False, False)
    return top, nested


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return found


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether ``start`` imports ``goal`` at module level, directly or through others."""
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def cycle_dodges(graph: dict[str, set[str]], nested: dict[str, list[tuple[int, str]]]
                 ) -> list[tuple[str, int, str]]:
    """Imports inside functions whose target imports the importer back: written late only
    to dodge a cycle. A late import for start-up cost (heavy, optional) is fine."""
    return [(module, line, target) for module, items in sorted(nested.items())
            for line, target in items if target == module or reaches(graph, target, module)]


Graph = dict[str, set[str]]
Nested = dict[str, list[tuple[int, str]]]


def build(root: Path) -> tuple[Graph, Nested, dict[str, Path]]:
    modules = product_modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    nested: dict[str, list[tuple[int, str]]] = {}
    for name, path in modules.items():
        graph[name], nested[name] = imports_of(name, path, known)
    # A package's submodule imports its package's __init__ implicitly: not an edge we judge.
    return graph, nested, modules


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    graph, nested, modules = build(root)
    found = cycles(graph)
    print(f"modules: {len(modules)}")
    print(f"module-level import cycles: {len(found)}")
    for component in found:
        print("  cycle: " + " <-> ".join(component))
    inner = [(m, line, t) for m, items in nested.items() for line, t in items]
    dodges = cycle_dodges(graph, nested)
    print(f"imports inside functions: {len(inner)} (lazy, for start-up cost), "
          f"of which dodge a cycle: {len(dodges)}")
    for module, line, target in dodges:
        print(f"  {modules[module].relative_to(root)}:{line} imports {target} (cycle)")
    sizes = sorted(
        ((len(p.read_text(encoding='utf-8').splitlines()), n) for n, p in modules.items()),
        reverse=True,
    )
    over = [(n, m) for n, m in sizes if n > LINE_TOLERANCE]
    print(f"largest files (limit about {LINE_LIMIT} lines):")
    for lines, module in sizes[:10]:
        mark = ""
        if module in DATA_MODULES:
            mark = f"  (data: {DATA_MODULES[module]})"
        elif lines > LINE_TOLERANCE:
            mark = "  OVER"
        elif lines > LINE_LIMIT:
            mark = "  (about 300)"
        print(f"  {lines:5d}  {modules[module].relative_to(root)}{mark}")
    print(f"files over {LINE_TOLERANCE} lines (not data): "
          f"{sum(1 for _, m in over if m not in DATA_MODULES)}")
    return 1 if found or dodges else 0


if __name__ == "__main__":
    sys.exit(main())
