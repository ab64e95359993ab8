"""Misbehaving servers on loopback for the fault tests: one asyncio loop in a thread
serving every fault on its own port, so a real `vigil run` subprocess can probe them.

Each fault is a handler ``(reader, writer) -> None``; every one of them stops by itself
(bounded sleeps and byte counts) and ``close()`` aborts whatever is still open.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HANG_AT_MOST = 30.0  # seconds a silent or dripping connection is held before giving up


class FaultServers:
    """An event loop in a daemon thread; ``serve(handler)`` returns the port it listens on."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.Server] = []
        self._writers: list[asyncio.StreamWriter] = []
        self.connections: dict[int, int] = {}  # port -> connections accepted

    def _call(self, coro: Awaitable[Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=10)

    def serve(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> int:
        async def start() -> int:
            port_box: list[int] = []

            async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                self._writers.append(writer)
                self.connections[port_box[0]] = self.connections.get(port_box[0], 0) + 1
                try:
                    await handler(reader, writer)
                    await writer.drain()
                except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError):
                    pass  # the probe hung up first: expected for timeouts and limits
                except asyncio.CancelledError:
                    pass  # close(): end quietly (asyncio's stream callback logs a cancel)
                finally:
                    writer.transport.abort()

            server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=ssl_context)
            self._servers.append(server)
            port_box.append(server.sockets[0].getsockname()[1])
            return port_box[0]

        port: int = self._call(start())
        return port

    def close(self) -> None:
        async def stop() -> None:
            for writer in self._writers:
                writer.transport.abort()
            for server in self._servers:
                server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


async def request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answer(status: int, body: bytes = b"", headers: str = "") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_head(reader)
        head = (f"HTTP/1.1 {status} Whatever\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n{headers}\r\n")
        writer.write(head.encode() + body)

    return handler


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, reads the request, never answers."""
    await request_head(reader)
    await asyncio.sleep(HANG_AT_MOST)


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A valid answer, one byte a second (slowloris in reverse)."""
    await request_head(reader)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + b"x" * 100
    for byte in reply[: int(HANG_AT_MOST)]:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Not HTTP at all: what a mis-pointed port (SSH, a database) answers."""
    await request_head(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage \x01\x02\r\n\r\n")


def endless(chunk: int = 64 * 1024, at_most: int = 64 * 1024 * 1024) -> Handler:
    """A 200 with no Content-Length that streams until the client hangs up (or 64 MiB)."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
        block = b"<p>" + b"x" * (chunk - 3)
        for _ in range(at_most // chunk):
            writer.write(block)
            await writer.drain()

    return handler


def gzip_bomb(uncompressed: int = 128 * 1024 * 1024) -> bytes:
    """``uncompressed`` bytes of zeros as one gzip member (about 1/1000 of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(uncompressed // len(zeros))]
    parts.append(compressor.flush())
    return b"".join(parts)


def bomb(payload: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                     b"Connection: close\r\n\r\n" + payload)

    return handler


def redirect_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
    return answer(302, headers="Location: /again\r\n")(reader, writer)
