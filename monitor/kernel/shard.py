"""Which instance of a fleet owns which LMS: a stable hash of the LMS name, shard I of N.

Part of the kernel: imports nothing of Vigil. ``vigil run --shard I/N`` and
``[fleet] shard = "I/N"`` (monitor/app/fleet.py) both parse through ``parse_shard``.

The hash is Prometheus's ``hashmod`` relabel action (prometheus/prometheus,
model/relabel/relabel.go, ``case HashMod``): ``md5.Sum([]byte(val))``, the last 8 bytes
read as a big-endian uint64, modulo N. Shards are numbered from 0 like hashmod's result,
so ``--shard 1/4`` owns exactly the sites a Prometheus ``hashmod`` with ``modulus: 4`` and
``keep`` on ``^1$`` keeps. The owner of a site depends only on its name and N: adding or
removing another site moves nothing, and N instances need no coordination.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SHARDS = 1024
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's hashmod of ``value``: md5, low 8 bytes big-endian, mod ``modulus``."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def owns(self, lms: str) -> bool:
        return hashmod(lms, self.count) == self.index

    def owned(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.owns(name)]

    @property
    def label(self) -> str:
        """The value of the ``shard`` label on this instance's alerts and metrics."""
        return str(self.index)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` with 0 <= I < N <= MAX_SHARDS; a ValueError says what is wrong."""
    match = _SHARD.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a shard: write I/N, e.g. 0/2 for the first of "
                         "two shards (numbered from 0, like Prometheus hashmod)")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"{text!r}: the number of shards N must be between 1 and {MAX_SHARDS}")
    if index >= count:
        raise ValueError(f"{text!r}: shards are numbered from 0, so I must be less than N "
                         f"(0..{count - 1})")
    return Shard(index, count)
