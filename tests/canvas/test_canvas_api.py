"""canvas_api against the Canvas stand-in: the token works, is refused, or the API breaks."""

from __future__ import annotations

from typing import Any

from checks.canvas.api import CanvasApiCheck, CanvasApiSpec
from monitor.kernel.result import Result, Status
from tests.canvas_double.server import TOKEN, CanvasDouble


def sample(result: Result, name: str, **labels: str) -> float:
    return next(s.value for s in result.samples if s.name == name and dict(s.labels) == labels)

def api(token: str = TOKEN, **spec: Any) -> CanvasApiCheck:
    return CanvasApiCheck(CanvasApiSpec(type="canvas_api", token=token, **spec))


async def test_a_good_token_is_ok_and_sent_only_in_the_authorization_header(
        canvas: CanvasDouble, probe: Any) -> None:
    result = await probe(api(), canvas.url)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("Canvas API OK in ")
    assert "token accepted (user id 1)" in result.summary
    assert sample(result, "lms_canvas_api_up") == 1
    assert sample(result, "lms_canvas_endpoint_status_code", endpoint="api") == 200
    method, target, headers = canvas.server.requests[-1]
    assert target == "/api/v1/users/self" and headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_bad_token_is_critical_naming_the_token_problem_without_showing_it(
        canvas: CanvasDouble, probe: Any) -> None:
    wrong = "7~WrongTokenThatMustNotLeakIntoAlerts"
    result = await probe(api(token=wrong), canvas.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("API /api/v1/users/self: the access token was refused (HTTP 401: "
                              "Canvas says 'Invalid access token.'); issue a new token and "
                              "update the config")
    assert wrong not in result.summary and wrong not in repr(result.details)
    assert result.details["token"] == "rejected"
    assert sample(result, "lms_canvas_api_up") == 0
    assert sample(result, "lms_canvas_endpoint_status_code", endpoint="api") == 401


async def test_the_token_never_appears_in_the_spec_repr() -> None:
    assert TOKEN not in repr(CanvasApiSpec(type="canvas_api", token=TOKEN))


async def test_an_html_error_page_from_the_api_is_critical(canvas: CanvasDouble,
                                                          probe: Any) -> None:
    canvas.state.proxy_error.add("/api/v1/users/self")
    result = await probe(api(), canvas.url)
    assert result.status is Status.CRITICAL
    assert result.summary == ("API /api/v1/users/self: HTTP 502 answered an HTML page, not "
                              "JSON (502 Bad Gateway)")


async def test_a_slow_api_times_out_with_a_clear_result(canvas: CanvasDouble,
                                                       probe: Any) -> None:
    canvas.server.slow["/api/v1/users/self"] = True
    result = await probe(api(), canvas.url, timeout=1.0)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("API /api/v1/users/self: timeout after ")
    assert sample(result, "lms_canvas_api_up") == 0


async def test_an_unknown_api_path_is_unknown(canvas: CanvasDouble, probe: Any) -> None:
    result = await probe(api(path="/api/v1/nothing"), canvas.url)
    assert result.status is Status.UNKNOWN
    assert "HTTP 404 answered an HTML page" in result.summary
