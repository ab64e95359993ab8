"""Canvas check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning;
each module is imported when its type is first looked up: checks/lazy.py)."""

from __future__ import annotations

from checks.lazy import CheckFamilies, LazyMetrics

CANVAS_CHECK_TYPES = CheckFamilies({
    "canvas_health": ("checks.canvas.health", "CanvasHealthSpec", "CanvasHealthCheck"),
    "canvas_api": ("checks.canvas.api", "CanvasApiSpec", "CanvasApiCheck"),
})

CANVAS_METRICS = LazyMetrics(CANVAS_CHECK_TYPES.modules())

# What a Canvas site with a URL and no checks gets (canvas_api needs a token).
DEFAULT_CANVAS_CHECKS = ("canvas_health",)
