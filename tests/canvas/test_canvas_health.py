"""canvas_health against the Canvas stand-in (tests/canvas_double): components one by one."""

from __future__ import annotations

from typing import Any

import pytest

from checks.canvas.health import CanvasHealthCheck, CanvasHealthSpec
from monitor.kernel.result import Result, Status
from tests.canvas_double.server import CRITICAL, READINESS, SECONDARY, CanvasDouble


def sample(result: Result, name: str, **labels: str) -> float:
    return next(s.value for s in result.samples if s.name == name and dict(s.labels) == labels)

def health(**spec: Any) -> CanvasHealthCheck:
    return CanvasHealthCheck(CanvasHealthSpec(type="canvas_health", **spec))


async def test_a_healthy_canvas_is_ok_with_every_component_up(canvas: CanvasDouble,
                                                              probe: Any) -> None:
    result = await probe(health(), canvas.url)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("Canvas healthy: 9 readiness, 4 critical, 2 secondary up")
    for name in READINESS:
        assert sample(result, "lms_canvas_component_up", group="readiness", component=name) == 1
    assert sample(result, "lms_canvas_component_up", group="secondary",
                  component="canvadocs") == 1
    assert sample(result, "lms_canvas_component_response_seconds", group="readiness",
                  component="common_css") == pytest.approx(0.00125)
    for endpoint in ("health_check", "readiness", "deep"):
        assert sample(result, "lms_canvas_endpoint_up", endpoint=endpoint) == 1
        assert sample(result, "lms_canvas_endpoint_status_code", endpoint=endpoint) == 200
    assert result.details["revision"] == "3f9c2e1a"


@pytest.mark.parametrize("component", READINESS)
async def test_each_failing_readiness_component_is_critical_and_named(
        canvas: CanvasDouble, probe: Any, component: str) -> None:
    canvas.state.readiness_failing[component] = f"{component} exploded"
    result = await probe(health(), canvas.url)
    assert result.status is Status.CRITICAL
    assert f"readiness down: {component} ({component} exploded)" in result.summary
    assert sample(result, "lms_canvas_component_up", group="readiness",
                  component=component) == 0
    others = [n for n in READINESS if n != component]
    assert all(sample(result, "lms_canvas_component_up", group="readiness", component=n) == 1
               for n in others)
    assert sample(result, "lms_canvas_endpoint_up", endpoint="readiness") == 0
    assert sample(result, "lms_canvas_endpoint_status_code", endpoint="readiness") == 503


@pytest.mark.parametrize("component", CRITICAL)
async def test_each_failing_critical_dependency_is_critical_and_named(
        canvas: CanvasDouble, probe: Any, component: str) -> None:
    canvas.state.critical_failing[component] = "Timeout::Error"
    result = await probe(health(), canvas.url)
    assert result.status is Status.CRITICAL
    assert f"critical dependency down: {component} (Timeout::Error)" in result.summary
    assert sample(result, "lms_canvas_component_up", group="critical", component=component) == 0
    assert sample(result, "lms_canvas_endpoint_status_code", endpoint="deep") == 503


@pytest.mark.parametrize("component", SECONDARY)
async def test_each_failing_secondary_dependency_is_a_warning(
        canvas: CanvasDouble, probe: Any, component: str) -> None:
    canvas.state.secondary_failing[component] = "Net::ReadTimeout"
    result = await probe(health(), canvas.url)
    assert result.status is Status.WARNING
    assert result.summary == f"secondary dependency down: {component} (Net::ReadTimeout)"
    assert sample(result, "lms_canvas_component_up", group="secondary", component=component) == 0
    # Canvas keeps /deep at 200 for secondary failures: the endpoint itself is fine.
    assert sample(result, "lms_canvas_endpoint_status_code", endpoint="deep") == 200


async def test_a_component_that_returned_false_is_named_without_canvas_stock_message(
        canvas: CanvasDouble, probe: Any) -> None:
    canvas.state.readiness_failing["ha_cache"] = ""  # Canvas still says "service is up"
    result = await probe(health(), canvas.url)
    assert result.status is Status.CRITICAL
    assert "readiness down: ha_cache" in result.summary
    assert "service is up" not in result.summary


async def test_the_health_check_error_page_is_critical_naming_the_endpoint(
        canvas: CanvasDouble, probe: Any) -> None:
    canvas.state.readiness_failing["postgresql"] = "PG::ConnectionBad"
    result = await probe(health(), canvas.url)
    assert result.status is Status.CRITICAL
    assert "health_check (/health_check): HTTP 500 answered an HTML page, not JSON" \
        in result.summary
    assert "readiness down: postgresql (PG::ConnectionBad)" in result.summary


async def test_a_proxy_error_page_where_json_was_expected_is_critical(
        canvas: CanvasDouble, probe: Any) -> None:
    canvas.state.proxy_error.add("/deep")
    result = await probe(health(), canvas.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("deep (/deep): HTTP 502 answered an HTML page, not JSON "
                              "(502 Bad Gateway)")
    assert sample(result, "lms_canvas_endpoint_up", endpoint="deep") == 0
    assert sample(result, "lms_canvas_endpoint_up", endpoint="readiness") == 1


async def test_a_missing_endpoint_is_unknown_and_says_which_setting_to_change(
        canvas: CanvasDouble, probe: Any) -> None:
    result = await probe(health(readiness_path="/nope", deep=False), canvas.url)
    assert result.status is Status.UNKNOWN
    assert "readiness (/nope): HTTP 404, no such endpoint" in result.summary
    assert "readiness_path" in result.summary


async def test_the_internal_readiness_route_works_too(canvas: CanvasDouble,
                                                      probe: Any) -> None:
    result = await probe(health(readiness_path="/internal/readiness", deep=False,
                                health_check=False), canvas.url)
    assert result.status is Status.OK
    assert result.summary.startswith("Canvas healthy: 9 readiness up")


async def test_deep_alone_reports_the_readiness_it_embeds(canvas: CanvasDouble,
                                                          probe: Any) -> None:
    canvas.state.readiness_failing["vault"] = "Vault::HTTPConnectionError"
    result = await probe(health(readiness=False, health_check=False), canvas.url)
    assert result.status is Status.CRITICAL
    assert "readiness down: vault (Vault::HTTPConnectionError)" in result.summary
    assert sample(result, "lms_canvas_component_up", group="readiness", component="vault") == 0


async def test_a_slow_endpoint_times_out_with_a_clear_result(canvas: CanvasDouble,
                                                             probe: Any) -> None:
    canvas.server.slow["/deep"] = True
    result = await probe(health(), canvas.url, timeout=1.0)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("deep (/deep): timeout after ")
    assert sample(result, "lms_canvas_endpoint_up", endpoint="deep") == 0
    assert sample(result, "lms_canvas_endpoint_up", endpoint="readiness") == 1


async def test_a_refused_connection_is_critical(probe: Any) -> None:
    result = await probe(health(deep=False, health_check=False), "http://127.0.0.1:9")
    assert result.status is Status.CRITICAL
    assert "readiness (/readiness): connection refused to 127.0.0.1:9" in result.summary


async def test_no_url_is_unknown(probe: Any) -> None:
    result = await probe(health(), None)
    assert result.status is Status.UNKNOWN
