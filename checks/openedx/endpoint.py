"""Per-endpoint metrics of the Open edX checks, and the site roots they probe.

One MetricSpec object per name, declared here once; openedx_heartbeat and openedx_pages
emit them with ``app`` (lms, studio) and ``endpoint`` (heartbeat, login, courses_api).
"""

from __future__ import annotations

from checks.base import CheckContext
from checks.json_endpoint import Answer
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Sample

ENDPOINT_METRICS = declare(
    MetricSpec("lms_openedx_endpoint_up", "gauge",
               "1 if the Open edX endpoint gave a healthy answer, else 0.", ("app", "endpoint")),
    MetricSpec("lms_openedx_http_status_code", "gauge",
               "HTTP status code of the Open edX endpoint's answer (after redirects followed).",
               ("app", "endpoint")),
    MetricSpec("lms_openedx_http_duration_seconds", "gauge",
               "Time to the full answer of the Open edX endpoint.", ("app", "endpoint")),
)


def endpoint_samples(app: str, endpoint: str, answer: Answer, ok: bool) -> list[Sample]:
    labels = {"app": app, "endpoint": endpoint}
    samples = [Sample("lms_openedx_endpoint_up", 1.0 if ok else 0.0, labels)]
    if answer.status_code is not None:
        samples += [Sample("lms_openedx_http_status_code", answer.status_code, labels),
                    Sample("lms_openedx_http_duration_seconds", answer.seconds, labels)]
    return samples


def roots(ctx: CheckContext, lms_url: str | None, studio_url: str | None) -> dict[str, str]:
    """{"lms": root, "studio": root} for the roots that are http(s) URLs."""
    found = {"lms": (lms_url or ctx.target.url or "").rstrip("/"),
             "studio": (studio_url or "").rstrip("/")}
    return {app: url for app, url in found.items()
            if url.lower().startswith(("http://", "https://"))}
