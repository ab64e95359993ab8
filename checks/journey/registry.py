"""The journey check type, merged into checks.registry.CHECK_TYPES (explicit, no scanning)."""

from __future__ import annotations

from checks.journey import run
from checks.journey.run import JourneyCheck
from checks.journey.spec import JourneySpec
from monitor.kernel.metric import Metrics
from monitor.kernel.spec import CheckSpec

JOURNEY_CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
    "journey": (JourneySpec, JourneyCheck),
}

JOURNEY_METRICS: Metrics = run.METRICS
