"""The `dns` check: resolve a name and judge the answer and its latency.

Data flow: scheduler -> DnsCheck.run(ctx) -> dnspython's async resolver -> Result with
lms_dns_* samples -> state store. Like blackbox_exporter's dns prober, but judged here.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Literal

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
from pydantic import Field, field_validator

from checks.base import CheckContext
from checks.common import LatencySpec, Port, describe_os_error, target_host
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_seconds

METRICS = declare(
    MetricSpec("lms_dns_lookup_seconds", "gauge",
               "Duration of the last DNS lookup, retries included."),
    MetricSpec("lms_dns_answers", "gauge", "Records in the answer of the last DNS lookup."),
)


class DnsSpec(LatencySpec):
    type: Literal["dns"]
    name: str | None = None  # None: the host of the target's url
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS"] = "A"
    nameservers: tuple[str, ...] = ()  # IP addresses; empty: the system's resolv.conf
    port: Port = 53
    protocol: Literal["udp", "tcp"] = "udp"
    must_resolve: bool = True  # an empty answer (NXDOMAIN, no records) is CRITICAL
    expected_values: tuple[str, ...] = Field(default=())  # each must be among the answers

    @field_validator("record_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("nameservers", mode="before")
    @classmethod
    def _ip_addresses(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        for item in items if isinstance(items, list | tuple) else ():
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address") from None
        return items


class DnsCheck:
    def __init__(self, spec: DnsSpec) -> None:
        self.spec = spec
        self._expected = {_normal(value) for value in spec.expected_values}
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._config_error: str | None = None
        try:
            # No nameservers configured: read resolv.conf once, not per run.
            resolver = dns.asyncresolver.Resolver(configure=not spec.nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            self._config_error = f"no DNS resolver configuration ({exc})"
            return
        if spec.nameservers:
            resolver.nameservers = list(spec.nameservers)
            resolver.port = spec.port
        resolver.cache = None  # measure the server, never a cached answer
        self._resolver = resolver

    async def run(self, ctx: CheckContext) -> Result:
        name = self.spec.name or target_host(ctx)
        if not name:
            return Result(Status.UNKNOWN, "no name to resolve: set name or the target's url")
        if self._resolver is None:
            return Result(Status.UNKNOWN, f"DNS: {self._config_error}")
        rtype = self.spec.record_type
        query = f"{name} {rtype}"
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)  # report before the runner's timeout
        start = time.perf_counter()
        values: list[str] = []
        failure: str | None = None
        try:
            # dnspython retries across servers until the lifetime is spent.
            answer = await self._resolver.resolve(
                name, rtype, tcp=self.spec.protocol == "tcp", raise_on_no_answer=False,
                lifetime=budget, search=False)
            # Sorted: an rrset has no order, and a stable summary keeps alert text stable.
            values = sorted(_value(rdata) for rdata in (answer.rrset or ()))
        except dns.resolver.NXDOMAIN:
            failure = f"DNS: NXDOMAIN for {query}"
        except dns.exception.Timeout:
            failure = f"DNS: timeout after {ctx.timeout:g}s resolving {query}"
        except dns.resolver.NoNameservers as exc:
            failure = f"DNS: {_server_errors(exc)} for {query}"
        except dns.resolver.YXDOMAIN:
            failure = f"DNS: YXDOMAIN (name too long after DNAME) for {query}"
        except (dns.exception.DNSException, OSError) as exc:
            failure = f"DNS: {describe_os_error(exc)} for {query}"
        seconds = time.perf_counter() - start
        samples = (Sample("lms_dns_lookup_seconds", seconds),
                   Sample("lms_dns_answers", len(values)))
        details: dict[str, Any] = {"query": query, "answers": values[:10]}
        if failure is not None:
            # An NXDOMAIN for a name that need not resolve is the answer, not a failure.
            nx_ok = not self.spec.must_resolve and "NXDOMAIN" in failure
            status = Status.OK if nx_ok else Status.CRITICAL
            return Result(status, failure, samples, details)
        return Result(*self._judge(query, values, seconds), samples, details)

    def _judge(self, query: str, values: list[str], seconds: float) -> tuple[Status, str]:
        if not values and self.spec.must_resolve:
            return Status.CRITICAL, f"DNS: no {self.spec.record_type} records for {query}"
        got = {_normal(v) for v in values}
        if self.spec.record_type == "MX":  # "mail.example.org" matches "10 mail.example.org"
            got |= {v.split(" ", 1)[-1] for v in got}
        missing = sorted(self._expected - got)
        if missing:
            return Status.CRITICAL, f"DNS: {query} lacks expected {', '.join(missing)} " \
                f"(got {', '.join(values[:5]) or 'nothing'})"
        status = self.spec.latency_status(seconds)
        shown = ", ".join(values[:3]) + (f" (+{len(values) - 3} more)" if len(values) > 3 else "")
        prefix = "slow answer: " if status is not Status.OK else ""
        return status, f"{prefix}{query}: {shown or 'no records'} in {fmt_seconds(seconds)}"


def _value(rdata: Any) -> str:
    """The comparable text of one record: an address, a host name, or the TXT string."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    if rdata.rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text().rstrip('.')}"
    return str(rdata.to_text()).rstrip(".")


def _normal(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _server_errors(exc: dns.resolver.NoNameservers) -> str:
    """ "SERVFAIL from 127.0.0.1" for the first server that failed, naming the rcode."""
    errors = exc.kwargs.get("errors") or []
    if not errors:
        return "no nameserver answered"
    server, _tcp, port, error, _response = errors[0]
    cause = error if isinstance(error, str) else describe_os_error(error)
    address = str(server).removeprefix("Do53:")  # dnspython names servers "Do53:ip@port"
    where = address.replace("@", ":") if "@" in address else f"{address}:{port}"
    return f"{cause} from {where}"
