"""Import heavy libraries on first use, so a daemon that watches no database or Redis does
not pay their memory (SQLAlchemy and redis-py together are ~20 MB of RSS at import).

``sa = lazy_import("sqlalchemy")`` gives a stand-in whose first attribute access imports
the module. Checks run in a thread pool, so that first import is taken under a lock:
importlib.util.LazyLoader is not safe when several threads touch a module first (3.11).
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                self._module = importlib.import_module(self._name)
            return self._module

    def __getattr__(self, attr: str) -> Any:
        module = self._module or self._load()
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r}, {state}>"


def lazy_import(name: str) -> Any:
    return LazyModule(name)
