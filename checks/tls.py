"""The `tls` check: handshake with a TLS server and judge its certificate.

Data flow: scheduler -> TlsCheck.run(ctx) -> asyncio TLS handshake (verifying), and on
failure a second, non-verifying handshake to still read the expiry -> Result with
lms_tls_* samples -> state store.

A verified certificate is read from what the ssl module decoded; cryptography (~8 MB of
RSS) is imported only to read one that failed verification (or lacks a common name).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, FilePath, model_validator

from checks.base import CheckContext
from checks.common import (
    LatencySpec,
    Port,
    check_order,
    describe_connect_failure,
    describe_tls_error,
    target_host,
    target_port,
)
from checks.lazy import lazy_import
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.units import fmt_seconds

if TYPE_CHECKING:
    from cryptography import x509
else:
    x509 = lazy_import("cryptography.x509")

# Every metric this module emits, declared here once (checks/registry.py collects them).
METRICS = declare(
    MetricSpec("lms_tls_handshake_seconds", "gauge", "Duration of the last TLS handshake."),
    MetricSpec("lms_tls_cert_verified", "gauge",
               "1 if the certificate chain and host name verified, else 0."),
    MetricSpec("lms_tls_cert_expiry_timestamp_seconds", "gauge",
               "Expiry (notAfter) of the server's certificate, as a Unix time."),
    MetricSpec("lms_tls_cert_expiry_seconds", "gauge",
               "Seconds until the server's certificate expires (negative once expired)."),
)


class TlsSpec(LatencySpec):
    type: Literal["tls"]
    host: str | None = None  # None: the host of the target's url
    port: Port | None = None  # None: the target url's port, else 443
    server_name: str | None = None  # SNI and the name the certificate must match; default host
    warning_days: Annotated[float, Field(ge=0)] = 21.0
    critical_days: Annotated[float, Field(ge=0)] = 7.0
    ca_file: FilePath | None = None

    @model_validator(mode="after")
    def _days_order(self) -> TlsSpec:
        check_order(self, "warning_days", "critical_days", higher_is_worse=False)
        return self


@dataclass(frozen=True, slots=True)
class _Handshake:
    der: bytes
    seconds: float
    version: str
    decoded: dict[str, Any] | None = None  # what ssl decoded; only when it was verified


class TlsCheck:
    """Two SSL contexts built once: verifying (the judgement) and not (to read bad certs)."""

    def __init__(self, spec: TlsSpec) -> None:
        self.spec = spec
        # Each default context loads the system CA bundle (~0.8 MB): shared per process,
        # 1,000 tls checks cost 1.7 GB of RSS before (bench/scale.py). A check with its
        # own ca_file still gets its own (small) context, re-read when it is rebuilt.
        self._verifying = (ssl.create_default_context(cafile=str(spec.ca_file))
                           if spec.ca_file else _shared_context(verify=True))
        self._lenient = _shared_context(verify=False)

    async def run(self, ctx: CheckContext) -> Result:
        host = self.spec.host or target_host(ctx)
        if not host:
            return Result(Status.UNKNOWN, "no host to probe: set host or the target's url")
        port = self.spec.port or (target_port(ctx, 443) if not self.spec.host else 443)
        where = f"{host}:{port}"
        name = self.spec.server_name or host
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)  # report before the runner's timeout
        doing = ["connecting"]
        verify_error: str | None = None
        try:
            async with asyncio.timeout(budget):
                try:
                    shake = await self._handshake(host, port, name, self._verifying, doing)
                except ssl.SSLCertVerificationError as exc:
                    verify_error = describe_tls_error(exc)
                    shake = await self._handshake(host, port, name, self._lenient, doing)
        except TimeoutError:
            return Result(Status.CRITICAL, f"timeout after {ctx.timeout:g}s {doing[0]} ({where})")
        except ssl.SSLError as exc:
            return Result(Status.CRITICAL,
                          f"TLS: handshake failed: {describe_tls_error(exc)} ({where})")
        except OSError as exc:
            return Result(Status.CRITICAL, describe_connect_failure(exc, host, port))
        return self._judge(shake, verify_error, where, name, ctx.now())

    async def _handshake(self, host: str, port: int, name: str, context: ssl.SSLContext,
                         doing: list[str]) -> _Handshake:
        doing[0] = "connecting"
        _, writer = await asyncio.open_connection(host, port)
        try:
            doing[0] = "during TLS handshake"
            start = time.perf_counter()
            await writer.start_tls(context, server_hostname=name)
            seconds = time.perf_counter() - start
            ssl_object = writer.get_extra_info("ssl_object")
            verified = context.verify_mode != ssl.CERT_NONE
            return _Handshake(ssl_object.getpeercert(binary_form=True) or b"", seconds,
                              ssl_object.version() or "",
                              ssl_object.getpeercert() if verified else None)
        finally:
            writer.transport.abort()  # a probe has nothing to flush; skip close_notify

    def _judge(self, shake: _Handshake, verify_error: str | None, where: str, name: str,
               now: float) -> Result:
        samples = [Sample("lms_tls_handshake_seconds", shake.seconds),
                   Sample("lms_tls_cert_verified", 0.0 if verify_error else 1.0)]
        if not shake.der:
            return Result(Status.CRITICAL, f"TLS: server sent no certificate ({where})",
                          tuple(samples))
        read = _read_decoded(shake.decoded) if shake.decoded else None
        if read is None:
            try:
                read = _read_der(shake.der)
            except ValueError as exc:
                return Result(Status.CRITICAL, f"TLS: unreadable certificate: {exc} ({where})",
                              tuple(samples))
        not_after, subject, issuer = read
        left = not_after - now
        samples += [Sample("lms_tls_cert_expiry_timestamp_seconds", not_after),
                    Sample("lms_tls_cert_expiry_seconds", left)]
        days = left / 86400
        status = threshold_status(days, self.spec.warning_days, self.spec.critical_days,
                                  higher_is_worse=False)
        expiry = (f"certificate expired {-days:.1f} days ago" if days < 0
                  else f"certificate expires in {days:.1f} days")
        summary = f"{expiry} ({subject}, {where})"
        if verify_error:
            status = Status.CRITICAL
            summary = f"TLS: {verify_error}; {summary}"
        latency = self.spec.latency_status(shake.seconds)
        if latency is not Status.OK:
            summary += f"; slow handshake: {fmt_seconds(shake.seconds)}"
            status = Status.worst((status, latency))
        details: dict[str, Any] = {
            "server_name": name, "subject": subject, "issuer": issuer,
            "not_after": datetime.fromtimestamp(not_after, UTC).isoformat(),
            "tls_version": shake.version}
        if verify_error:
            details["verify_error"] = verify_error
        return Result(status, summary, tuple(samples), details)


def _read_decoded(decoded: dict[str, Any]) -> tuple[float, str, str] | None:
    """(notAfter, subject CN, issuer CN) from ssl's decoded certificate; None when a common
    name is missing (then the DER is read, for the RFC 4514 form of the name)."""
    names = []
    for field in ("subject", "issuer"):
        cn = [value for rdn in decoded.get(field, ()) for key, value in rdn
              if key == "commonName"]
        if not cn:
            return None
        names.append(str(cn[0]))
    return float(ssl.cert_time_to_seconds(decoded["notAfter"])), names[0], names[1]


def _read_der(der: bytes) -> tuple[float, str, str]:
    cert = x509.load_der_x509_certificate(der)
    return (cert.not_valid_after_utc.timestamp(), _common_name(cert.subject),
            _common_name(cert.issuer))


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string() or "(empty subject)"


@functools.cache
def _shared_context(*, verify: bool) -> ssl.SSLContext:
    """The verifying (system CAs) or the lenient client context, built once per process;
    an SSLContext is meant to be shared by many connections."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
