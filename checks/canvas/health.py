"""The `canvas_health` check: Canvas's own health endpoints, component by component.

Data flow: scheduler -> CanvasHealthCheck.run(ctx) -> concurrent GETs of the site's
/health_check (JSON), /readiness and /deep (paths configurable) -> judged in
checks/canvas/components.py -> Result naming every failing component, with
lms_canvas_component_up{group,component} and lms_canvas_endpoint_* samples.

Routes, read in instructure/canvas-lms: ``health_check`` in config/routes.rb; ``/readiness``
and ``/deep`` from the commit that added them (30f4f304c186a9637022d83ad12fce2315543bbf,
"navigate to /readiness & /deep endpoints"); spec/controllers/info_controller_spec.rb
also routes ``/internal/readiness`` (set readiness_path where only that one is exposed).
Payloads: app/controllers/info_controller.rb at 00b222d77ee43d046e6aee0347c4ed5b27e1741f
and lib/health_checks.rb at 0e63cfcdc7dc5602956598562ffd088796e3b65d. /deep caches its
dependency checks for 60 s, so polling it more often than every minute measures nothing new.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field

from checks.base import CheckContext
from checks.canvas.components import (
    Component,
    Finding,
    answer_problem,
    component_findings,
    deep_components,
    health_check_finding,
    readiness_components,
    status_mismatch,
)
from checks.canvas.endpoint import ENDPOINT_METRICS, endpoint_samples
from checks.http import redact_url
from checks.json_endpoint import Answer, ClientCache, EndpointSpec, fetch
from monitor.kernel.metric import MetricSpec, declare, merge
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import Duration
from monitor.kernel.units import fmt_seconds

METRICS = merge(ENDPOINT_METRICS, declare(
    MetricSpec("lms_canvas_component_up", "gauge",
               "1 if the Canvas component or dependency reported itself up (status 200), "
               "else 0; group is readiness, critical or secondary.", ("group", "component")),
    MetricSpec("lms_canvas_component_response_seconds", "gauge",
               "How long Canvas took to check the component (its response_time_ms).",
               ("group", "component")),
))
_PATH = r"^/[A-Za-z0-9_./-]*$"


class CanvasHealthSpec(EndpointSpec):
    type: Literal["canvas_health"]
    interval: Duration = Field(default=60.0, gt=0)  # /deep caches its checks for 60 s
    timeout: Duration = Field(default=15.0, gt=0)  # each component may take up to 5 s
    health_check: bool = True
    readiness: bool = True
    deep: bool = True
    health_check_path: str = Field(default="/health_check", pattern=_PATH)
    readiness_path: str = Field(default="/readiness", pattern=_PATH)
    deep_path: str = Field(default="/deep", pattern=_PATH)
    # Canvas gives each component 5 s (healthcheck_timelimit): an endpoint slower than that
    # had a component at its limit.
    slow_warning: Duration = Field(default=5.0, gt=0)


class CanvasHealthCheck:
    def __init__(self, spec: CanvasHealthSpec) -> None:
        self.spec = spec
        self._clients = ClientCache(verify_tls=spec.verify_tls, ca_file=spec.ca_file)

    async def aclose(self) -> None:
        await self._clients.aclose()

    def _paths(self) -> dict[str, str]:
        spec = self.spec
        wanted = {"health_check": (spec.health_check, spec.health_check_path),
                  "readiness": (spec.readiness, spec.readiness_path),
                  "deep": (spec.deep, spec.deep_path)}
        return {name: path for name, (on, path) in wanted.items() if on}

    async def run(self, ctx: CheckContext) -> Result:
        root = (self.spec.url or ctx.target.url or "").rstrip("/")
        if not root.lower().startswith(("http://", "https://")):
            return Result(Status.UNKNOWN, f"no http(s) Canvas URL to probe (url={root!r})")
        paths = self._paths()
        if not paths:
            return Result(Status.UNKNOWN, "every Canvas endpoint is switched off")
        client = self._clients.get(ctx.http_transport)
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)  # answer before the runner's cut
        accept = {"Accept": "application/json"}
        answers = dict(zip(paths, await asyncio.gather(*(
            fetch(client, root + path, budget, headers=accept) for path in paths.values())),
            strict=True))
        return self._judge(root, paths, answers)

    def _judge(self, root: str, paths: dict[str, str], answers: dict[str, Answer]) -> Result:
        findings: list[Finding] = []
        components: list[Component] = []
        ok: dict[str, bool] = {}
        details: dict[str, Any] = {"url": redact_url(root)}
        for endpoint, answer in answers.items():
            body, problem = answer_problem(endpoint, paths[endpoint], answer)
            found: list[Finding] = [problem] if problem else []
            if problem is None:
                found += self._endpoint_findings(endpoint, paths[endpoint], answer, body,
                                                 components, "readiness" not in answers)
                if endpoint == "health_check" and isinstance(body, dict):
                    details["revision"] = str(body.get("revision") or "")[:40] or None
            # Up means a healthy answer: JSON of the right shape, HTTP 200, nothing off.
            ok[endpoint] = not found and answer.status_code == 200
            if answer.status_code is not None and answer.seconds > self.spec.slow_warning:
                found.append(Finding(Status.WARNING, f"{endpoint} took "
                                     f"{fmt_seconds(answer.seconds)} (limit "
                                     f"{self.spec.slow_warning:g}s)"))
            findings += found
            details[endpoint] = {"status_code": answer.status_code,
                                 "seconds": round(answer.seconds, 4)}
        findings += component_findings(components)
        details["components"] = [
            {"group": c.group, "name": c.name, "up": c.up, "message": c.message,
             "seconds": c.seconds} for c in components]
        details["problems"] = [f.text for f in findings][:10]
        status = Status.worst(f.status for f in findings)
        return Result(status, _summary(findings, components, answers),
                      tuple(_samples(answers, ok, components)), details)

    def _endpoint_findings(self, endpoint: str, path: str, answer: Answer, body: Any,
                           components: list[Component], deep_has_readiness: bool
                           ) -> list[Finding]:
        if endpoint == "health_check":
            finding = health_check_finding(path, answer, body)
            return [finding] if finding else []
        if endpoint == "readiness":
            found, problem = readiness_components(endpoint, path, body)
            groups: tuple[str, ...] = ("readiness",)
        else:
            found, problem = deep_components(path, body, with_readiness=deep_has_readiness)
            groups = ("readiness", "critical") if deep_has_readiness else ("critical",)
        if problem:
            return [problem]
        components += found
        mismatch = status_mismatch(endpoint, answer, found, groups)
        return [mismatch] if mismatch else []


def _summary(findings: list[Finding], components: list[Component],
             answers: dict[str, Answer]) -> str:
    if findings:
        order = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
        return "; ".join(f.text for f in sorted(findings, key=lambda f: order[f.status]))
    counts = ", ".join(f"{sum(c.group == g for c in components)} {g}"
                       for g in ("readiness", "critical", "secondary")
                       if any(c.group == g for c in components))
    slowest = max(a.seconds for a in answers.values())
    return f"Canvas healthy: {counts or 'health_check ok'} up (slowest endpoint " \
           f"{fmt_seconds(slowest)})"


def _samples(answers: dict[str, Answer], ok: dict[str, bool],
             components: list[Component]) -> list[Sample]:
    samples: list[Sample] = []
    for endpoint, answer in answers.items():
        samples += endpoint_samples(endpoint, answer, ok[endpoint])
    for c in components:
        labels = {"group": c.group, "component": c.name}
        samples.append(Sample("lms_canvas_component_up", 1.0 if c.up else 0.0, labels))
        if c.seconds is not None:
            samples.append(Sample("lms_canvas_component_response_seconds", c.seconds, labels))
    return samples
