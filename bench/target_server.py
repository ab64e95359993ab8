"""A tiny, fast HTTP target for the benchmarks: every GET gets a small 200 page.

Run in its own process (so its CPU counts for neither tool under test):

    python bench/target_server.py --port 18080 [--seconds 600]
    # bench/scale.py adds the same page over TLS and a DNS responder on loopback:
    python bench/target_server.py --port 18080 --tls-port 18443 --cert C --key K \
        --dns-port 18053

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
import ssl
from typing import Any, cast

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


class DnsResponder(asyncio.DatagramProtocol):
    """Answers every A query with 127.0.0.1 (TTL 60), as a site's resolver would."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        import dns.message
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        assert self.transport is not None
        try:
            query = dns.message.from_wire(data)
        except Exception:  # a malformed datagram: ignore it, as a resolver would
            return
        Stats.served += 1
        reply = dns.message.make_response(query)
        for question in query.question:
            if question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.A, "127.0.0.1"))
        self.transport.sendto(reply.to_wire(), addr)


async def serve(host: str, port: int, seconds: float, args: argparse.Namespace | None = None
                ) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = [await loop.create_server(TargetProtocol, host, port, backlog=4096,
                                        reuse_address=True)]
    if args is not None and args.tls_port:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        servers.append(await loop.create_server(TargetProtocol, host, args.tls_port,
                                                backlog=4096, reuse_address=True,
                                                ssl=context))
    if args is not None and args.dns_port:
        await loop.create_datagram_endpoint(DnsResponder, local_addr=(host, args.dns_port))
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1800.0,
                        help="stop by itself after this long (default 1800)")
    parser.add_argument("--tls-port", type=int, default=0,
                        help="also serve the page over TLS on this port (needs --cert, --key)")
    parser.add_argument("--cert", help="server certificate (PEM) for --tls-port")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--dns-port", type=int, default=0,
                        help="also answer DNS A queries with 127.0.0.1 on this UDP port")
    args = parser.parse_args()
    if args.tls_port and not (args.cert and args.key):
        parser.error("--tls-port needs --cert and --key")
    asyncio.run(serve(args.host, args.port, args.seconds, args))


if __name__ == "__main__":
    main()
