"""The built-in Canvas and Open edX journeys against their stand-ins
(tests/canvas_double, tests/openedx_double)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from checks.journey.spec import JourneySpec
from monitor.kernel.result import Status
from tests.canvas_double.server import TOKEN, CanvasDouble
from tests.journey.conftest import Run, sample
from tests.openedx_double.server import COURSE, OpenedxDouble

EDX_PASSWORD = "edx-Probe-pass!"


@pytest.fixture
def canvas() -> Iterator[CanvasDouble]:
    double = CanvasDouble()
    yield double
    double.close()


@pytest.fixture
def edx() -> Iterator[OpenedxDouble]:
    double = OpenedxDouble()
    yield double
    double.close()


def canvas_spec(**overrides: Any) -> JourneySpec:
    return JourneySpec.model_validate({"type": "journey", "journey": "canvas", "token": TOKEN,
                                       "course_id": 42, **overrides})


def edx_spec(**overrides: Any) -> JourneySpec:
    return JourneySpec.model_validate({"type": "journey", "journey": "openedx",
                                       "username": "vigil-probe", "password": EDX_PASSWORD,
                                       "course_id": COURSE["id"], **overrides})


async def test_the_canvas_journey_opens_login_page_api_and_course(
        canvas: CanvasDouble, journey: Run) -> None:
    result = await journey(canvas_spec(), canvas.url)
    assert result.status is Status.OK, result.summary
    assert [s["step"] for s in result.details["steps"]] == ["login_page", "api_self", "course"]
    assert sample(result, "lms_journey_step_success", step="course") == 1.0
    course_call = next(h for _, p, h in canvas.server.requests if p == "/api/v1/courses/42")
    assert course_call["authorization"] == f"Bearer {TOKEN}"


async def test_a_refused_canvas_token_fails_the_api_step_without_showing_it(
        canvas: CanvasDouble, journey: Run) -> None:
    result = await journey(canvas_spec(token="7~WrongTokenThatCanvasRefuses00000"), canvas.url)
    assert result.summary == ("step 'api_self': Canvas refused the access token: 'Invalid "
                              "access token.' (HTTP 401)")
    assert "WrongToken" not in repr(result)


async def test_a_deleted_canvas_course_is_named(canvas: CanvasDouble, journey: Run) -> None:
    canvas.state.courses.clear()
    result = await journey(canvas_spec(), canvas.url)
    assert result.summary == ("step 'course': Canvas says 'The specified resource does not "
                              "exist.' (the course is gone) (HTTP 404)")


async def test_a_canvas_course_the_probe_may_not_see_is_named(
        canvas: CanvasDouble, journey: Run) -> None:
    canvas.state.enrolled.clear()
    result = await journey(canvas_spec(), canvas.url)
    assert result.summary == ("step 'course': the probe account may not see the course: Canvas "
                              "says 'user not authorized to perform that action' (HTTP 401)")


async def test_the_openedx_journey_logs_in_with_the_csrf_token_and_logs_out(
        edx: OpenedxDouble, journey: Run) -> None:
    result = await journey(edx_spec(), edx.lms.url)
    assert result.status is Status.OK, result.summary
    assert [s["step"] for s in result.details["steps"]] == [
        "login_page", "login", "dashboard", "course", "logout"]
    post = next(h for m, _, h in edx.lms.server.requests if m == "POST")
    assert post["x-csrftoken"] and f"csrftoken={post['x-csrftoken']}" in post["cookie"]
    assert not edx.lms.state.sessions  # logged out again


async def test_a_wrong_openedx_password_fails_the_login_step_with_its_message(
        edx: OpenedxDouble, journey: Run) -> None:
    result = await journey(edx_spec(password="not-it-at-all"), edx.lms.url)
    assert result.summary == ("step 'login': login refused: Open edX says 'Email or password "
                              "is incorrect.' (HTTP 400)")
    assert sample(result, "lms_journey_step_success", step="login") == 0.0


async def test_an_openedx_course_that_is_gone_is_named(edx: OpenedxDouble, journey: Run) -> None:
    edx.lms.state.course_keys.clear()
    result = await journey(edx_spec(), edx.lms.url)
    assert result.details["failed_step"] == "course"
    assert "Open edX has no such course (HTTP 404)" in result.summary
