"""The tcp check against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from check_helpers import make_ctx, serve, silent, unused_port

from checks.tcp import TcpCheck, TcpSpec
from monitor.kernel.result import Status


async def run_tcp(probe: Any, port: int, timeout: float = 2.0, **spec: Any) -> Any:
    spec.setdefault("host", "127.0.0.1")
    check = TcpCheck(TcpSpec(type="tcp", port=port, timeout=timeout, **spec))
    return await probe(check, make_ctx(timeout=timeout))


async def smtp_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.example.org ESMTP ready\r\n")
    await writer.drain()
    if (await reader.readline()).startswith(b"QUIT"):
        writer.write(b"221 bye\r\n")
        await writer.drain()


async def test_tcp_is_ok_when_the_port_accepts(probe: Any) -> None:
    async with serve(silent) as port:
        result = await run_tcp(probe, port)
    assert result.status is Status.OK
    assert result.summary.startswith(f"connected to 127.0.0.1:{port} in ")
    assert result.samples[0].name == "lms_tcp_connect_seconds" and result.samples[0].value > 0


async def test_tcp_reports_connection_refused(probe: Any) -> None:
    port = unused_port()
    result = await run_tcp(probe, port)
    assert result.status is Status.CRITICAL
    assert result.summary == f"connection refused to 127.0.0.1:{port}"
    assert result.samples == ()


async def test_tcp_matches_the_banner(probe: Any) -> None:
    async with serve(smtp_like) as port:
        result = await run_tcp(probe, port, expect=r"^220 .*ESMTP")
        assert result.status is Status.OK, result.summary
        assert result.details["received"].startswith("220 mail.example.org")
        result = await run_tcp(probe, port, send="QUIT\r\n", expect=r"^221 ", timeout=1)
        assert result.status is Status.CRITICAL  # the banner comes first: it does not match
        assert "does not match '^221 '" in result.summary
        result = await run_tcp(probe, port, send="QUIT\r\n", expect=r"221 bye")
        assert result.status is Status.OK, result.summary


async def test_tcp_times_out_waiting_for_a_banner(probe: Any) -> None:
    async with serve(silent) as port:
        result = await run_tcp(probe, port, expect="^220", timeout=0.5)
    assert result.status is Status.CRITICAL
    assert result.summary == f"timeout after 0.5s waiting for the expected reply (127.0.0.1:{port})"
    assert result.samples[0].name == "lms_tcp_connect_seconds"


async def test_tcp_warns_on_a_slow_connect(probe: Any) -> None:
    async with serve(silent) as port:
        result = await run_tcp(probe, port, latency_warning=1e-9)
    assert result.status is Status.WARNING and "slow connect" in result.summary


async def test_tcp_uses_the_target_host(probe: Any) -> None:
    async with serve(silent) as port:
        check = TcpCheck(TcpSpec(type="tcp", port=port))
        result = await probe(check, make_ctx(url="https://127.0.0.1/"))
    assert result.status is Status.OK


def test_tcp_spec_requires_a_port_and_a_valid_regexp() -> None:
    with pytest.raises(ValueError, match="port"):
        TcpSpec(type="tcp")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="expect"):
        TcpSpec(type="tcp", port=25, expect="(")  # type: ignore[arg-type]
