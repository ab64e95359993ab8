"""Open edX check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning)."""

from __future__ import annotations

from checks.openedx import heartbeat, pages
from checks.openedx.heartbeat import OpenedxHeartbeatCheck, OpenedxHeartbeatSpec
from checks.openedx.pages import OpenedxPagesCheck, OpenedxPagesSpec
from monitor.kernel.metric import Metrics, merge
from monitor.kernel.spec import CheckSpec

OPENEDX_CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
    "openedx_heartbeat": (OpenedxHeartbeatSpec, OpenedxHeartbeatCheck),
    "openedx_pages": (OpenedxPagesSpec, OpenedxPagesCheck),
}

OPENEDX_METRICS: Metrics = merge(heartbeat.METRICS, pages.METRICS)

# What an Open edX site with a URL and no checks gets.
DEFAULT_OPENEDX_CHECKS = ("openedx_heartbeat", "openedx_pages")
