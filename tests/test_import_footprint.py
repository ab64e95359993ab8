"""Starting the daemon must not import what only some sites need: SQLAlchemy and redis-py
load on first use (checks/lazy.py), keeping a web-only Vigil small (bench/footprint.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_daemon_does_not_load_database_or_redis_clients() -> None:
    code = ("import sys, monitor.app.daemon, monitor.app.cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'redis', 'psycopg', 'pymysql') and "
            "type(sys.modules[m]).__name__ != '_LazyModule'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out == "[]"


def test_a_lazy_module_loads_once_when_many_threads_touch_it_first(tmp_path: Path) -> None:
    import threading
    import time as _time

    from checks.lazy import lazy_import

    (tmp_path / "slow_to_import_mod.py").write_text(
        "import time\ntime.sleep(0.2)\nVALUE = 42\nLOADS = []\nLOADS.append(1)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        module = lazy_import("slow_to_import_mod")
        seen: list[int] = []
        threads = [threading.Thread(target=lambda: seen.append(module.VALUE)) for _ in range(16)]
        started = _time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == [42] * 16
        assert module.LOADS == [1]
        assert _time.monotonic() - started < 5
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slow_to_import_mod", None)
