"""The HTTP server's outer guard: Host names (DNS rebinding), body limits before any
handler or token check, security headers, header deadlines and a connection cap."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from monitor.app.web import server as server_module
from monitor.app.web.guard import Guard, default_allowed_hosts, host_name
from monitor.app.web.server import EmbeddedServer

READ: list[int] = []


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    READ.append(len(body))
    return PlainTextResponse(f"{request.method} {len(body)}")


APP = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])


def client(allowed: frozenset[str] | None, max_body: int = 1000) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=Guard(APP, allowed, max_body=max_body))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9787")


def test_loopback_binds_answer_only_to_loopback_names() -> None:
    assert default_allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert default_allowed_hosts("0.0.0.0") is None
    assert [host_name(h) for h in ("[::1]:9787", "LocalHost:80", "::1", "a.b")] == [
        "::1", "localhost", "::1", "a.b"]


async def test_a_rebound_host_name_is_refused_before_the_app() -> None:
    READ.clear()
    async with client(default_allowed_hosts("127.0.0.1")) as http:
        ok = await http.get("/")
        evil = await http.get("/", headers={"Host": "attacker.example:9787"})
    assert ok.status_code == 200
    assert evil.status_code == 421 and "unknown Host" in evil.text
    assert READ == [0]


async def test_a_large_body_is_refused_by_its_length_before_it_is_read() -> None:
    READ.clear()
    async with client(None) as http:
        answer = await http.post("/", content=b"x" * 5000)
    assert answer.status_code == 413 and READ == []


async def test_a_chunked_body_is_cut_when_it_grows_past_the_limit() -> None:
    READ.clear()

    async def chunks():  # no Content-Length: sent chunked
        for _ in range(50):
            yield b"y" * 100

    async with client(None) as http:
        answer = await http.post("/", content=chunks())
    assert answer.status_code == 413 and READ == []


async def test_every_answer_carries_the_security_headers() -> None:
    async with client(None) as http:
        for answer in (await http.get("/"), await http.post("/", content=b"x" * 5000)):
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


async def test_slow_header_connections_are_dropped_and_the_server_keeps_answering(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "HEADER_TIMEOUT", 0.5)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 50)
    server = EmbeddedServer(APP, "127.0.0.1", 0)
    await server.start()
    loop = asyncio.get_running_loop()
    slow: list[socket.socket] = []
    try:
        for _ in range(80):  # more than the cap, each sending half a request line
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sock.setblocking(False)
            slow.append(sock)
        await asyncio.sleep(1.5)
        closed = 0
        for sock in slow:
            try:
                closed += await asyncio.wait_for(loop.sock_recv(sock, 1), 1) == b""
            except (ConnectionError, TimeoutError):
                closed += 1
        assert closed == len(slow)  # the deadline or the cap ended every one of them
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.url}/")).status_code == 200
    finally:
        for sock in slow:
            sock.close()
        await server.stop()
