"""Small pieces shared by the generic check families (http, tls, tcp, dns, system, process).

Spec side: latency thresholds, ratios written as 0.9 or "90%", sizes written as bytes or
"10MiB". Run side: the target's host, a one-line description of a network error, and
the judging helpers that turn a measured value into a Status. Nothing here does I/O.
"""

from __future__ import annotations

import re
import socket
import ssl
from errno import ECONNREFUSED
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator

from checks.base import CheckContext
from monitor.kernel.result import Status, threshold_status
from monitor.kernel.spec import CheckSpec, Duration

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_FACTOR = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, None: 1,
}


def parse_size(value: Any) -> Any:
    """Accept bytes as an integer or a string such as "512KiB", "10MiB", "1GB"."""
    if isinstance(value, bool):
        raise ValueError("must be a size such as 1048576 or \"10MiB\", not a boolean")
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a size (use e.g. 1048576, \"512KiB\", \"10MiB\")")
        unit = match.group(2).lower() if match.group(2) else None
        return int(float(match.group(1)) * _SIZE_FACTOR[unit])
    return value


def parse_ratio(value: Any) -> Any:
    """Accept a ratio as 0.9 or as a percentage string "90%" (ratios are the base unit)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage") from None
    return value


ByteSize = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
Ratio = Annotated[float, BeforeValidator(parse_ratio), Field(ge=0.0, le=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]


def check_order(spec: Any, warning: str, critical: str, *, higher_is_worse: bool) -> None:
    """Raise when a critical limit is milder than its warning limit (the error names both)."""
    warn, crit = getattr(spec, warning), getattr(spec, critical)
    if warn is None or crit is None:
        return
    if higher_is_worse and crit < warn:
        raise ValueError(f"{critical} ({crit:g}) must be >= {warning} ({warn:g})")
    if not higher_is_worse and crit > warn:
        raise ValueError(f"{critical} ({crit:g}) must be <= {warning} ({warn:g})")


class LatencySpec(CheckSpec):
    """A check whose main measurement is a duration judged against optional limits."""

    latency_warning: Annotated[Duration, Field(gt=0)] | None = None
    latency_critical: Annotated[Duration, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _latency_order(self) -> LatencySpec:
        check_order(self, "latency_warning", "latency_critical", higher_is_worse=True)
        return self

    def latency_status(self, seconds: float) -> Status:
        return threshold_status(seconds, self.latency_warning, self.latency_critical)


def target_host(ctx: CheckContext) -> str | None:
    """The host part of the target's URL, used when a spec names no host of its own."""
    if not ctx.target.url:
        return None
    return urlsplit(ctx.target.url).hostname


def target_port(ctx: CheckContext, default: int) -> int:
    if not ctx.target.url:
        return default
    parts = urlsplit(ctx.target.url)
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme, default)


def describe_tls_error(exc: ssl.SSLError) -> str:
    """"certificate verify failed: self-signed certificate" rather than OpenSSL's bracket soup."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or exc.reason or "unknown reason"
        if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH: name the actual problem
            message = f"hostname mismatch ({exc.verify_message})"
        return f"certificate verify failed: {message}"
    return (exc.reason or str(exc)).replace("_", " ").lower()


def describe_os_error(exc: BaseException) -> str:
    """A short cause for a failed network operation, e.g. "connection refused"."""
    for err in _chain(exc):
        if isinstance(err, ssl.SSLError):
            return "TLS: " + describe_tls_error(err)
        if isinstance(err, ConnectionRefusedError) or getattr(err, "errno", 0) == ECONNREFUSED:
            return "connection refused"
        if isinstance(err, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(err, OSError) and err.errno is not None and err.strerror:
            return err.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def describe_connect_failure(exc: OSError, host: str, port: int) -> str:
    """ "connection refused to 127.0.0.1:9", or "DNS: cannot resolve x: ..." for lookups."""
    if isinstance(exc, socket.gaierror):
        return f"DNS: cannot resolve {host}: {exc.strerror}"
    return f"{describe_os_error(exc)} to {host}:{port}"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes/contexts and the members of exception groups, outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        err = todo.pop(0)
        if any(err is s for s in seen):
            continue
        seen.append(err)
        if isinstance(err, BaseExceptionGroup):
            todo.extend(err.exceptions)
        # Libraries differ in how they chain (httpcore wraps with the original as its
        # argument and a suppressed context), so follow every link.
        links = [err.__cause__, err.__context__, *err.args]
        todo.extend(link for link in links if isinstance(link, BaseException))
    return seen
