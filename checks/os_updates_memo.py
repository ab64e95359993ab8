"""apt's last answer for the `os_updates` check, asked again only when what it reads changed.

`apt-get --simulate dist-upgrade` costs ~2.7 CPU-s and `apt-mark showhold` ~0.5 on a
Debian 12 host (docs/benchmarks.md): run hourly, they alone were ~0.09 % of a core, more
than half of the daemon's idle budget. Their answer depends only on files: the package
lists, dpkg's status and architectures, apt's own state and its configuration. While none
of those changed (path, size, mtime, ctime and inode of each), the last answer is reused,
for at most MAX_REUSE, so that an input missing from APT_INPUTS costs hours, not days.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Relative to the host's root; a directory counts with every file below it.
APT_INPUTS = ("var/lib/apt/lists", "var/lib/apt/extended_states", "var/lib/dpkg/status",
              "var/lib/dpkg/arch", "etc/apt")
MAX_REUSE = 6 * 3600.0

Inputs = tuple[tuple[str, int, int, int, int], ...]


def apt_inputs(root: Path) -> Inputs:
    """(path, size, mtime_ns, ctime_ns, inode) of every file apt's answer depends on."""
    return tuple(_stats(root, APT_INPUTS))


def _stats(root: Path, rels: tuple[str, ...]) -> Iterator[tuple[str, int, int, int, int]]:
    for rel in rels:
        top = os.path.join(root, rel)
        for path in [top] + sorted(_below(top)):
            try:
                st = os.lstat(path)
            except OSError:
                yield path, -1, 0, 0, 0  # missing (or gone meanwhile): a state of its own
                continue
            yield path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _below(top: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(top):  # (nothing for a file or a missing path)
        for name in dirs + files:
            yield os.path.join(folder, name)


@dataclass(slots=True)
class AptMemo:
    """The fields of HostFacts that apt's commands gave, with the inputs they read."""

    clock: Callable[[], float] = time.monotonic
    inputs: Inputs | None = None
    asked_at: float = 0.0
    answer: dict[str, Any] | None = None

    def recall(self, inputs: Inputs) -> dict[str, Any] | None:
        fresh = self.clock() - self.asked_at < MAX_REUSE
        return self.answer if fresh and inputs == self.inputs else None

    def keep(self, inputs: Inputs, answer: dict[str, Any]) -> None:
        self.inputs, self.asked_at, self.answer = inputs, self.clock(), answer
