"""The journey check type, merged into checks.registry.CHECK_TYPES (explicit, no scanning;
the module is imported when the type is first looked up: checks/lazy.py)."""

from __future__ import annotations

from checks.lazy import CheckFamilies

JOURNEY_CHECK_TYPES = CheckFamilies({
    "journey": ("checks.journey.run", "JourneySpec", "JourneyCheck"),
})
