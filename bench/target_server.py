"""A tiny, fast HTTP target for the benchmarks: every GET gets a small 200 page.

Run in its own process (so its CPU counts for neither tool under test):

    python bench/target_server.py --port 18080 [--seconds 600]

Raw asyncio protocol, HTTP/1.1, ``Connection: close`` after each answer (both Vigil's
http check and blackbox_exporter open a fresh connection per probe anyway). Any path
answers the same page (it looks like a Moodle login form); ``/_stats`` answers the
number of requests served so far as plain text. Stops by itself after ``--seconds``
(a safety net; the benchmarks stop it earlier), or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

BODY = (b"<!DOCTYPE html><html><head><title>Log in to the site</title></head><body>"
        b"<form id=\"login\" method=\"post\" action=\"/login/index.php\">"
        b"<input type=\"hidden\" name=\"logintoken\" value=\"bench\">"
        b"<input name=\"username\"><input name=\"password\" type=\"password\"></form>"
        b"</body></html>")
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n"
            + BODY)
MAX_HEAD = 16 * 1024


class Stats:
    served = 0


class TargetProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                self.transport.close()
            return
        Stats.served += 1
        if self.buffer.startswith(b"GET /_stats "):
            text = str(Stats.served).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                                 + str(len(text)).encode() + b"\r\nConnection: close\r\n\r\n"
                                 + text)
        else:
            self.transport.write(RESPONSE)
        self.transport.close()


async def serve(host: str, port: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await loop.create_server(TargetProtocol, host, port, backlog=4096,
                                      reuse_address=True)
    async with server:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1800.0,
                        help="stop by itself after this long (default 1800)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.seconds))


if __name__ == "__main__":
    main()
