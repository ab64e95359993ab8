"""moodle_availability against the demo LMS over real loopback HTTP (every fault it can
show), plus unit tests at the HTTP boundary (httpx.MockTransport) for what the demo does
not produce: themes without markers, odd REST errors, tokens echoed back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from checks.base import CheckContext
from checks.moodle.availability import METRICS, AvailabilityCheck, AvailabilitySpec
from checks.moodle.settings import MoodleSettings
from checks.moodle.site import MoodleSite
from monitor.app.catalogue import CATALOGUE
from monitor.app.demo.faults import FaultController
from monitor.app.demo.lms import DemoSite
from monitor.app.demo.server import DemoServer
from monitor.kernel.result import Result, Status
from monitor.kernel.target import Target

TOKEN = "vigil-demo-token"  # DemoSite's default token


def make_ctx(url: str | None, *, token: str | None = TOKEN, timeout: float = 5.0,
             transport: httpx.AsyncBaseTransport | None = None) -> CheckContext:
    settings = MoodleSettings(wstoken=SecretStr(token) if token else None)
    return CheckContext(target=Target(name="moodle", kind="moodle", url=url), timeout=timeout,
                        now=time.time, run_blocking=asyncio.to_thread,
                        http_transport=transport, site=MoodleSite(settings))


async def probe(ctx: CheckContext, **spec: Any) -> Result:
    check = AvailabilityCheck(AvailabilitySpec(type="moodle_availability", **spec))
    try:
        result = await check.run(ctx)
    finally:
        await check.aclose()
    for sample in result.samples:
        assert sample.name in CATALOGUE and sample.name in METRICS, sample.name
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    assert TOKEN not in result.summary and TOKEN not in json.dumps(result.details)
    return result


def sample(result: Result, name: str, **labels: str) -> float | None:
    values = [s.value for s in result.samples if s.name == name and dict(s.labels) == labels]
    return values[0] if values else None


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    async with DemoServer(faults=FaultController(slow_seconds=0.3)) as server:
        yield server


# --- against the demo LMS ------------------------------------------------------------

async def test_healthy_site_is_ok_with_release_and_version(demo: DemoServer) -> None:
    result = await probe(make_ctx(demo.url))

    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("login page OK in ")
    assert "Moodle 4.5.2 (Build: 20250210) (2024100702)" in result.summary
    assert result.details["state"] == "ok"
    assert result.details["login"]["session_cookie"] == "MoodleSession"
    assert result.details["site_info"]["release"] == "4.5.2 (Build: 20250210)"
    assert result.details["public_config"]["maintenanceenabled"] == 0
    assert sample(result, "lms_moodle_site_version") == 2024100702.0
    assert sample(result, "lms_moodle_developer_debug") == 0.0
    for endpoint in ("login", "appsitecheck", "public_config", "site_info"):
        assert sample(result, "lms_moodle_endpoint_ok", endpoint=endpoint) == 1.0
        assert sample(result, "lms_moodle_http_status_code", endpoint=endpoint) == 200
    assert sample(result, "lms_moodle_login_page_seconds") is not None


@pytest.mark.parametrize(("fault", "status", "state", "summary"), [
    ("down", Status.CRITICAL, "unreachable", "Moodle unreachable: connection refused to "
     "127.0.0.1:"),
    ("maintenance", Status.CRITICAL, "maintenance", "CLI maintenance mode (HTTP 503, "
     "Retry-After: 300) [login, appsitecheck, public_config, site_info]"),
    ("dberror", Status.CRITICAL, "database_error", "database error: Error reading from "
     "database (dmlreadexception) [login, appsitecheck, public_config, site_info]"),
    ("dbdown", Status.CRITICAL, "database_error", "database error: Database connection "
     "failed (dbconnectionfailed)"),
    ("upgrade", Status.CRITICAL, "upgrade_pending", "major upgrade pending: HTTP 303 to "
     "admin/index.php"),
    ("wrong_content", Status.CRITICAL, "wrong_content", "wrong content: 'Apache2 Debian "
     "Default Page: It works' instead of Moodle [login, appsitecheck, public_config, "
     "site_info]"),
    ("web_maintenance", Status.CRITICAL, "web_maintenance", "web maintenance mode on "
     "(maintenance_enabled) [login, public_config, site_info]"),
    ("developer_debug", Status.WARNING, "degraded", "developer debugging on (M.cfg "
     "developerdebug)"),
    ("invalidtoken", Status.CRITICAL, "degraded", "web service error invalidtoken (Invalid "
     "token - token not found)"),
    ("ws_disabled", Status.CRITICAL, "web_services_disabled", "web service REST protocol "
     "disabled (HTTP 403)"),
])
async def test_each_fault_is_recognised_and_named(
    demo: DemoServer, fault: str, status: Status, state: str, summary: str
) -> None:
    await demo.set_fault(fault)

    result = await probe(make_ctx(demo.url))

    assert result.status is status, result.summary
    assert result.details["state"] == state
    assert summary in result.summary


async def test_a_site_down_is_named_once_for_all_endpoints(demo: DemoServer) -> None:
    await demo.set_fault("down")

    result = await probe(make_ctx(demo.url))

    assert result.summary.count("connection refused") == 1
    assert "[login, appsitecheck, public_config, site_info]" in result.summary
    assert sample(result, "lms_moodle_endpoint_ok", endpoint="login") == 0.0
    assert sample(result, "lms_moodle_login_page_seconds") is None


async def test_developer_debugging_is_a_sample_and_can_be_accepted(demo: DemoServer) -> None:
    await demo.set_fault("developer_debug")

    result = await probe(make_ctx(demo.url), developer_debug="ok")

    assert result.status is Status.OK
    assert sample(result, "lms_moodle_developer_debug") == 1.0


async def test_slow_login_page_warns_then_goes_critical(demo: DemoServer) -> None:
    await demo.set_fault("slow")

    warning = await probe(make_ctx(demo.url), login_warning=0.2, login_critical=5)
    critical = await probe(make_ctx(demo.url), login_warning=0.1, login_critical=0.2)

    assert warning.status is Status.WARNING
    assert "login page took" in warning.summary and "(limit 0.2s)" in warning.summary
    assert critical.status is Status.CRITICAL
    assert sample(critical, "lms_moodle_login_page_seconds") >= 0.3  # type: ignore[operator]


async def test_an_answer_slower_than_the_timeout_is_a_named_timeout() -> None:
    async with DemoServer(faults=FaultController("slow", slow_seconds=3)) as server:
        started = time.monotonic()
        result = await probe(make_ctx(server.url, timeout=1.0))

    assert time.monotonic() - started < 2
    assert result.status is Status.CRITICAL
    assert "Moodle unreachable: timeout after 0.9s" in result.summary


async def test_without_a_token_site_info_is_skipped(demo: DemoServer) -> None:
    result = await probe(make_ctx(demo.url, token=None))

    assert result.status is Status.OK
    assert result.details["site_info"] == "skipped: no [lms.moodle] wstoken"
    assert sample(result, "lms_moodle_site_version") is None


async def test_site_info_can_be_switched_off_even_with_a_token(demo: DemoServer) -> None:
    result = await probe(make_ctx(demo.url), site_info=False, appsitecheck=False,
                         public_config=False)

    assert result.status is Status.OK
    assert result.details["site_info"] == "off"
    assert result.summary.startswith("login page OK in ") and "appsitecheck" not in result.summary


async def test_session_cookie_with_a_suffix_is_recognised() -> None:
    async with DemoServer(DemoSite(sessioncookie="prod")) as server:
        result = await probe(make_ctx(server.url))

    assert result.status is Status.OK
    assert result.details["login"]["session_cookie"] == "MoodleSessionprod"


async def test_https_site_is_verified_with_the_configured_ca(tmp_path: Path) -> None:
    async with DemoServer(tls_dir=tmp_path) as server:
        assert server.https_url and server.certificate
        trusted = await probe(make_ctx(server.https_url), ca_file=server.certificate.ca_file)
        untrusted = await probe(make_ctx(server.https_url))

    assert trusted.status is Status.OK, trusted.summary
    assert untrusted.status is Status.CRITICAL
    assert "certificate verify failed" in untrusted.summary


# --- at the HTTP boundary ---------------------------------------------------------------

LOGIN = ('<html><head><title>Log in | Site</title><script>\nM.cfg = {"wwwroot":"x"{debug}};\n'
         '</script></head><body id="page-login-index"><form action="/login/index.php" '
         'method="post" id="login"><input type="hidden" name="logintoken" value="abc">'
         '</form></body></html>')


def moodle(overrides: dict[str, Callable[[httpx.Request], httpx.Response]] | None = None,
           seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A healthy Moodle at https://lms.test; ``overrides`` replace answers by path."""
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        path = request.url.path
        if overrides and path in overrides:
            return overrides[path](request)
        if path == "/login/index.php":
            return httpx.Response(200, html=LOGIN.replace("{debug}", ""),
                                  headers={"Set-Cookie": "MoodleSession=s; path=/"})
        if path == "/login/token.php":
            return httpx.Response(200, json={"appsitecheck": "ok"})
        if path == "/lib/ajax/service-nologin.php":
            return httpx.Response(200, json=[{"error": False, "data": {"maintenanceenabled": 0}}])
        if path == "/webservice/rest/server.php":
            return httpx.Response(200, json={"release": "5.1+ (Build: 20251017)",
                                             "version": "2025100600.02"})
        return httpx.Response(404)
    return httpx.MockTransport(handle)


