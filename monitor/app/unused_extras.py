"""Optional packages that Vigil's libraries import whenever they happen to be installed,
though Vigil never uses them: kept out of the process (issue #12, the daemon's RSS).

- ``httpx._main``: httpx's own command line. ``import httpx`` tries it and, when click,
  rich and pygments are installed, loads all three (~3.4 MB RSS, 36 ms); without them it
  falls back to a stub ``httpx.main``. Vigil never calls ``httpx.main``.
- ``trio``: httpcore imports it, if installed, for its trio backend (~3.8 MB, 90 modules
  with attrs, outcome, sortedcontainers); Vigil runs httpx on asyncio only.

A ``None`` in ``sys.modules`` makes ``import name`` raise ImportError, the case both
libraries handle as "not installed". Only names nobody has imported yet are marked, so a
process that already uses one (a test session with selenium's trio) keeps it.
bench/footprint.py measures the daemon; tests/test_import_footprint.py guards the list.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from types import ModuleType
from typing import Any

# Before ``import httpx`` (the `vigil` command line's package does it first thing).
HTTPX_COMMAND_LINE = "httpx._main"
# Before httpcore's first import (httpx imports it on the first client), in `vigil run`.
TRIO = "trio"


def keep_out(
    *names: str, modules: MutableMapping[str, ModuleType | None] | None = None
) -> list[str]:
    """Mark ``names`` as not installed unless already imported (or their package is, for
    a submodule: then it is too late to matter). Returns the names marked."""
    # sys.modules is typed as holding modules only; None entries are what this adds.
    table: MutableMapping[str, Any] = sys.modules if modules is None else modules
    marked = []
    for name in names:
        parent = name.rpartition(".")[0]
        if name in table or (parent and parent in table):
            continue
        table[name] = None
        marked.append(name)
    return marked
