"""A change that alerts for a hold period, then becomes the accepted baseline.

One rule for every Moodle probe that watches something that should rarely change: the site
administrators (security.py), the privileged accounts (privileged.py) and the configuration
fingerprints (config_drift.py). Pure: the caller passes ``now`` and stores the state.

- The first observation is accepted as the baseline.
- A value different from the accepted one alerts; ``since`` is when the difference was
  first seen (kept while it lasts, for the alert text).
- Each further change during the hold restarts the hold (measured from ``changed``), so a
  second change is never swallowed by the end of the first one's hold.
- When the value has stayed the same for ``hold`` seconds it becomes the accepted
  baseline and the alert clears; a value that returns to the baseline clears at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _same(value: Any) -> Any:
    return value


@dataclass
class Hold(Generic[T]):
    accepted: T
    pending: T | None = None  # the differing value last seen
    since: float | None = None  # when a difference was first seen
    changed: float | None = None  # when the pending value was first seen (the hold's start)

    def observe(self, current: T, now: float, hold: float) -> float | None:
        """Record ``current``; returns ``since`` while a change alerts, else None."""
        if current == self.accepted:
            self.pending = self.since = self.changed = None
            return None
        if self.since is None:
            self.since = now
        if self.pending != current or self.changed is None:
            self.pending, self.changed = current, now
        if now - self.changed >= hold:
            self.accepted = current
            self.pending = self.since = self.changed = None
            return None
        return self.since

    def to_json(self, encode: Callable[[T], Any] = _same) -> dict[str, Any]:
        return {"accepted": encode(self.accepted),
                "pending": None if self.pending is None else encode(self.pending),
                "since": self.since, "changed": self.changed}

    @classmethod
    def from_json(cls, data: dict[str, Any], decode: Callable[[Any], T] = _same) -> Hold[T]:
        """Raises KeyError/TypeError/ValueError on a malformed document."""
        pending, since, changed = data.get("pending"), data.get("since"), data.get("changed")
        return cls(decode(data["accepted"]), None if pending is None else decode(pending),
                   None if since is None else float(since),
                   None if changed is None else float(changed))
