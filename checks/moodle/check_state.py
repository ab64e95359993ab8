"""Baselines and cursors a Moodle probe keeps between runs, as one small JSON file each.

Used by config_drift.py, privileged.py (accepted baselines with their hold) and
filestore.py (the verification cursor and the blobs found corrupt). The file is
``<state_dir>/moodle/<target>/<check type>.json``, written atomically (temporary file +
rename) with mode 0600: fingerprints of secrets live there. Without a state directory
(``vigil check`` with no [state] dir) the document lives in memory for the life of the check
object, as the security probe's admin baseline does.

Blocking file I/O: call load/save through ctx.run_blocking.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from checks.base import CheckContext


def _slug(name: str) -> str:
    """A file-name-safe, collision-free form of a target name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "target"
    if safe == name:
        return safe
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class CheckState:
    """One JSON document per (target, check type); ``problem`` says why a load failed."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.problem: str | None = None
        self._memory: dict[str, dict[str, Any]] = {}

    def path(self, ctx: CheckContext) -> Path | None:
        if ctx.state_dir is None:
            return None
        return Path(ctx.state_dir) / "moodle" / _slug(ctx.target.name) / f"{self.kind}.json"

    def load(self, ctx: CheckContext) -> dict[str, Any] | None:
        """The stored document, or None when there is none (or it is unreadable: then
        ``problem`` names the cause and the caller starts a new baseline)."""
        self.problem = None
        path = self.path(ctx)
        if path is None:
            return self._memory.get(ctx.target.name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.problem = f"stored baseline {path} unreadable ({exc}); a new one was recorded"
            return None
        if not isinstance(data, dict):
            self.problem = f"stored baseline {path} is not a JSON object; a new one was recorded"
            return None
        return data

    def save(self, ctx: CheckContext, data: dict[str, Any]) -> None:
        path = self.path(ctx)
        if path is None:
            self._memory[ctx.target.name] = json.loads(json.dumps(data))  # a detached copy
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.kind}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, sort_keys=True, separators=(",", ":"))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
