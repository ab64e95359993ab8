"""Numbers as people read them in summaries and messages: "120ms", "2h 14m", "1.5 GiB".

Used by checks (summaries) and alerting (messages). Part of the kernel: imports nothing
of Vigil.
"""

from __future__ import annotations


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def fmt_duration(seconds: float) -> str:
    """Short human durations for summaries and messages: "45s", "14m", "2h 14m", "3d 4h"."""
    remaining = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    if remaining or not parts:
        parts.append(f"{remaining}s")
    return " ".join(parts[:2])


def fmt_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover - loop always returns
