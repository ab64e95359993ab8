"""IANA timezone names: one check and one message for every setting that takes a zone
(maintenance windows, the console, routing time intervals, the stakeholder report)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def known_zone(value: str) -> str:
    """``value`` if zoneinfo knows it; ValueError naming it otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone (e.g. Europe/Berlin, "
                         "America/New_York, UTC)") from None
    return value


# An IANA timezone name, checked at load.
Timezone = Annotated[str, AfterValidator(known_zone)]