async def mocked(transport: httpx.MockTransport, **spec: Any) -> Result:
    return await probe(make_ctx("https://lms.test/", transport=transport), **spec)


async def test_version_with_decimals_becomes_the_sample() -> None:
    result = await mocked(moodle())

    assert result.status is Status.OK, result.summary
    assert sample(result, "lms_moodle_site_version") == 2025100600.02
    assert result.details["url"] == "https://lms.test"


async def test_token_travels_only_in_the_post_body() -> None:
    seen: list[httpx.Request] = []
    await mocked(moodle(seen=seen))

    [rest] = [r for r in seen if r.url.path == "/webservice/rest/server.php"]
    assert rest.method == "POST" and TOKEN not in str(rest.url)
    assert rest.url.params["moodlewsrestformat"] == "json"
    assert f"wstoken={TOKEN}".encode() in rest.content
    assert all(TOKEN not in str(r.url) for r in seen)


@pytest.mark.parametrize(("errorcode", "exception"), [
    ("accessexception", "webservice_access_exception"),
    ("servicerequireslogin", "moodle_exception"),
    ("invalidtoken", "moodle_exception"),
])
async def test_rest_errors_at_http_200_are_failures_named_by_errorcode(
    errorcode: str, exception: str
) -> None:
    error = {"exception": exception, "errorcode": errorcode, "message": "Access control exception"}
    transport = moodle({"/webservice/rest/server.php": lambda r: httpx.Response(200, json=error)})

    result = await mocked(transport)

    assert result.status is Status.CRITICAL
    assert f"web service error {errorcode} (Access control exception)" in result.summary
    assert sample(result, "lms_moodle_endpoint_ok", endpoint="site_info") == 0.0


