"""The `openedx_pages` check: what an anonymous visitor of Open edX gets.

Data flow: scheduler -> OpenedxPagesCheck.run(ctx) -> concurrent GETs of the LMS login
page, Studio's sign-in (when studio_url is set) and the LMS's public course list API ->
Result with lms_openedx_courses_visible and the shared lms_openedx_*{app,endpoint} samples.

Endpoints, read in openedx/edx-platform:
- LMS ``/login``: openedx/core/djangoapps/user_authn/urls_common.py
  (3cf21c8cafde7de000528cbf00390c1012a2f328), ``login_and_registration_form``; with the
  authn micro-frontend on, it redirects there (redirects are followed).
- Studio ``/signin_redirect_to_lms``: cms/urls.py (6eb75e566c6c9e0e0eaf76f7127150f4ba876fae)
  -> cms/djangoapps/contentstore/views/public.py ``login_redirect_to_lms``
  (6efbafd754419a6e2fbe21540469afd7041ec4ff), a redirect to FRONTEND_LOGIN_URL: Studio's
  own routing and the LMS login behind it.
- ``/api/courses/v1/courses/``: lms/djangoapps/course_api/views.py
  (ea22d0890936909efcde9f9504a753f7910d7c7d), CourseListView under
  ``@view_auth_classes(is_authenticated=False)``: public, paginated as
  ``{"results": [...], "pagination": {"count", "num_pages", "next", "previous"}}``.
  It reads CourseOverview from SQL (and search, with search_term): the app stack answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from checks.base import CheckContext
from checks.common import check_order
from checks.http import redact_url
from checks.json_endpoint import Answer, ClientCache, EndpointSpec, fetch, http_url, unusable
from checks.openedx.endpoint import ENDPOINT_METRICS, endpoint_samples, roots
from monitor.kernel.metric import MetricSpec, declare, merge
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import Duration
from monitor.kernel.units import fmt_seconds

METRICS = merge(ENDPOINT_METRICS, declare(
    MetricSpec("lms_openedx_courses_visible", "gauge",
               "Courses the public course list API shows an anonymous visitor "
               "(pagination.count)."),
))
_PATH = r"^/[A-Za-z0-9_./?=&-]*$"


class OpenedxPagesSpec(EndpointSpec):
    type: Literal["openedx_pages"]
    studio_url: str | None = None
    login_path: str = Field(default="/login", pattern=_PATH)
    studio_login_path: str = Field(default="/signin_redirect_to_lms", pattern=_PATH)
    courses_api: bool = True
    courses_api_path: str = Field(default="/api/courses/v1/courses/", pattern=_PATH)
    # Same limits as the Moodle login page: users give up past a few seconds.
    login_warning: Duration = Field(default=2.0, gt=0)
    login_critical: Duration = Field(default=5.0, gt=0)

    _studio_url = field_validator("studio_url")(http_url)

    @model_validator(mode="after")
    def _order(self) -> OpenedxPagesSpec:
        check_order(self, "login_warning", "login_critical", higher_is_worse=True)
        return self


class OpenedxPagesCheck:
    def __init__(self, spec: OpenedxPagesSpec) -> None:
        self.spec = spec
        self._clients = ClientCache(verify_tls=spec.verify_tls, ca_file=spec.ca_file)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run(self, ctx: CheckContext) -> Result:
        apps = roots(ctx, self.spec.url, self.spec.studio_url)
        if "lms" not in apps:
            return Result(Status.UNKNOWN, "no http(s) Open edX LMS URL to probe")
        client = self._clients.get(ctx.http_transport)
        client.cookies.clear()  # a session kept from the last run would hide a broken page
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)
        spec = self.spec
        wanted: dict[tuple[str, str], tuple[str, Awaitable[Answer]]] = {
            ("lms", "login"): (spec.login_path, fetch(client, apps["lms"] + spec.login_path,
                                                      budget, follow=True))}
        if "studio" in apps:
            wanted["studio", "login"] = (spec.studio_login_path, fetch(
                client, apps["studio"] + spec.studio_login_path, budget, follow=True))
        if spec.courses_api:
            wanted["lms", "courses_api"] = (spec.courses_api_path, fetch(
                client, apps["lms"] + spec.courses_api_path, budget,
                headers={"Accept": "application/json"}))
        results = await asyncio.gather(*(call for _, call in wanted.values()))
        answers = {key: (path, answer) for (key, (path, _)), answer
                   in zip(wanted.items(), results, strict=True)}
        return self._judge(apps, answers)

    def _judge(self, apps: dict[str, str],
               answers: dict[tuple[str, str], tuple[str, Answer]]) -> Result:
        problems: list[tuple[Status, str]] = []
        samples: list[Sample] = []
        details: dict[str, Any] = {}
        for (app, endpoint), (path, answer) in answers.items():
            where = f"{app} {endpoint} ({path})"
            if endpoint == "courses_api":
                found, facts = _judge_courses(where, answer)
                if "count" in facts:
                    samples.append(Sample("lms_openedx_courses_visible", facts["count"]))
            else:
                found, facts = self._judge_login(where, answer), {}
            samples += endpoint_samples(app, endpoint, answer,
                                        all(s is Status.WARNING for s, _ in found))
            problems += found
            details[f"{app}_{endpoint}"] = {
                "url": redact_url(apps[app] + path), "status_code": answer.status_code,
                "final_url": redact_url(answer.location) if answer.location else None,
                "seconds": round(answer.seconds, 4), **facts}
        details["problems"] = [text for _, text in problems][:10]
        if problems:
            order = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
            summary = "; ".join(t for _, t in sorted(problems, key=lambda p: order[p[0]]))
        else:
            summary = "; ".join(
                f"{app} {endpoint} OK in {fmt_seconds(answer.seconds)}"
                for (app, endpoint), (_, answer) in answers.items())
        return Result(Status.worst(s for s, _ in problems), summary, tuple(samples), details)

    def _judge_login(self, where: str, answer: Answer) -> list[tuple[Status, str]]:
        if answer.error:
            return [(Status.CRITICAL, f"{where}: {answer.error}")]
        if answer.status_code != 200:
            return [(Status.CRITICAL, f"{where}: HTTP {answer.status_code}")]
        slow = threshold_status(answer.seconds, self.spec.login_warning,
                                self.spec.login_critical)
        if slow is Status.OK:
            return []
        limit = self.spec.login_critical if slow is Status.CRITICAL else self.spec.login_warning
        return [(slow, f"{where} took {fmt_seconds(answer.seconds)} (limit {limit:g}s)")]


def _judge_courses(where: str, answer: Answer) -> tuple[list[tuple[Status, str]],
                                                        dict[str, Any]]:
    body, status, text = unusable(where, answer, "no public course list here (course API "
                                  "disabled, or set courses_api_path)")
    if text:
        return [(status, text)], {}
    if answer.status_code != 200:
        return [(Status.CRITICAL, f"{where}: HTTP {answer.status_code}")], {}
    pagination = body.get("pagination") if isinstance(body, dict) else None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not isinstance(pagination, dict):
        return [(Status.UNKNOWN, f"{where}: JSON without results and pagination (not the "
                 "course list API?)")], {}
    count = pagination.get("count")
    return [], {"count": count if isinstance(count, int) else len(results)}
