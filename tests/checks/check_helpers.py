"""Plain helpers for the check tests: contexts, real loopback servers, certificates.

Imported by the test modules (pytest puts this directory on sys.path); fixtures that
wrap them live in conftest.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks.base import CheckContext
from monitor.kernel.target import Target

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def make_ctx(url: str | None = None, timeout: float = 2.0, **kwargs: Any) -> CheckContext:
    return CheckContext(target=Target(name="t", kind="generic", url=url), timeout=timeout,
                        now=time.time, run_blocking=lambda fn: asyncio.to_thread(fn), **kwargs)


def unused_port() -> int:
    """A port nothing listens on (bound then released; good enough on loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None,
                host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A real asyncio server on loopback; yields its port and closes every connection after."""
    writers: list[asyncio.StreamWriter] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the probe hung up on us: expected in timeout and limit tests
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(wrapped, host, 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.transport.abort()
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def http_response(status: int = 200, body: bytes = b"ok", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    return (head + headers + "\r\n").encode() + body


def answer(status: int = 200, body: bytes = b"ok", headers: str = "") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(http_response(status, body, headers))
        await writer.drain()

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and never answers: for timeout tests (the server closes it at teardown)."""
    await reader.read()


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


def self_signed_context(hostname: str = "localhost") -> ssl.SSLContext:
    """A server context with a self-signed certificate made with cryptography."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    cert_and_key = trustme.Blob(pem)
    with cert_and_key.tempfile() as path:
        context.load_cert_chain(path)
    return context
