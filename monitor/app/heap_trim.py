"""Hands the heap memory the daemon freed back to the system every 30 s (glibc's
``malloc_trim``), so RSS follows what is in use rather than the last peak (#12).

A check run that builds large tables (the code-integrity scan, a big query result) frees
them when it ends, but glibc keeps freed pages inside its heaps until something asks;
``malloc_trim(0)`` returns every whole free page in every arena (madvise). Measured with
bench/footprint.py, two daemons side by side (docs/benchmarks.md, "Footprint, round
three"): RSS max -4.2 MB, RSS after 3 minutes -2.5 MB, CPU unchanged; one call takes a
few milliseconds on the event loop. Where the C library has no ``malloc_trim`` (musl),
this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)
EVERY = 30.0  # seconds between trims


def find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim(pad)``, or None where the C library has none."""
    import ctypes  # on first use: psycopg loads it in a Moodle daemon, an import need not

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols, libc among them
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


async def trim_forever(
    stop: asyncio.Event, every: float = EVERY, trim: Callable[[int], int] | None = None
) -> None:
    """Until ``stop`` is set: trim, then wait ``every`` seconds. ``trim`` defaults to
    glibc's; without one this returns at once."""
    trim = trim or find_malloc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library: freed heap memory stays mapped")
        return
    while not stop.is_set():
        try:
            trim(0)
        except Exception:  # never let housekeeping stop the daemon
            log.exception("malloc_trim failed; not trying again")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
