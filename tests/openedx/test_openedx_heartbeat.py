"""openedx_heartbeat against the Open edX stand-in: LMS and Studio, service by service."""

from __future__ import annotations

from typing import Any

import pytest

from checks.openedx.heartbeat import OpenedxHeartbeatCheck, OpenedxHeartbeatSpec
from monitor.kernel.result import Result, Status
from tests.openedx_double.server import BASIC, EXTENDED, OpenedxDouble


def sample(result: Result, name: str, **labels: str) -> float:
    return next(s.value for s in result.samples if s.name == name and dict(s.labels) == labels)


def heartbeat(edx: OpenedxDouble, **spec: Any) -> OpenedxHeartbeatCheck:
    spec.setdefault("studio_url", edx.studio.url)
    return OpenedxHeartbeatCheck(OpenedxHeartbeatSpec(type="openedx_heartbeat", **spec))


async def test_a_healthy_lms_and_studio_are_ok_with_every_service_up(edx: OpenedxDouble,
                                                                     probe: Any) -> None:
    result = await probe(heartbeat(edx), edx.lms.url)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("lms up (modulestore, sql, celery) in ")
    assert "; studio up (modulestore, sql, celery) in " in result.summary
    for app in ("lms", "studio"):
        for service in BASIC + EXTENDED:
            assert sample(result, "lms_openedx_service_up", app=app, service=service) == 1
        assert sample(result, "lms_openedx_endpoint_up", app=app, endpoint="heartbeat") == 1
        assert sample(result, "lms_openedx_celery_roundtrip_seconds", app=app) == 0.2512
    assert [r[1] for r in edx.lms.server.requests] == ["/heartbeat?extended"]


async def test_without_extended_the_celery_round_trip_is_not_asked_for(
        edx: OpenedxDouble, probe: Any) -> None:
    result = await probe(heartbeat(edx, extended=False, studio_url=None), edx.lms.url)
    assert result.status is Status.OK
    assert result.summary.startswith("lms up (modulestore, sql) in ")
    assert [r[1] for r in edx.lms.server.requests] == ["/heartbeat"]


@pytest.mark.parametrize("app", ["lms", "studio"])
@pytest.mark.parametrize("service", BASIC + EXTENDED)
async def test_each_failing_service_is_critical_and_named_for_its_app(
        edx: OpenedxDouble, probe: Any, app: str, service: str) -> None:
    double = edx.lms if app == "lms" else edx.studio
    double.state.failing[service] = "expired" if service == "celery" else \
        f"{service} connection refused"
    result = await probe(heartbeat(edx), edx.lms.url)
    assert result.status is Status.CRITICAL
    expected = "expired" if service == "celery" else f"{service} connection refused"
    assert result.summary == f"{app}: {service} down ({expected})"
    assert sample(result, "lms_openedx_service_up", app=app, service=service) == 0
    other = "studio" if app == "lms" else "lms"
    assert sample(result, "lms_openedx_service_up", app=other, service=service) == 1
    assert sample(result, "lms_openedx_endpoint_up", app=app, endpoint="heartbeat") == 0
    assert sample(result, "lms_openedx_http_status_code", app=app, endpoint="heartbeat") == 503


async def test_a_heartbeat_that_raised_is_critical_with_its_error(edx: OpenedxDouble,
                                                                 probe: Any) -> None:
    edx.lms.state.raises = 'Module "x" does not define a "check_y" callable'
    result = await probe(heartbeat(edx, studio_url=None), edx.lms.url)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("lms heartbeat (/heartbeat): the heartbeat itself failed: ")


async def test_an_html_error_page_where_json_was_expected_is_critical(
        edx: OpenedxDouble, probe: Any) -> None:
    edx.studio.state.proxy_error.add("/heartbeat")
    result = await probe(heartbeat(edx), edx.lms.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("studio heartbeat (/heartbeat): HTTP 502 answered an HTML page, "
                              "not JSON (502 Bad Gateway)")
    assert sample(result, "lms_openedx_endpoint_up", app="lms", endpoint="heartbeat") == 1


async def test_a_slow_heartbeat_times_out_with_a_clear_result(edx: OpenedxDouble,
                                                              probe: Any) -> None:
    edx.lms.server.slow["/heartbeat"] = True
    result = await probe(heartbeat(edx), edx.lms.url, timeout=1.0)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("lms heartbeat (/heartbeat): timeout after ")
    assert sample(result, "lms_openedx_endpoint_up", app="studio", endpoint="heartbeat") == 1


async def test_a_site_without_a_heartbeat_is_unknown(edx: OpenedxDouble, probe: Any) -> None:
    result = await probe(heartbeat(edx, path="/nope", studio_url=None), edx.lms.url)
    assert result.status is Status.UNKNOWN
    assert "HTTP 404, no heartbeat here" in result.summary
