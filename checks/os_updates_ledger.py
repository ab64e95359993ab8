"""When each pending security update (and a pending reboot) was first seen, for the
`os_updates` check (checks/os_updates.py): "unapplied for 9 days" must survive a restart.

Kept as a small JSON file under Vigil's state directory, one per target
(``os_updates-<target>.json``), rewritten atomically only when something changed; in
memory when there is no state directory. A broken or unwritable file never fails the
check: the ledger starts afresh and the check's details say why.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.os_updates_host import HostFacts

_VERSION = 1


class Ledger:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.security: dict[str, float] = {}  # PendingUpdate.key -> first seen (Unix time)
        self.reboot_since: float | None = None
        self.error: str | None = None
        self._loaded = path is None
        self._unsaved = False  # the last save failed: retry (and report) on every run

    def observe(self, facts: HostFacts, now: float) -> None:
        """Blocking: record what is pending now; forget what was applied. ``error`` says
        afterwards what went wrong with the store during this call, if anything."""
        self.error = None
        self._load()
        before = (dict(self.security), self.reboot_since)
        if facts.security is not None:  # unknown (lists missing): keep what we knew
            current: dict[str, float] = {}
            for update in facts.security:
                since = self.security.get(update.key)
                if since is None:
                    # A newer fix replaced one that was never applied: the host has been
                    # exposed since the older one appeared, so inherit its first-seen time.
                    prefix = f"{update.name}:{update.arch} "
                    since = min((t for k, t in self.security.items() if k.startswith(prefix)),
                                default=now)
                current[update.key] = min(since, current.get(update.key, since))
            self.security = current
        if facts.reboot_required is not None:
            self.reboot_since = (self.reboot_since or now) if facts.reboot_required else None
        if self._unsaved or (self.security, self.reboot_since) != before:
            self._save()

    def oldest_security_age(self, now: float) -> float:
        """Seconds since the oldest pending security update was first seen (0 when none)."""
        return max((max(0.0, now - t) for t in self.security.values()), default=0.0)

    def _load(self) -> None:
        if self._loaded or self.path is None:
            return
        self._loaded = True
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.security, self.reboot_since = _validated(raw)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.error = f"first-seen store {self.path} unreadable, started afresh: {exc}"

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"version": _VERSION, "security": self.security, "reboot_since": self.reboot_since}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
            self._unsaved = False
        except OSError as exc:
            self._unsaved = True
            self.error = f"cannot save first-seen times to {self.path}: {exc.strerror or exc}"


def _validated(raw: Any) -> tuple[dict[str, float], float | None]:
    if not isinstance(raw, dict) or raw.get("version") != _VERSION:
        raise ValueError("not a version 1 ledger")
    security, reboot = raw.get("security"), raw.get("reboot_since")
    if not isinstance(security, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) for k, v in security.items()):
        raise ValueError("bad 'security' table")
    if reboot is not None and not isinstance(reboot, int | float):
        raise ValueError("bad 'reboot_since'")
    return {k: float(v) for k, v in security.items()}, reboot
