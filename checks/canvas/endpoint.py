"""Per-endpoint metrics of the Canvas checks (canvas_health and canvas_api share them).

One MetricSpec object per name, declared here once; both check modules emit them with
the ``endpoint`` label (health_check, readiness, deep, api).
"""

from __future__ import annotations

from checks.json_endpoint import Answer
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Sample

ENDPOINT_METRICS = declare(
    MetricSpec("lms_canvas_endpoint_up", "gauge",
               "1 if the Canvas endpoint answered as expected (JSON, healthy), else 0.",
               ("endpoint",)),
    MetricSpec("lms_canvas_endpoint_status_code", "gauge",
               "HTTP status code of the Canvas endpoint's answer.", ("endpoint",)),
    MetricSpec("lms_canvas_endpoint_duration_seconds", "gauge",
               "Time to the full answer of the Canvas endpoint.", ("endpoint",)),
)


def endpoint_samples(endpoint: str, answer: Answer, ok: bool) -> list[Sample]:
    labels = {"endpoint": endpoint}
    samples = [Sample("lms_canvas_endpoint_up", 1.0 if ok else 0.0, labels)]
    if answer.status_code is not None:
        samples += [Sample("lms_canvas_endpoint_status_code", answer.status_code, labels),
                    Sample("lms_canvas_endpoint_duration_seconds", answer.seconds, labels)]
    return samples
