"""Validated receiver specs (where notifications go) and delivery retry settings.

Part of the ``[alerts]`` config (alerts/config.py ``AlertingConfig.receivers`` and
``.retry``), validated once at load time; alerts/notifiers/ builds one notifier per spec
and the dispatcher (alerts/dispatcher.py) paces retries with ``RetrySettings``. Errors
never echo a URL or token: they may hold secrets.
"""

from __future__ import annotations

import logging
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from monitor.kernel.spec import PositiveDuration, StrictModel

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# Receiver names end up in outbox rows and in a metric label: keep them short and plain.
ReceiverName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def http_url(value: str) -> str:
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
        return http_url(value)


def _email_address(value: str) -> str:
    """``vigil@example.org`` or ``Vigil <vigil@example.org>``; no header injection."""
    name, address = parseaddr(value)
    if not address or "\r" in value or "\n" in value or address.count("@") != 1:
        raise ValueError(f"{value!r} is not an e-mail address")
    local, domain = address.split("@")
    if not local or "." not in domain or any(c.isspace() for c in address):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]
HttpUrl = Annotated[str, AfterValidator(http_url)]


class EmailReceiverSpec(_ReceiverBase):
    """Sends multipart (text + HTML) e-mail through an SMTP relay, with STARTTLS or TLS."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:\[\]-]+$")
    # None: 587 for starttls, 465 for tls, 25 for none (the registered ports).
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: EmailAddress = Field(alias="from")
    to: list[EmailAddress] = Field(min_length=1)
    timeout: PositiveDuration = 30.0
    # A private CA for an internal relay; the system store is used as well.
    ca_file: Path | None = None

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _auth_needs_tls(self) -> EmailReceiverSpec:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.password is not None and self.security == "none":
            # The password would cross the network in clear text.
            raise ValueError("SMTP AUTH needs security = \"starttls\" or \"tls\"")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class AlertmanagerReceiverSpec(_ReceiverBase):
    """Pushes alerts to Alertmanager's /api/v2/alerts and re-sends them while firing."""

    type: Literal["alertmanager"] = "alertmanager"
    # Alertmanager's base URL; several for a cluster: each instance gets every alert,
    # as Prometheus does (an HA cluster must not sit behind a load balancer).
    url: HttpUrl | None = None
    urls: list[HttpUrl] = Field(default_factory=list)
    timeout: PositiveDuration = 10.0
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Like Prometheus' --rules.alert.resend-delay: how often a firing alert is re-sent.
    resend_interval: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _one_way_to_name_urls(self) -> AlertmanagerReceiverSpec:
        if (self.url is None) == (not self.urls):
            raise ValueError("set either url or urls (a list, for a cluster)")
        return self

    @property
    def endpoints(self) -> list[str]:
        return [self.url] if self.url is not None else list(self.urls)


class PagerDutyReceiverSpec(_ReceiverBase):
    """PagerDuty Events API v2: trigger, acknowledge and resolve one alert per Vigil alert."""

    type: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretStr
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"
    # Maintenance notices and reports are change events: context, not pages.
    change_url: HttpUrl = "https://events.pagerduty.com/v2/change/enqueue"
    timeout: PositiveDuration = 10.0

    @field_validator("routing_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


def _apprise_url(value: SecretStr) -> SecretStr:
    # Imported here: apprise loads its plugins on import, and most configs do not use it.
    import apprise

    # apprise logs each URL it loads, tokens included: keep it quiet while checking.
    apprise_log = logging.getLogger("apprise")
    apprise_log.addFilter(_drop_record)
    try:
        supported = apprise.Apprise().add(value.get_secret_value())
    finally:
        apprise_log.removeFilter(_drop_record)
    if not supported:
        raise ValueError("not a URL apprise supports")  # never echo it: it holds tokens
    return value


def _drop_record(record: logging.LogRecord) -> bool:
    return False


class AppriseReceiverSpec(_ReceiverBase):
    """Chat and pager services by Apprise URL (Slack, Teams, Telegram, Matrix, ntfy, ...)."""

    type: Literal["apprise"] = "apprise"
    urls: list[Annotated[SecretStr, AfterValidator(_apprise_url)]] = Field(min_length=1)
    body_format: Literal["text", "markdown", "html"] = "text"
    timeout: PositiveDuration = 30.0


AnyReceiverSpec = (LogReceiverSpec | WebhookReceiverSpec | EmailReceiverSpec
                   | AlertmanagerReceiverSpec | PagerDutyReceiverSpec | AppriseReceiverSpec)
ReceiverSpec = Annotated[AnyReceiverSpec, Field(discriminator="type")]
RECEIVER_TYPES = ("log", "webhook", "email", "alertmanager", "pagerduty", "apprise")



def without_union_tags(exc: ValidationError) -> ValidationError:
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
