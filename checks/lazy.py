"""Import on first use, so a daemon pays in memory only for what its config uses.

- ``lazy_import("sqlalchemy")``: a stand-in whose first attribute access imports the module
  (SQLAlchemy and redis-py together are ~20 MB of RSS at import).
- ``CheckFamilies``: the check registry's table, type name -> (module, Spec, Check); a
  family's module is imported when its type is first looked up (config validation, building
  the check), never by listing the names.
- ``LazyMetrics``: the ``METRICS`` that check modules declare, read from the modules already
  imported; a name not found there imports every listed module, so a lookup is always
  answered from the complete catalogue (bench/footprint.py measures the saving).

Checks run in a thread pool, so every first import is taken under a lock:
importlib.util.LazyLoader is not safe when several threads touch a module first (3.11).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator, Mapping, Set
from types import MappingProxyType, ModuleType
from typing import Any

from monitor.kernel.metric import Metrics, MetricSpec, merge
from monitor.kernel.spec import CheckSpec

_IMPORT_LOCK = threading.RLock()


def _import(name: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _IMPORT_LOCK:
        return importlib.import_module(name)


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


CheckType = tuple[type[CheckSpec], type]


class CheckFamilies(Mapping[str, CheckType]):
    """``{"http": ("checks.http", "HttpSpec", "HttpCheck"), ...}`` read as
    ``{"http": (HttpSpec, HttpCheck), ...}``: looking a type up imports its module."""

    def __init__(self, *tables: Mapping[str, tuple[str, str, str]] | CheckFamilies) -> None:
        self._where: dict[str, tuple[str, str, str]] = {}
        for table in tables:
            entries = table._where if isinstance(table, CheckFamilies) else table
            for name, where in entries.items():
                if name in self._where:
                    raise ValueError(f"check type {name!r} is registered twice")
                self._where[name] = where

    def __getitem__(self, name: str) -> CheckType:
        module_name, spec_attr, check_attr = self._where[name]
        module = _import(module_name)
        return getattr(module, spec_attr), getattr(module, check_attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def module_of(self, name: str) -> str:
        return self._where[name][0]

    def modules(self) -> tuple[str, ...]:
        """Every module that implements a type, in registration order, once each."""
        return tuple(dict.fromkeys(where[0] for where in self._where.values()))


class LazyMetrics(Mapping[str, MetricSpec]):
    """The ``METRICS`` of ``modules`` (plus ``fixed`` declarations) as one mapping.

    A lookup first searches the modules imported so far (the families the config uses);
    a miss imports them all, so ``in``, ``get`` and iteration answer as the eager merge
    did, and a name declared twice still fails (on that first complete load)."""

    def __init__(self, modules: tuple[str, ...], fixed: Metrics = MappingProxyType({})) -> None:
        self.modules = modules
        self._fixed = fixed
        self._seen: dict[str, MetricSpec] = dict(fixed)
        self._merged: set[str] = set()
        self._complete: Metrics | None = None

    def _absorb(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name not in self._merged:
                self._seen.update(_import(name).METRICS)
                self._merged.add(name)

    def _lookup(self, key: str) -> MetricSpec | None:
        found = self._seen.get(key)
        if found is not None or self._complete is not None:
            return found
        self._absorb(tuple(m for m in self.modules if m in sys.modules))  # cheap: no import
        found = self._seen.get(key)
        return found if found is not None else self.complete().get(key)

    def complete(self) -> Metrics:
        """Every declaration: imports each listed module (done once)."""
        if self._complete is None:
            self._complete = merge(self._fixed, *(_import(m).METRICS for m in self.modules))
            self._seen = dict(self._complete)
        return self._complete

    def __getitem__(self, key: str) -> MetricSpec:
        found = self._lookup(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.complete())

    def __len__(self) -> int:
        return len(self.complete())


class GaugeNames(Set[str]):
    """The names of the gauges among ``metrics``; ``name in gauges`` imports nothing more
    than a lookup of ``name`` does."""

    def __init__(self, metrics: Mapping[str, MetricSpec]) -> None:
        self._metrics = metrics

    def __contains__(self, name: object) -> bool:
        spec = self._metrics.get(name) if isinstance(name, str) else None
        return spec is not None and spec.type == "gauge"

    def __iter__(self) -> Iterator[str]:
        return (name for name, spec in self._metrics.items() if spec.type == "gauge")

    def __len__(self) -> int:
        return sum(1 for _ in self)
