"""openedx_pages against the Open edX stand-in: login pages and the public course list."""

from __future__ import annotations

from typing import Any

from checks.openedx.pages import OpenedxPagesCheck, OpenedxPagesSpec
from monitor.kernel.result import Result, Status
from tests.openedx_double.server import OpenedxDouble


def sample(result: Result, name: str, **labels: str) -> float:
    return next(s.value for s in result.samples if s.name == name and dict(s.labels) == labels)


def pages(edx: OpenedxDouble, **spec: Any) -> OpenedxPagesCheck:
    spec.setdefault("studio_url", edx.studio.url)
    return OpenedxPagesCheck(OpenedxPagesSpec(type="openedx_pages", **spec))


async def test_login_pages_and_the_course_list_are_ok(edx: OpenedxDouble, probe: Any) -> None:
    result = await probe(pages(edx), edx.lms.url)
    assert result.status is Status.OK, result.summary
    assert "lms login OK in " in result.summary and "studio login OK in " in result.summary
    assert sample(result, "lms_openedx_courses_visible") == 3
    for app, endpoint in (("lms", "login"), ("studio", "login"), ("lms", "courses_api")):
        assert sample(result, "lms_openedx_endpoint_up", app=app, endpoint=endpoint) == 1
        assert sample(result, "lms_openedx_http_status_code", app=app, endpoint=endpoint) == 200
    # Studio's sign-in goes through its redirect to the LMS login page.
    assert result.details["studio_login"]["final_url"] == f"{edx.lms.url}/login"


async def test_a_broken_login_page_is_critical_and_named(edx: OpenedxDouble,
                                                         probe: Any) -> None:
    edx.lms.state.proxy_error.add("/login")
    result = await probe(pages(edx), edx.lms.url)
    assert result.status is Status.CRITICAL
    # Studio's redirect lands on the same broken LMS login page: both say so.
    assert result.summary == ("lms login (/login): HTTP 502; "
                              "studio login (/signin_redirect_to_lms): HTTP 502")
    assert sample(result, "lms_openedx_endpoint_up", app="lms", endpoint="courses_api") == 1


async def test_an_html_page_where_the_course_list_json_was_expected_is_critical(
        edx: OpenedxDouble, probe: Any) -> None:
    edx.lms.state.proxy_error.add("/api/courses/v1/courses/")
    result = await probe(pages(edx), edx.lms.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("lms courses_api (/api/courses/v1/courses/): HTTP 502 answered "
                              "an HTML page, not JSON (502 Bad Gateway)")


async def test_a_slow_course_list_times_out_with_a_clear_result(edx: OpenedxDouble,
                                                                probe: Any) -> None:
    edx.lms.server.slow["/api/courses/v1/courses/"] = True
    result = await probe(pages(edx, studio_url=None), edx.lms.url, timeout=1.0)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("lms courses_api (/api/courses/v1/courses/): timeout after ")
    assert sample(result, "lms_openedx_endpoint_up", app="lms", endpoint="login") == 1


async def test_an_empty_catalogue_is_still_ok(edx: OpenedxDouble, probe: Any) -> None:
    edx.lms.state.courses = 0
    result = await probe(pages(edx, studio_url=None), edx.lms.url)
    assert result.status is Status.OK
    assert sample(result, "lms_openedx_courses_visible") == 0
