"""Import heavy libraries on first use, so a daemon that watches no database or Redis does
not pay their memory (SQLAlchemy and redis-py together are ~20 MB of RSS at import).

The recipe is the one in the importlib documentation (importlib.util.LazyLoader): the
module object exists at once; its code runs when an attribute is first read.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
