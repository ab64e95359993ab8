"""Strict settings models, durations and the settings every check shares.

Every config section (checks, alerting, maintenance, the daemon) builds on ``StrictModel``
and the duration types here; ``CheckSpec`` holds what the scheduler and alerting read of
any check (interval, timeout, thresholds, dependencies, labels). Check families subclass
it (checks/). Validation and defaults happen once, when the config is loaded. Part of the
kernel: imports nothing of Vigil.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# A check name, optionally after an LMS name: "http" or "moodle-prod/http".
_DEPENDENCY = r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}/)?[A-Za-z0-9_-]+$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


# The longest duration any setting may hold: ten years. Beyond it a value is a typo or an
# attack ("1e308" passed validation once and then overflowed the scheduler's datetime).
MAX_DURATION = 10 * 366 * 86400.0


def parse_duration(value: Any) -> Any:
    """Accept seconds as a number or a string such as "500ms", "30s", "5m", "1h", "2d"."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30, \"30s\" or \"5m\", not a boolean")
    if isinstance(value, int | float):
        return _bounded(float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30, \"30s\", \"5m\", \"1h\")")
        return _bounded(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError("must be a duration such as 30, \"30s\" or \"5m\"")


def _bounded(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"must be at most {MAX_DURATION / 86400:.0f} days")
    return seconds


# What a duration looks like in JSON (the HTTP API's OpenAPI document): the float the
# validator makes is not what a client sends.
_DURATION_TEXT = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"
_DURATION_HELP = 'seconds, or a duration such as "30s", "5m", "1h"'
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DURATION_TEXT}],
     "description": _DURATION_HELP}, mode="validation")]
PositiveDuration = Annotated[
    float, BeforeValidator(parse_duration), Field(gt=0),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                              {"type": "string", "pattern": _DURATION_TEXT}],
                    "description": _DURATION_HELP}, mode="validation"),
    # Without this, pydantic writes the constraint as "gt" (the validator wraps it).
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}, mode="serialization")]


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSpec(StrictModel):
    type: str
    enabled: bool = True
    interval: PositiveDuration = 60.0
    timeout: PositiveDuration = 10.0
    jitter: Annotated[Duration, Field(ge=0)] = 0.0
    # Soft/hard alerting: consecutive non-OK results to fire, consecutive OK to resolve.
    failure_threshold: int | None = Field(default=None, ge=1)
    success_threshold: int | None = Field(default=None, ge=1)
    # While failing but not yet firing (soft), run again after this instead of interval.
    retry_interval: PositiveDuration | None = None
    # Parents whose failure holds this check's alerts: "check" (same LMS) or "lms/check".
    depends_on: list[Annotated[str, Field(pattern=_DEPENDENCY)]] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> CheckSpec:
        if self.timeout > self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be <= interval ({self.interval:g}s)"
            )
        if self.retry_interval is not None and self.retry_interval >= self.interval:
            raise ValueError(
                f"retry_interval ({self.retry_interval:g}s) must be < interval "
                f"({self.interval:g}s)"
            )
        return self
