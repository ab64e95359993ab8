"""The `http` check's spec: what to fetch and what counts as a good answer.

Validated once at config load (monitor/app/config.py, through checks/registry.py) and
handed to checks/http.py ``HttpCheck``, which fetches, and checks/http_assert.py, which
judges the answer. Options follow blackbox_exporter's http prober.
"""

from __future__ import annotations

import re
from re import Pattern
from typing import Annotated, Any, Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator

from checks.common import ByteSize, LatencySpec, check_order
from monitor.kernel.spec import StrictModel

_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_STATUS_RANGE = re.compile(r"^([1-5]\d\d)\s*-\s*([1-5]\d\d)$")


def parse_status(item: int | str) -> tuple[int, int]:
    """One status code, "2xx" or "200-299", as an inclusive range."""
    if isinstance(item, int) and not isinstance(item, bool):
        if 100 <= item <= 599:
            return (item, item)
    elif isinstance(item, str):
        text = item.strip()
        if text.isdigit() and 100 <= int(text) <= 599:
            return (int(text), int(text))
        if match := _STATUS_CLASS.match(text):
            base = int(match.group(1)) * 100
            return (base, base + 99)
        if (match := _STATUS_RANGE.match(text)) and int(match.group(1)) <= int(match.group(2)):
            return (int(match.group(1)), int(match.group(2)))
    raise ValueError(f"{item!r} is not a status code, class (\"2xx\") or range (\"200-399\")")


class HeaderMatch(StrictModel):
    """blackbox_exporter's fail_if_header_matches entry: header name, regexp, allow_missing."""

    header: Annotated[str, Field(min_length=1)]
    regexp: Pattern[str]
    allow_missing: bool = False


class HttpSpec(LatencySpec):
    type: Literal["http"]
    url: str | None = None  # None: the target's url
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # values may be tokens
    body: SecretStr | None = None
    valid_status_codes: tuple[tuple[int, int], ...] = ((200, 299),)
    follow_redirects: bool = True
    max_redirects: Annotated[int, Field(ge=0, le=100)] = 10
    verify_tls: bool = True
    ca_file: FilePath | None = None
    server_name: str | None = None  # TLS SNI override (blackbox tls_config.server_name)
    ip_protocol: Literal["any", "ip4", "ip6"] = "any"
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    fail_if_body_matches_regexp: tuple[Pattern[str], ...] = ()
    fail_if_body_not_matches_regexp: tuple[Pattern[str], ...] = ()
    fail_if_header_matches: tuple[HeaderMatch, ...] = ()
    fail_if_header_not_matches: tuple[HeaderMatch, ...] = ()
    keyword: tuple[str, ...] = ()  # every one must appear in the body
    forbidden_keyword: tuple[str, ...] = ()  # none may appear in the body
    # {"data.0.status": "ok"}: dotted path into the JSON body -> expected value (equality).
    json_fields: dict[str, Any] = Field(default_factory=dict)
    body_size_limit: ByteSize = 10 * 1024 * 1024
    cert_expiry_warning_days: Annotated[float, Field(ge=0)] | None = None
    cert_expiry_critical_days: Annotated[float, Field(ge=0)] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        return value

    @field_validator("valid_status_codes", mode="before")
    @classmethod
    def _status_ranges(cls, value: Any) -> Any:
        if not isinstance(value, int | str | list | tuple):  # list(0.5) would be a TypeError
            raise ValueError("must be a status code or a list of them, "
                             f"not a {type(value).__name__}")
        items = [value] if isinstance(value, int | str) else list(value)
        if not items:
            raise ValueError("must list at least one status code")
        return tuple(parse_status(item) for item in items)

    @field_validator("keyword", "forbidden_keyword", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> HttpSpec:
        if self.fail_if_ssl and self.fail_if_not_ssl:
            raise ValueError("fail_if_ssl and fail_if_not_ssl cannot both be true")
        check_order(self, "cert_expiry_warning_days", "cert_expiry_critical_days",
                    higher_is_worse=False)
        return self

    def describe_valid_codes(self) -> str:
        return ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}"
                         for lo, hi in self.valid_status_codes)

