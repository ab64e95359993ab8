"""Reading an HTTP check's body with its decompressed size bounded as it is produced.

Used by checks/http.py after the response head arrived. httpx's own decoders inflate
each network chunk whole (``zlib.decompressobj().decompress(chunk)``): a 64 KiB chunk of
a gzip bomb becomes 64 MiB before any limit can look at it, which grew a check to
212 MB for a 10 MiB limit (issue #11). Here the raw stream (``aiter_raw``) is inflated
with ``decompress(data, max_length)``: no step yields more than ``STEP`` bytes, and the
reader stops as soon as the body passes its limit, so memory stays near the limit
whatever the compression ratio.

Content-Encoding: identity, gzip (x-gzip) and deflate (zlib-wrapped or raw, like httpx),
in the order the server applied them. Brotli and zstd are not offered (their Python
bindings are not installed here, and a bounded decode needs their streaming APIs), so
Accept-Encoding names only what this module decodes. An unknown coding is read as it
came, as httpx does.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

import httpx

STEP = 64 * 1024  # the most any single decompression step may produce
ACCEPT_ENCODING = "gzip, deflate"

Inflater = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


async def read_bounded(response: httpx.Response, limit: int,
                       keep: bool) -> tuple[int, bytes | None, bool]:
    """(decoded size, body if ``keep``, too large): stops reading past ``limit`` bytes."""
    if response.is_stream_consumed:  # built in memory (httpx.MockTransport): httpx decoded it
        return await read_stream(_one(response.content), "", limit, keep)
    return await read_stream(response.aiter_raw(), response.headers.get("content-encoding", ""),
                             limit, keep)


async def read_stream(raw: AsyncIterator[bytes], content_encoding: str, limit: int,
                      keep: bool) -> tuple[int, bytes | None, bool]:
    """``read_bounded`` for a raw body stream (checks/http_direct.py's ``Reply.aiter_raw``)
    and its Content-Encoding header."""
    stream = raw
    for coding in reversed(_codings(content_encoding)):
        inflate = _INFLATERS.get(coding)
        if inflate is not None:
            stream = inflate(stream)
    size, chunks = 0, []
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return size, None, True
            if keep:
                chunks.append(chunk)
    except zlib.error as exc:  # the existing handler words it "malformed response body"
        raise httpx.DecodingError(f"cannot decompress the body: {exc}") from exc
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()  # ends the generators; the caller closes the response
    return size, (b"".join(chunks) if keep else None), False


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _codings(header: str) -> list[str]:
    return [c.strip().lower() for c in header.split(",") if c.strip()]


async def _drain(decoder: zlib._Decompress, data: bytes) -> AsyncIterator[bytes]:
    """Everything ``data`` inflates to, at most STEP bytes per piece."""
    while data:
        out = decoder.decompress(data, STEP)
        rest = b"" if decoder.eof else decoder.unconsumed_tail  # bytes past the end: ignored
        if out:
            yield out
        elif len(rest) >= len(data):
            break  # no progress (cannot happen with zlib; never spin on it)
        data = rest


async def _inflate(source: AsyncIterator[bytes], wbits: int) -> AsyncIterator[bytes]:
    decoder = zlib.decompressobj(wbits)
    async for chunk in source:
        async for piece in _drain(decoder, chunk):
            yield piece
    # Output zlib still holds once all input went in: also bounded per step.
    while not decoder.eof and (piece := decoder.decompress(b"", STEP)):
        yield piece


async def _gzip(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for piece in _inflate(source, zlib.MAX_WBITS | 16):
        yield piece


async def _deflate(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """zlib-wrapped deflate (RFC 9110) or raw deflate (what some servers send)."""
    first = b""
    async for chunk in source:
        first = chunk
        if first:
            break
    if not first:
        return
    wbits = zlib.MAX_WBITS if _zlib_header(first) else -zlib.MAX_WBITS

    async def replay() -> AsyncIterator[bytes]:
        yield first
        async for chunk in source:
            yield chunk

    async for piece in _inflate(replay(), wbits):
        yield piece


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


_INFLATERS: dict[str, Inflater] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
}
