"""The `moodle_availability` check: Moodle seen from outside, as its users and its app see it.

Data flow: scheduler -> AvailabilityCheck.run(ctx) -> concurrent HTTP requests to the
site's wwwroot (ctx.target.url): login/index.php, login/token.php?appsitecheck=1,
lib/ajax/service-nologin.php (tool_mobile_get_public_config) and, with a web-service
token ([lms.moodle] wstoken), webservice/rest/server.php (core_webservice_get_site_info)
-> judges in checks/moodle/availability_judge.py -> Result with lms_moodle_* samples.
Site-wide states (down, CLI maintenance, web maintenance, major upgrade pending,
database error, wrong content) are named in the summary once, with the endpoints that
showed them.

The token travels only in a POST body and is scrubbed from every text this check emits.
Remote only: works from anywhere, reads nothing on the site's host.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import Field, FilePath, field_validator, model_validator

from checks.base import CheckContext
from checks.common import check_order, describe_os_error
from checks.http import USER_AGENT
from checks.moodle.availability_judge import (
    Answer,
    Judged,
    Problem,
    judge_appsitecheck,
    judge_login,
    judge_public_config,
    judge_site_info,
)
from checks.moodle.availability_report import report_details, report_samples, report_summary
from checks.moodle.site import MoodleSite
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Status, threshold_status
from monitor.kernel.spec import CheckSpec, Duration
from monitor.kernel.units import fmt_seconds

METRICS = declare(
    MetricSpec("lms_moodle_login_page_seconds", "gauge",
               "Time to fetch Moodle's login page (login/index.php), redirects included."),
    MetricSpec("lms_moodle_http_status_code", "gauge",
               "HTTP status of the last answer of a Moodle endpoint (login, appsitecheck, "
               "public_config, site_info).", ("endpoint",)),
    MetricSpec("lms_moodle_http_duration_seconds", "gauge",
               "Time to the full answer of a Moodle endpoint.", ("endpoint",)),
    MetricSpec("lms_moodle_endpoint_ok", "gauge",
               "1 if the Moodle endpoint gave a healthy answer, else 0.", ("endpoint",)),
    MetricSpec("lms_moodle_developer_debug", "gauge",
               "1 if the login page's M.cfg shows developer debugging on, else 0."),
    MetricSpec("lms_moodle_site_version", "gauge",
               "Moodle version number from core_webservice_get_site_info (e.g. 2024100702)."),
)
ENDPOINTS = ("login", "appsitecheck", "public_config", "site_info")
_BODY_LIMIT = 2 * 1024 * 1024  # a login page is ~50 KiB; more is not Moodle
_PUBLIC_CONFIG_CALL = [{"index": 0, "methodname": "tool_mobile_get_public_config", "args": {}}]
# Site states, most telling first: details["state"] names the first one present.


class AvailabilitySpec(CheckSpec):
    type: Literal["moodle_availability"]
    url: str | None = None  # the site's wwwroot; None: the target's url
    # Core has no response-time limit; tool_heartbeat fails its session round trip past
    # 5 s (catalyst/moodle-tool_heartbeat sessionone.php), so 5 s is critical here too.
    login_warning: Duration = Field(default=2.0, gt=0)
    login_critical: Duration = Field(default=5.0, gt=0)
    # False for SSO-only sites that hide the form (config showloginform = 0).
    require_login_form: bool = True
    require_session_cookie: bool = True
    appsitecheck: bool = True  # login/token.php?appsitecheck=1 (needs web services on)
    # Web services off (the Moodle app cannot connect) is Moodle's default on plain http:
    # say how bad it is where the app is promised to learners.
    mobile_app: Literal["ok", "warning", "critical"] = "ok"
    public_config: bool = True  # service-nologin.php tool_mobile_get_public_config
    site_info: bool = True  # core_webservice_get_site_info, when a wstoken is configured
    # debugdeveloper on a production site leaks paths and SQL in error pages.
    developer_debug: Literal["ok", "warning", "critical"] = "warning"
    admin_dir: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.-]+$")  # $CFG->admin
    verify_tls: bool = True
    ca_file: FilePath | None = None
    max_redirects: int = Field(default=5, ge=0, le=20)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _order(self) -> AvailabilitySpec:
        check_order(self, "login_warning", "login_critical", higher_is_worse=True)
        return self


class AvailabilityCheck:
    """One client per check, keep-alive off: every run measures fresh connections."""

    def __init__(self, spec: AvailabilitySpec) -> None:
        self.spec = spec
        self._client: httpx.AsyncClient | None = None
        self._transport: httpx.AsyncBaseTransport | None = None

    def _client_for(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        if self._client is None or transport is not self._transport:
            verify: Any = self.spec.verify_tls
            if self.spec.verify_tls and self.spec.ca_file:
                verify = ssl.create_default_context(cafile=str(self.spec.ca_file))
            self._transport = transport
            self._client = httpx.AsyncClient(
                transport=transport or httpx.AsyncHTTPTransport(
                    verify=verify, retries=0, limits=httpx.Limits(max_keepalive_connections=0)),
                follow_redirects=False, headers={"User-Agent": USER_AGENT}, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def run(self, ctx: CheckContext) -> Result:
        wwwroot = (self.spec.url or ctx.target.url or "").rstrip("/")
        if not wwwroot.lower().startswith(("http://", "https://")):
            return Result(Status.UNKNOWN, f"no http(s) wwwroot to probe (url={wwwroot!r})")
        token = _wstoken(ctx)
        client = self._client_for(ctx.http_transport)
        client.cookies.clear()  # a session kept from the last run would hide a broken page
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)  # answer before the runner's cut
        requests = self._requests(client, wwwroot, token, budget)
        answers = dict(zip(requests, await asyncio.gather(*requests.values()), strict=True))
        return _scrub(self._result(wwwroot, answers, token), token)

    def _requests(self, client: httpx.AsyncClient, www: str, token: str | None,
                  budget: float) -> dict[str, Awaitable[Answer]]:
        fetch = self._fetch
        requests: dict[str, Awaitable[Answer]] = {"login": fetch(
            client, budget, "GET", f"{www}/login/index.php", redirects=self.spec.max_redirects)}
        if self.spec.appsitecheck:
            requests["appsitecheck"] = fetch(client, budget, "GET",
                                             f"{www}/login/token.php?appsitecheck=1")
        if self.spec.public_config:
            requests["public_config"] = fetch(
                client, budget, "POST",
                f"{www}/lib/ajax/service-nologin.php?info=tool_mobile_get_public_config",
                json=_PUBLIC_CONFIG_CALL)
        # The token goes in the POST body, never the query: URLs end up in access logs.
        if token and self.spec.site_info:
            requests["site_info"] = fetch(
                client, budget, "POST", f"{www}/webservice/rest/server.php?moodlewsrestformat=json",
                data={"wstoken": token, "wsfunction": "core_webservice_get_site_info",
                      "moodlewsrestformat": "json"})
        return requests

    async def _fetch(self, client: httpx.AsyncClient, budget: float, method: str, url: str,
                     *, redirects: int = 0, **content: Any) -> Answer:
        """One endpoint's answer, following up to ``redirects`` redirects (login only), but
        never into admin/index.php: that redirect is the upgrade-pending signal itself."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                while True:
                    request = client.build_request(method, url, timeout=budget, **content)
                    response = await client.send(request, stream=True)
                    try:
                        body = await _read_capped(response)
                    finally:
                        await response.aclose()
                    location = response.headers.get("location", "")
                    upgrade = urlsplit(location).path.endswith(f"/{self.spec.admin_dir}/index.php")
                    if not response.is_redirect or not location or redirects <= 0 or upgrade:
                        return Answer(response.status_code, response.headers, body,
                                      time.perf_counter() - start)
                    url, method, content = urljoin(url, location), "GET", {}
                    redirects -= 1
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {budget:g}s"
        except httpx.InvalidURL as exc:
            error = f"invalid URL: {exc}"
        except httpx.HTTPError as exc:
            error = _describe_http_error(exc, url)
        return Answer(seconds=time.perf_counter() - start, error=error)

    def _result(self, www: str, answers: dict[str, Answer], token: str | None) -> Result:
        spec = self.spec
        judged: dict[str, Judged] = {
            "login": judge_login(answers["login"], require_form=spec.require_login_form,
                                 require_cookie=spec.require_session_cookie,
                                 admin_dir=spec.admin_dir)}
        judges: dict[str, Callable[[Answer, str], Judged]] = {
                  "appsitecheck": partial(judge_appsitecheck, mobile_app=spec.mobile_app),
                  "public_config": judge_public_config, "site_info": judge_site_info}
        for endpoint, judge in judges.items():
            if endpoint in answers:
                judged[endpoint] = judge(answers[endpoint], spec.admin_dir)
        login, facts = answers["login"], judged["login"][1]
        extra: list[tuple[str, Problem]] = []
        slow = threshold_status(login.seconds, spec.login_warning, spec.login_critical)
        if login.status_code is not None and slow is not Status.OK:
            limit = spec.login_critical if slow is Status.CRITICAL else spec.login_warning
            extra.append(("login", Problem(slow, f"login page took "
                                           f"{fmt_seconds(login.seconds)} (limit {limit:g}s)")))
        if facts.get("developer_debug") and spec.developer_debug != "ok":
            extra.append(("login", Problem(Status[spec.developer_debug.upper()],
                                           "developer debugging on (M.cfg developerdebug)")))
        problems = [(ep, p) for ep, (found, _) in judged.items() for p in found] + extra
        details = report_details(www, answers, judged, problems, token)
        status = Status.worst(p.status for _, p in problems) if problems else Status.OK
        return Result(status, report_summary(problems, answers, judged),
                      tuple(report_samples(answers, judged)), details)


def _wstoken(ctx: CheckContext) -> str | None:
    site = ctx.site
    if isinstance(site, MoodleSite) and site.settings.wstoken is not None:
        return site.settings.wstoken.get_secret_value() or None
    return None


async def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > _BODY_LIMIT:
            break  # judged on what arrived; more than this is not a Moodle page anyway
        chunks.append(chunk)
    return b"".join(chunks)


def _describe_http_error(exc: httpx.HTTPError, url: str) -> str:
    cause = describe_os_error(exc)
    if isinstance(exc, httpx.ConnectError):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return f"{cause} to {parts.hostname}:{port}"
    return cause


def _scrub(result: Result, token: str | None) -> Result:
    """Defence in depth: no text this check emits may carry the token, whatever echoed it."""
    if not token:
        return result

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(token, "***")
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return Result(result.status, clean(result.summary), result.samples,
                  clean(dict(result.details)))
