"""Open edX check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning;
each module is imported when its type is first looked up: checks/lazy.py)."""

from __future__ import annotations

from checks.lazy import CheckFamilies, LazyMetrics

OPENEDX_CHECK_TYPES = CheckFamilies({
    "openedx_heartbeat": ("checks.openedx.heartbeat", "OpenedxHeartbeatSpec",
                          "OpenedxHeartbeatCheck"),
    "openedx_pages": ("checks.openedx.pages", "OpenedxPagesSpec", "OpenedxPagesCheck"),
})

OPENEDX_METRICS = LazyMetrics(OPENEDX_CHECK_TYPES.modules())

# What an Open edX site with a URL and no checks gets.
DEFAULT_OPENEDX_CHECKS = ("openedx_heartbeat", "openedx_pages")
