"""The http check's compressed bodies, against real servers on 127.0.0.1: a gzip bomb
stops at the body limit with bounded memory; gzip and deflate bodies decode."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

from check_helpers import http_response, make_ctx, read_request, serve

from checks.http import HttpCheck
from checks.http_body import STEP, _inflate
from checks.http_spec import HttpSpec
from monitor.kernel.result import Status

MIB = 1024 * 1024


def gzip_bomb_parts() -> tuple[bytes, bytes]:
    """(head, unit): head + unit * n is a gzip stream of (n + 1) MiB of zeros.

    After a full flush the compressor starts afresh, so compressing the next MiB of
    zeros gives the same ~1 KiB again: 10 GiB of zeros costs ~10 MB to send, not 10 GiB
    of CPU to compress. The trailer is never sent: the probe stops long before."""
    block = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head, unit


def bomb_server(units: int) -> Any:
    head, unit = gzip_bomb_parts()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        length = len(head) + units * len(unit)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Encoding: gzip\r\nConnection: close\r\n"
                     + f"Content-Length: {length}\r\n\r\n".encode() + head)
        for _ in range(units):
            writer.write(unit)
            await writer.drain()

    return handler


def sample(result: Any, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


async def run_http(probe: Any, url: str, **spec: Any) -> Any:
    check = HttpCheck(HttpSpec(type="http", url=url, timeout=10.0, **spec))
    try:
        return await probe(check, make_ctx(timeout=10.0))
    finally:
        await check.aclose()


async def test_http_stops_a_10_gib_gzip_bomb_at_the_limit_with_bounded_memory(
        probe: Any) -> None:
    async with serve(bomb_server(units=10 * 1024)) as port:  # 10 GiB once inflated
        tracemalloc.start()
        try:
            # keyword: the body is kept for the assertion, the costlier path
            result = await run_http(probe, f"http://127.0.0.1:{port}/", keyword="Moodle")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.status is Status.CRITICAL
    assert result.summary.endswith("body exceeds limit of 10.0 MiB")
    decoded = sample(result, "lms_http_uncompressed_body_bytes")
    assert 10 * MIB < decoded <= 10 * MIB + STEP
    assert peak < 30 * MIB, f"peak {peak / MIB:.1f} MiB while reading a gzip bomb"


async def test_http_stops_a_gzip_bomb_at_a_small_limit_without_keeping_the_body(
        probe: Any) -> None:
    async with serve(bomb_server(units=1024)) as port:
        tracemalloc.start()
        try:
            result = await run_http(probe, f"http://127.0.0.1:{port}/",
                                    body_size_limit="1MiB")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.status is Status.CRITICAL
    assert "body exceeds limit of 1.0 MiB" in result.summary
    assert sample(result, "lms_http_uncompressed_body_bytes") <= MIB + STEP
    assert peak < 8 * MIB


def encoded_answer(body: bytes, encoding: str) -> Any:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(http_response(200, body, f"Content-Encoding: {encoding}\r\n"))
        await writer.drain()

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


PAGE = b"<html><title>Moodle</title>" + b"course " * 20000 + b"</html>"


async def test_http_decodes_a_gzip_body_and_asks_only_for_codings_it_can_bound(
        probe: Any) -> None:
    handler = encoded_answer(gzip.compress(PAGE), "gzip")
    async with serve(handler) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/", keyword="</html>")
    assert result.status is Status.OK, result.summary
    assert sample(result, "lms_http_uncompressed_body_bytes") == len(PAGE)
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in handler.seen[0].lower()


async def test_http_decodes_zlib_wrapped_and_raw_deflate_bodies(probe: Any) -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for body in (zlib.compress(PAGE), raw.compress(PAGE) + raw.flush()):
        async with serve(encoded_answer(body, "deflate")) as port:
            result = await run_http(probe, f"http://127.0.0.1:{port}/", keyword="Moodle")
        assert result.status is Status.OK, result.summary
        assert sample(result, "lms_http_uncompressed_body_bytes") == len(PAGE)


async def test_http_decodes_stacked_codings_in_the_order_applied(probe: Any) -> None:
    body = gzip.compress(zlib.compress(PAGE))
    async with serve(encoded_answer(body, "deflate, gzip")) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/", keyword="Moodle")
    assert result.status is Status.OK, result.summary
    assert sample(result, "lms_http_uncompressed_body_bytes") == len(PAGE)


async def test_http_reports_a_corrupt_gzip_body_as_malformed(probe: Any) -> None:
    async with serve(encoded_answer(b"\x1f\x8b\x08\x00garbage" * 10, "gzip")) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("malformed response body")


async def test_http_reads_an_unknown_coding_as_it_came(probe: Any) -> None:
    async with serve(encoded_answer(b"opaque bytes", "compress")) as port:
        result = await run_http(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.OK, result.summary
    assert sample(result, "lms_http_uncompressed_body_bytes") == len(b"opaque bytes")


async def test_no_inflate_step_yields_more_than_one_step_of_output() -> None:
    bomb = gzip.compress(bytes(32 * MIB), compresslevel=9)

    async def one_chunk() -> AsyncIterator[bytes]:
        yield bomb  # ~32 KiB in, 32 MiB out: must come out in STEP-sized pieces

    sizes = [len(piece) async for piece in _inflate(one_chunk(), zlib.MAX_WBITS | 16)]
    assert sum(sizes) == 32 * MIB
    assert max(sizes) <= STEP
