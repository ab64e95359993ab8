"""The http check against real servers on 127.0.0.1: phases, TLS errors, timeouts, limits."""

from __future__ import annotations

import asyncio
import ssl
import tracemalloc
from pathlib import Path
from typing import Any

import trustme
from check_helpers import (
    answer,
    http_response,
    make_ctx,
    read_request,
    self_signed_context,
    serve,
    server_context,
    silent,
    unused_port,
)

from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from monitor.kernel.result import Status

PHASES = {"resolve", "connect", "tls", "processing", "transfer"}


def phases(result: Any) -> dict[str, float]:
    return {s.labels["phase"]: s.value for s in result.samples
            if s.name == "lms_http_duration_seconds"}


def value(result: Any, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


async def run_http(probe: Any, url: str, timeout: float = 2.0, **spec: Any) -> Any:
    check = HttpCheck(HttpSpec(type="http", url=url, timeout=timeout, **spec))
    try:
        return await probe(check, make_ctx(timeout=timeout))
    finally:
        await check.aclose()


async def test_http_times_every_phase_of_a_real_http_request(probe: Any) -> None:
    async with serve(answer(200, b"hello")) as port:
        result = await run_http(probe, f"http://localhost:{port}/")
    assert result.status is Status.OK, result.summary
    timings = phases(result)
    assert set(timings) == PHASES
    assert all(seconds >= 0 for seconds in timings.values())
    assert timings["resolve"] > 0 and timings["connect"] > 0 and timings["processing"] > 0
    assert timings["tls"] == 0
    assert sum(timings.values()) <= value(result, "lms_http_response_time_seconds")


async def test_http_times_the_tls_phase_and_reads_the_certificate_expiry(
        probe: Any, good_tls: ssl.SSLContext, ca_file: Path) -> None:
    async with serve(answer(200), good_tls) as port:
        result = await run_http(probe, f"https://localhost:{port}/", ca_file=ca_file)
    assert result.status is Status.OK, result.summary
    timings = phases(result)
    assert all(seconds >= 0 for seconds in timings.values())
    assert timings["tls"] > 0 and timings["resolve"] > 0
    assert value(result, "lms_http_ssl") == 1
    assert value(result, "lms_http_tls_cert_expiry_timestamp_seconds") > 0


async def test_http_warns_when_the_certificate_expires_soon(probe: Any, ca: trustme.CA,
                                                            ca_file: Path) -> None:
    import datetime as dt

    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    context = server_context(ca.issue_cert("localhost", not_after=soon))
    async with serve(answer(200), context) as port:
        result = await run_http(probe, f"https://localhost:{port}/", ca_file=ca_file,
                                cert_expiry_warning_days=14, cert_expiry_critical_days=1)
    assert result.status is Status.WARNING
    assert "certificate expires in 2.9 days" in result.summary or "3.0 days" in result.summary


async def test_http_names_a_self_signed_certificate(probe: Any) -> None:
    async with serve(answer(200), self_signed_context("localhost")) as port:
        result = await run_http(probe, f"https://localhost:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary == (f"TLS: certificate verify failed: self-signed certificate "
                              f"(localhost:{port})")


async def test_http_names_a_hostname_mismatch(probe: Any, ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca.issue_cert("moodle.example.org"))
    async with serve(answer(200), context) as port:
        result = await run_http(probe, f"https://localhost:{port}/", ca_file=ca_file)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("TLS: certificate verify failed: hostname mismatch")


async def test_http_can_skip_tls_verification_and_still_read_the_expiry(probe: Any) -> None:
    async with serve(answer(200), self_signed_context("localhost")) as port:
        result = await run_http(probe, f"https://localhost:{port}/", verify_tls=False)
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_http_tls_cert_expiry_timestamp_seconds") > 0


async def test_http_reports_connection_refused(probe: Any) -> None:
    port = unused_port()
    result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary == f"connection refused to 127.0.0.1:{port}"


async def test_http_says_which_phase_timed_out(probe: Any) -> None:
    async with serve(silent) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/", timeout=0.5)
    assert result.status is Status.CRITICAL
    assert result.summary == "timeout after 0.5s waiting for response headers"

    async def stall_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await reader.read()

    async with serve(stall_body) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/", timeout=0.5)
    assert result.summary == "timeout after 0.5s reading body"


async def test_http_reports_a_server_error_from_a_real_server(probe: Any) -> None:
    async with serve(answer(503, b"Service Unavailable")) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary == "HTTP 503 (expected 200-299)"
    assert value(result, "lms_http_status_code") == 503


async def test_http_reports_a_server_that_hangs_up_without_answering(probe: Any) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with serve(hang_up) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("malformed response waiting for response headers: ")


async def test_http_follows_real_redirects_and_sums_their_phases(probe: Any) -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if request.startswith(b"GET /final "):
            writer.write(http_response(200, b"here"))
        else:
            writer.write(http_response(302, b"", "Location: /final\r\n"))
        await writer.drain()

    async with serve(redirect) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/start")
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_http_redirects") == 1
    assert result.details["url"] == f"http://127.0.0.1:{port}/final"


async def stream_50_mb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Streams 50 MB without a Content-Length, until the client hangs up."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(50 * 1024 * 1024 // len(chunk)):
        writer.write(chunk)
        await writer.drain()


async def test_http_stops_reading_a_50_mb_body_at_the_limit(probe: Any) -> None:
    async with serve(stream_50_mb) as port:
        tracemalloc.start()
        try:
            result = await run_http(probe, f"http://127.0.0.1:{port}/", keyword="Moodle",
                                    body_size_limit="1MiB")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.status is Status.CRITICAL
    assert "body exceeds limit of 1.0 MiB" in result.summary
    assert value(result, "lms_http_uncompressed_body_bytes") < 2 * 1024 * 1024
    assert peak < 8 * 1024 * 1024  # the limit plus buffers, never the 50 MB


async def test_http_refuses_an_announced_body_over_the_limit_without_reading_it(
        probe: Any) -> None:
    async def announce(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n" + b"x" * 1024)
        await writer.drain()
        await reader.read()

    async with serve(announce) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary.endswith("body exceeds limit of 10.0 MiB")
    assert value(result, "lms_http_content_length_bytes") == 52428800


async def test_http_names_an_unresolvable_host(probe: Any) -> None:
    result = await run_http(probe, "http://no-such-host.invalid/", timeout=1.0)
    assert result.status is Status.CRITICAL
    # Resolvers answer NXDOMAIN for .invalid; a sandbox without DNS times out instead.
    assert result.summary.startswith(("DNS: cannot resolve no-such-host.invalid",
                                      "timeout after 1s resolving no-such-host.invalid"))


async def test_http_reuses_one_client_and_opens_a_fresh_connection_each_run(probe: Any) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive offered
        await writer.drain()
        await reader.read()

    check = HttpCheck(HttpSpec(type="http", timeout=2))
    async with serve(count) as port:
        ctx = make_ctx(url=f"http://127.0.0.1:{port}/")
        for _ in range(3):
            result = await probe(check, ctx)
            assert result.status is Status.OK
            assert phases(result)["connect"] > 0
        client = check._client  # the point of the test
        assert (await probe(check, ctx)).status is Status.OK and check._client is client
    await check.aclose()
    assert connections == 4


async def test_http_reports_a_redirect_to_an_unsupported_scheme(probe: Any) -> None:
    async with serve(answer(302, b"", "Location: ftp://files.example.org/\r\n")) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("unsupported URL: ")


def test_http_backend_install_reports_an_unknown_transport_layout() -> None:
    import httpx

    from checks.http_backend import ResolvingBackend, install_backend

    transport = httpx.AsyncHTTPTransport()
    assert install_backend(transport, 0)
    assert isinstance(transport._pool._network_backend, ResolvingBackend)
    assert not install_backend(httpx.MockTransport(lambda r: httpx.Response(200)), 0)  # type: ignore[arg-type]
