"""Validated ``[alerts]`` settings: thresholds, delivery retries and receivers.

Loaded once with the rest of the config (monitor/config.py); the engine, service,
dispatcher and notifiers receive these frozen models and never re-validate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from checks.spec import PositiveDuration, StrictModel

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# Receiver names end up in outbox rows and in a metric label: keep them short and plain.
ReceiverName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _http_url(value: str) -> str:
    """Accept only absolute http(s) URLs; the message never echoes the URL (it may hold a token)."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError("is not a valid URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


class RetrySettings(StrictModel):
    """How the dispatcher retries a notification whose delivery failed for a retryable cause."""

    initial_backoff: PositiveDuration = 5.0
    max_backoff: PositiveDuration = 600.0
    multiplier: float = Field(default=2.0, ge=1.0)
    # Fraction of the delay removed at random so many retries do not hit a receiver at once.
    jitter: float = Field(default=0.2, ge=0.0, lt=1.0)
    # None: keep retrying forever, because a page must never be lost to a long outage.
    max_age: PositiveDuration | None = None

    @model_validator(mode="after")
    def _cap_not_below_start(self) -> RetrySettings:
        if self.max_backoff < self.initial_backoff:
            raise ValueError(
                f"max_backoff ({self.max_backoff:g}s) must be >= "
                f"initial_backoff ({self.initial_backoff:g}s)"
            )
        return self


class _ReceiverBase(StrictModel):
    name: ReceiverName
    # None: follow AlertingConfig.send_resolved.
    send_resolved: bool | None = None


class LogReceiverSpec(_ReceiverBase):
    """Writes each notification's text to the ``vigil.alerts`` logger (journald, files)."""

    type: Literal["log"] = "log"
    level: LogLevel = "warning"


class WebhookReceiverSpec(_ReceiverBase):
    """POSTs Alertmanager-compatible JSON (webhook payload version 4)."""

    type: Literal["webhook"] = "webhook"
    url: str
    timeout: PositiveDuration = 10.0
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Alertmanager's meaning: at most this many alerts per message, 0 = no limit.
    max_alerts: int = Field(default=0, ge=0)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        return _http_url(value)


ReceiverSpec = Annotated[LogReceiverSpec | WebhookReceiverSpec, Field(discriminator="type")]
RECEIVER_TYPES = ("log", "webhook")


def _without_union_tags(exc: ValidationError) -> ValidationError:
    """Drop the union tag pydantic puts in error paths (``receivers.1.webhook.url``).

    Users never wrote that segment; errors must name the path they did write:
    ``alerts.receivers[1].url``.
    """
    details: list[InitErrorDetails] = []
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) >= 2 and isinstance(loc[0], int) and loc[1] in RECEIVER_TYPES:
            loc = (loc[0], *loc[2:])
        detail = InitErrorDetails(type=error["type"], loc=loc, input=error["input"])
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details)


def _default_receivers() -> list[LogReceiverSpec | WebhookReceiverSpec]:
    return [LogReceiverSpec(name="log")]


class AlertingConfig(StrictModel):
    """The ``[alerts]`` table. Check specs may override the two thresholds."""

    failure_threshold: int = Field(default=3, ge=1)
    success_threshold: int = Field(default=2, ge=1)
    unknown_is_failure: bool = True
    send_resolved: bool = True
    base_url: str | None = None
    templates_dir: Path | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)
    receivers: list[ReceiverSpec] = Field(default_factory=_default_receivers)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value).rstrip("/")

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("receivers", mode="wrap")
    @classmethod
    def _receivers_valid_and_unique(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> list[LogReceiverSpec | WebhookReceiverSpec]:
        try:
            receivers: list[LogReceiverSpec | WebhookReceiverSpec] = handler(value)
        except ValidationError as exc:
            raise _without_union_tags(exc) from None
        if not receivers:
            # Alerts with nowhere to go would be silently lost; the log is always there.
            return _default_receivers()
        seen: set[str] = set()
        for index, spec in enumerate(receivers):
            if spec.name in seen:
                error = ValueError(f"duplicate receiver name {spec.name!r}")
                raise ValidationError.from_exception_data("receivers", [InitErrorDetails(
                    type="value_error", loc=(index, "name"), input=spec.name,
                    ctx={"error": error},
                )])
            seen.add(spec.name)
        return receivers

    def receiver(self, name: str) -> LogReceiverSpec | WebhookReceiverSpec | None:
        return next((spec for spec in self.receivers if spec.name == name), None)

    def sends_resolved(self, spec: LogReceiverSpec | WebhookReceiverSpec) -> bool:
        return self.send_resolved if spec.send_resolved is None else spec.send_resolved
