"""The `tcp` check: open a TCP connection, optionally send a line and expect a banner.

Data flow: scheduler -> TcpCheck.run(ctx) -> asyncio.open_connection -> Result with
lms_tcp_connect_seconds -> state store. Semantics follow blackbox_exporter's tcp prober
(query_response send/expect), reduced to one exchange.
"""

from __future__ import annotations

import asyncio
import time
from re import Pattern
from typing import Annotated, Literal

from pydantic import Field

from checks.base import CheckContext
from checks.common import LatencySpec, Port, describe_connect_failure, target_host
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_seconds

METRICS = declare(
    MetricSpec("lms_tcp_connect_seconds", "gauge", "Duration of the last TCP connect."),
)


class TcpSpec(LatencySpec):
    type: Literal["tcp"]
    host: str | None = None  # None: the host of the target's url
    port: Port
    send: str | None = None  # written after connecting ("\r\n" escapes allowed in TOML)
    expect: Pattern[str] | None = None  # regexp the first bytes received must match
    expect_bytes: Annotated[int, Field(ge=1, le=65536)] = 4096  # how much to read for expect


class TcpCheck:
    def __init__(self, spec: TcpSpec) -> None:
        self.spec = spec
        self._send = spec.send.encode() if spec.send else b""

    async def run(self, ctx: CheckContext) -> Result:
        host = self.spec.host or target_host(ctx)
        if not host:
            return Result(Status.UNKNOWN, "no host to probe: set host or the target's url")
        where = f"{host}:{self.spec.port}"
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)  # report before the runner's timeout
        doing = "connecting"
        start = time.perf_counter()
        connect_seconds: float | None = None
        received = b""
        try:
            async with asyncio.timeout(budget):
                reader, writer = await asyncio.open_connection(host, self.spec.port)
                connect_seconds = time.perf_counter() - start
                try:
                    if self._send:
                        doing = "sending"
                        writer.write(self._send)
                        await writer.drain()
                    if self.spec.expect is not None:
                        doing = "waiting for the expected reply"
                        received = await self._read_until_match(reader)
                finally:
                    writer.transport.abort()  # a probe has nothing left to say
        except TimeoutError:
            return self._result(Status.CRITICAL, f"timeout after {ctx.timeout:g}s {doing} "
                                f"({where})", connect_seconds, received)
        except OSError as exc:
            return self._result(Status.CRITICAL,
                                describe_connect_failure(exc, host, self.spec.port),
                                connect_seconds, received)
        assert connect_seconds is not None
        if self.spec.expect is not None and not self.spec.expect.search(_text(received)):
            return self._result(Status.CRITICAL, f"reply from {where} does not match "
                                f"{self.spec.expect.pattern!r}", connect_seconds, received)
        status = self.spec.latency_status(connect_seconds)
        summary = f"connected to {where} in {fmt_seconds(connect_seconds)}"
        if status is not Status.OK:
            summary = f"slow connect to {where}: {fmt_seconds(connect_seconds)}"
        return self._result(status, summary, connect_seconds, received)

    async def _read_until_match(self, reader: asyncio.StreamReader) -> bytes:
        """Read until the expectation matches, the peer closes, or expect_bytes is reached."""
        assert self.spec.expect is not None
        data = b""
        while len(data) < self.spec.expect_bytes:
            chunk = await reader.read(self.spec.expect_bytes - len(data))
            if not chunk:
                break
            data += chunk
            if self.spec.expect.search(_text(data)):
                break
        return data

    def _result(self, status: Status, summary: str, connect_seconds: float | None,
                received: bytes) -> Result:
        samples = () if connect_seconds is None else (
            Sample("lms_tcp_connect_seconds", connect_seconds),)
        details = {"received": _text(received)[:120]} if received else {}
        return Result(status, summary, samples, details)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