async def test_a_token_echoed_by_the_site_is_scrubbed() -> None:
    error = {"exception": "moodle_exception", "errorcode": "invalidtoken",
             "message": f"Invalid token {TOKEN}"}
    transport = moodle({"/webservice/rest/server.php": lambda r: httpx.Response(200, json=error)})

    result = await mocked(transport)  # probe() asserts the token is nowhere

    assert "Invalid token ***" in result.summary


async def test_public_config_error_entry_is_a_failure() -> None:
    entry = [{"error": True, "exception": {"message": "Web service not available",
                                           "errorcode": "servicenotavailable"}}]
    transport = moodle({"/lib/ajax/service-nologin.php": lambda r: httpx.Response(200, json=entry)})

    result = await mocked(transport)

    assert result.status is Status.CRITICAL
    assert "public config failed: servicenotavailable (Web service not available)" in result.summary


async def test_login_page_without_logintoken_or_cookie_is_critical() -> None:
    no_token = LOGIN.replace(' name="logintoken"', "").replace("{debug}", "")
    transport = moodle({"/login/index.php": lambda r: httpx.Response(200, html=no_token)})

    result = await mocked(transport)

    assert result.status is Status.CRITICAL
    assert "login form without the logintoken field" in result.summary


async def test_login_page_without_a_session_cookie_is_critical() -> None:
    page = LOGIN.replace("{debug}", "")
    transport = moodle({"/login/index.php": lambda r: httpx.Response(200, html=page)})

    result = await mocked(transport)
    accepted = await mocked(transport, require_session_cookie=False)

    assert result.status is Status.CRITICAL
    assert "login page set no MoodleSession cookie" in result.summary
    assert accepted.status is Status.OK


