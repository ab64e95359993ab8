"""The `openedx_heartbeat` check: the LMS's and Studio's /heartbeat, service by service.

Data flow: scheduler -> OpenedxHeartbeatCheck.run(ctx) -> concurrent GETs of
<lms>/heartbeat and <studio>/heartbeat (with ``?extended`` by default) -> Result naming
each failing service per app, with lms_openedx_service_up{app,service} and the shared
lms_openedx_*{app,endpoint="heartbeat"} samples.

What the heartbeat answers, read in openedx/edx-platform:
- openedx/core/djangoapps/heartbeat/views.py (6efbafd754419a6e2fbe21540469afd7041ec4ff):
  a JSON object ``{check_name: {"status": bool, "message": str}}``; HTTP 503 when any
  status is not true, else 200; if running the checks raises, 503 ``{"error": str}``.
- runchecks.py (7960ef1a18657ae0cd2bd55a14d53dfa5365f577): settings.HEARTBEAT_CHECKS,
  plus HEARTBEAT_EXTENDED_CHECKS when the query string has ``extended``.
- default_checks.py (2a48563a4394cb4d7b0a2d6519680e1f90670bd2) and defaults.py
  (4181113be391f5fbaa6ba8cdaea7d72a175e0f57): ``modulestore`` (MongoDB/split, "OK" or the
  HeartbeatFailure), ``sql`` (SELECT 1), extended ``celery`` (a sample task; its message
  is ``str({'time': seconds})`` or "expired" after HEARTBEAT_CELERY_TIMEOUT = 5 s);
  ``cache_set``/``cache_get`` exist for sites that list them.
- lms/urls.py and cms/urls.py: ``path('heartbeat', include(...heartbeat.urls))`` in both.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckContext
from checks.http import redact_url
from checks.json_endpoint import Answer, ClientCache, EndpointSpec, fetch, http_url, short, unusable
from checks.openedx.endpoint import ENDPOINT_METRICS, endpoint_samples, roots
from monitor.kernel.metric import MetricSpec, declare, merge
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import Duration
from monitor.kernel.units import fmt_seconds

METRICS = merge(ENDPOINT_METRICS, declare(
    MetricSpec("lms_openedx_service_up", "gauge",
               "1 if the Open edX heartbeat reported the service (sql, modulestore, celery, "
               "...) up, else 0.", ("app", "service")),
    MetricSpec("lms_openedx_celery_roundtrip_seconds", "gauge",
               "Round trip of the heartbeat's sample Celery task (extended heartbeat)."
               , ("app",)),
))
MAX_SERVICES = 30  # labels stay bounded whatever a proxy answers
_CELERY_TIME = re.compile(r"""['"]time['"]\s*:\s*['"]?([0-9]+(?:\.[0-9]+)?)""")


class OpenedxHeartbeatSpec(EndpointSpec):
    type: Literal["openedx_heartbeat"]
    studio_url: str | None = None  # Studio (CMS) root; None: the LMS only
    extended: bool = True  # ?extended adds the Celery round trip (HEARTBEAT_EXTENDED_CHECKS)
    path: str = Field(default="/heartbeat", pattern=r"^/[A-Za-z0-9_./-]*$")
    timeout: Duration = Field(default=15.0, gt=0)  # the Celery check may wait 5 s
    # The extended heartbeat gives Celery 5 s (HEARTBEAT_CELERY_TIMEOUT); slower than that
    # and a service was at its limit.
    slow_warning: Duration = Field(default=5.0, gt=0)

    _studio_url = field_validator("studio_url")(http_url)


@dataclass(frozen=True, slots=True)
class Service:
    app: str
    name: str
    up: bool
    message: str


class OpenedxHeartbeatCheck:
    def __init__(self, spec: OpenedxHeartbeatSpec) -> None:
        self.spec = spec
        self._clients = ClientCache(verify_tls=spec.verify_tls, ca_file=spec.ca_file)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run(self, ctx: CheckContext) -> Result:
        apps = roots(ctx, self.spec.url, self.spec.studio_url)
        if "lms" not in apps:
            return Result(Status.UNKNOWN, "no http(s) Open edX LMS URL to probe")
        client = self._clients.get(ctx.http_transport)
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)
        query = "?extended" if self.spec.extended else ""
        answers = dict(zip(apps, await asyncio.gather(*(
            fetch(client, f"{root}{self.spec.path}{query}", budget,
                  headers={"Accept": "application/json"}) for root in apps.values())),
            strict=True))
        return self._judge(apps, answers)

    def _judge(self, apps: dict[str, str], answers: dict[str, Answer]) -> Result:
        problems: list[tuple[Status, str]] = []
        services: list[Service] = []
        samples: list[Sample] = []
        details: dict[str, Any] = {}
        for app, answer in answers.items():
            found, listed = self._one(app, answer)
            services += listed
            samples += endpoint_samples(app, "heartbeat", answer, not found)
            if answer.status_code is not None and answer.seconds > self.spec.slow_warning:
                found.append((Status.WARNING, f"{app} heartbeat took "
                              f"{fmt_seconds(answer.seconds)} (limit "
                              f"{self.spec.slow_warning:g}s)"))
            problems += found
            details[app] = {"url": redact_url(apps[app] + self.spec.path),
                            "status_code": answer.status_code,
                            "seconds": round(answer.seconds, 4),
                            "services": {s.name: {"up": s.up, "message": s.message}
                                         for s in listed}}
        for s in services:
            samples.append(Sample("lms_openedx_service_up", 1.0 if s.up else 0.0,
                                  {"app": s.app, "service": s.name}))
            if s.name == "celery" and s.up and (match := _CELERY_TIME.search(s.message)):
                samples.append(Sample("lms_openedx_celery_roundtrip_seconds",
                                      float(match.group(1)), {"app": s.app}))
        details["problems"] = [text for _, text in problems][:10]
        status = Status.worst(s for s, _ in problems)
        return Result(status, _summary(problems, services, answers), tuple(samples), details)

    def _one(self, app: str, answer: Answer) -> tuple[list[tuple[Status, str]], list[Service]]:
        where = f"{app} heartbeat ({self.spec.path})"
        body, status, text = unusable(where, answer, "no heartbeat here (not Open edX, or "
                                      "set path)")
        if text:
            return [(status, text)], []
        if isinstance(body, dict) and isinstance(body.get("error"), str) and not any(
                isinstance(v, dict) for v in body.values()):
            return [(Status.CRITICAL, f"{where}: the heartbeat itself failed: "
                     f"{short(body['error'], 100)}")], []
        services = _services(app, body)
        if services is None:
            return [(Status.UNKNOWN, f"{where}: JSON that is not a heartbeat answer "
                     "({service: {status, message}})")], []
        found: list[tuple[Status, str]] = []
        down = [s for s in services if not s.up]
        if down:
            found.append((Status.CRITICAL, f"{app}: " + ", ".join(
                f"{s.name} down ({s.message})" if s.message else f"{s.name} down"
                for s in down)))
        elif answer.status_code != 200:
            found.append((Status.CRITICAL, f"{where}: HTTP {answer.status_code} with every "
                          "service up"))
        return found, services


def _services(app: str, body: Any) -> list[Service] | None:
    if not isinstance(body, dict):
        return None
    found = []
    for name, value in list(body.items())[:MAX_SERVICES]:
        if not isinstance(value, dict) or "status" not in value:
            return None
        found.append(Service(app, str(name)[:64], value["status"] is True,
                             short(value.get("message") or "", 100)))
    return found


def _summary(problems: list[tuple[Status, str]], services: list[Service],
             answers: dict[str, Answer]) -> str:
    if problems:
        order = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
        return "; ".join(text for _, text in sorted(problems, key=lambda p: order[p[0]]))
    parts = []
    for app, answer in answers.items():
        names = ", ".join(s.name for s in services if s.app == app)
        parts.append(f"{app} up ({names}) in {fmt_seconds(answer.seconds)}")
    return "; ".join(parts)
