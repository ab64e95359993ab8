"""Fixtures for the journey tests: the Moodle web double with a probe learner, and a run
that holds every result to the catalogue and to the no-secrets rule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from checks.base import CheckContext
from checks.journey.run import JourneyCheck
from checks.journey.spec import JourneySpec
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result
from monitor.kernel.target import Target
from tests.moodle_double.web import MoodleWebDouble

PASSWORD = "Pr0be-learner-secret!"
COURSE = 42


@pytest.fixture
def moodle() -> Iterator[MoodleWebDouble]:
    double = MoodleWebDouble()
    double.state.courses[COURSE] = "Biology 101"
    double.add_learner("vigil-probe", PASSWORD, COURSE)
    yield double
    double.close()


def moodle_spec(**overrides: Any) -> JourneySpec:
    values: dict[str, Any] = {"type": "journey", "journey": "moodle", "username": "vigil-probe",
                              "password": PASSWORD, "course_id": COURSE}
    values.update(overrides)
    return JourneySpec.model_validate(values)


Run = Callable[..., Awaitable[Result]]


@pytest.fixture
def journey() -> Run:
    """Run a journey once against ``url``; samples must be catalogued, and no secret the
    spec holds may appear in the summary or the details."""

    async def run(spec: JourneySpec, url: str, timeout: float = 5.0) -> Result:
        ctx = CheckContext(target=Target(name="lms", kind="generic", url=url),
                           timeout=timeout, now=time.time,
                           run_blocking=lambda fn: asyncio.to_thread(fn))
        result = await JourneyCheck(spec).run(ctx)
        for sample in result.samples:
            assert sample.name in CATALOGUE, f"{sample.name} is not catalogued"
            assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
        text = result.summary + json.dumps(result.details, default=str)
        for secret in (spec.password, spec.token):
            if secret is not None:
                assert secret.get_secret_value() not in text
        assert "\n" not in result.summary
        return result

    return run


def sample(result: Result, name: str, **labels: str) -> float | None:
    for s in result.samples:
        if s.name == name and dict(s.labels) == labels:
            return s.value
    return None