async def test_sso_only_login_page_passes_when_the_form_is_not_required() -> None:
    page = ('<html><body id="page-login-index"><a href="/auth/oidc/">Log in with SSO</a>'
            "</body></html>")
    transport = moodle({"/login/index.php": lambda r: httpx.Response(
        200, html=page, headers={"Set-Cookie": "MoodleSession=x"})})

    strict = await mocked(transport)
    relaxed = await mocked(transport, require_login_form=False)

    assert strict.status is Status.CRITICAL
    assert "login page has no login form (showloginform off" in strict.summary
    assert relaxed.status is Status.OK


async def test_developerdebug_is_read_from_mcfg_with_escaped_slashes() -> None:
    page = LOGIN.replace("{debug}", ',"developerdebug":true,"home":"https:\\/\\/x"')
    transport = moodle({"/login/index.php": lambda r: httpx.Response(
        200, html=page, headers={"Set-Cookie": "MoodleSession=x"})})

    result = await mocked(transport)

    assert result.status is Status.WARNING
    assert sample(result, "lms_moodle_developer_debug") == 1.0


async def test_other_redirects_are_followed_but_not_into_admin_index() -> None:
    seen: list[httpx.Request] = []
    moved = moodle({"/login/index.php": lambda r: httpx.Response(
        302, headers={"Location": "https://lms.test/login/index.php?x=1"})
        if "x" not in r.url.params else httpx.Response(
            200, html=LOGIN.replace("{debug}", ""), headers={"Set-Cookie": "MoodleSession=x"})},
        seen=seen)
    upgrade = moodle({"/login/index.php": lambda r: httpx.Response(
        303, headers={"Location": "https://lms.test/admin/index.php"})}, seen=seen)

    followed = await mocked(moved)
    stopped = await mocked(upgrade)

    assert followed.status is Status.OK
    assert stopped.details["state"] == "upgrade_pending"
    assert not [r for r in seen if r.url.path == "/admin/index.php"]


async def test_html_where_json_is_expected_is_named() -> None:
    transport = moodle({"/login/token.php": lambda r: httpx.Response(
        200, html="<html><title>Proxy error</title></html>")})

    result = await mocked(transport)

    assert result.summary == "wrong content: 'Proxy error' instead of Moodle"


async def test_unreachable_port_is_critical_with_the_cause() -> None:
    result = await probe(make_ctx("http://127.0.0.1:9"), appsitecheck=False,
                         public_config=False)

    assert result.status is Status.CRITICAL
    assert result.summary == ("Moodle unreachable: connection refused to 127.0.0.1:9 "
                              "[login, site_info]")


async def test_no_url_is_unknown() -> None:
    result = await probe(make_ctx(None))

    assert result.status is Status.UNKNOWN


def test_spec_rejects_inverted_thresholds_and_non_http_urls() -> None:
    with pytest.raises(ValidationError, match="login_critical"):
        AvailabilitySpec(type="moodle_availability", login_warning=5, login_critical=1)
    with pytest.raises(ValidationError, match="not an http"):
        AvailabilitySpec(type="moodle_availability", url="ftp://lms")
