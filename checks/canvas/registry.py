"""Canvas check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning)."""

from __future__ import annotations

from checks.canvas import api, health
from checks.canvas.api import CanvasApiCheck, CanvasApiSpec
from checks.canvas.health import CanvasHealthCheck, CanvasHealthSpec
from monitor.kernel.metric import Metrics, merge
from monitor.kernel.spec import CheckSpec

CANVAS_CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
    "canvas_health": (CanvasHealthSpec, CanvasHealthCheck),
    "canvas_api": (CanvasApiSpec, CanvasApiCheck),
}

CANVAS_METRICS: Metrics = merge(health.METRICS, api.METRICS)

# What a Canvas site with a URL and no checks gets (canvas_api needs a token).
DEFAULT_CANVAS_CHECKS = ("canvas_health",)
