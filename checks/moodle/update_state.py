"""What the update probe remembers between runs: the last good feed answer and when Vigil
first saw each available update.

Used by updates.py. One small JSON file per site under ``ctx.state_dir/moodle_updates/``
(written to a temporary file and renamed, so a crash never leaves half a file); without a
state directory (a one-shot `vigil check`) the same record lives in memory only. The file
holds public facts only (versions, the feed's answer), never a secret.

- ``response``/``fetched_at``/``request``: the raw body of the last valid answer, when it
  was fetched and for which request (version, branch, plugins): an answer for another
  request (the site was upgraded since) is not reused as fresh.
- ``first_seen``: "<component>@<version>" -> Unix time Vigil first saw that update offered.
  The feed has no publication date (core release names carry a build date, plugins
  nothing), so this is how long an update has been left unapplied; entries for updates no
  longer offered are dropped.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class UpdateState:
    response: str | None = None
    fetched_at: float | None = None
    request: dict[str, str] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    last_error: str | None = None
    last_attempt: float | None = None

    def to_json(self) -> str:
        return json.dumps({"schema": _SCHEMA, "response": self.response,
                           "fetched_at": self.fetched_at, "request": self.request,
                           "first_seen": self.first_seen, "last_error": self.last_error,
                           "last_attempt": self.last_attempt}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UpdateState:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
            return cls()
        return cls(response=_str(data.get("response")), fetched_at=_float(data.get("fetched_at")),
                   request={str(k): str(v) for k, v in _dict(data.get("request")).items()},
                   first_seen={str(k): f for k, v in _dict(data.get("first_seen")).items()
                               if (f := _float(v)) is not None},
                   last_error=_str(data.get("last_error")),
                   last_attempt=_float(data.get("last_attempt")))

    def note_seen(self, keys: set[str], now: float) -> dict[str, float]:
        """Record first sightings; forget updates no longer offered. Returns the map."""
        self.first_seen = {key: self.first_seen.get(key, now) for key in sorted(keys)}
        return self.first_seen


class StateFile:
    """Load/save one site's UpdateState; memory only when there is no state directory."""

    def __init__(self, state_dir: Path | None, site_name: str) -> None:
        self.path = None if state_dir is None else (
            Path(state_dir) / "moodle_updates" / f"{_SAFE.sub('_', site_name) or 'site'}.json")
        self._memory = UpdateState()
        self.problem: str | None = None  # why the file could not be read or written

    def load(self) -> UpdateState:
        """Blocking. A missing or unreadable file is an empty state (the problem is kept)."""
        if self.path is None:
            return self._memory
        try:
            return UpdateState.from_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return UpdateState()
        except (OSError, ValueError) as exc:
            self.problem = f"cache {self.path} unreadable: {exc}"
            return UpdateState()

    def save(self, state: UpdateState) -> None:
        """Blocking; atomic rename. A failure is remembered, never raised: the check still
        judges from what it fetched."""
        if self.path is None:
            self._memory = state
            return
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(state.to_json())
            os.replace(tmp, self.path)
            self.problem = None
        except OSError as exc:
            self.problem = f"cannot write the cache {self.path}: {exc.strerror or exc}"
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
