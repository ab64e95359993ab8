"""The http check's own request path (checks/http_direct.py) against real servers on
127.0.0.1: what goes on the wire, and redirects followed with httpx.AsyncClient's rules
(the MockTransport tests in test_http.py cover the same behaviours through httpx)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from check_helpers import http_response, make_ctx, read_request, serve

from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from monitor.kernel.result import Status

Route = Callable[[bytes], bytes]


def value(result: Any, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


def recording(routes: dict[str, Route], seen: list[bytes]) -> Any:
    """A server that records each raw request (head and body) and answers by path."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        request = head + (await reader.readexactly(length) if length else b"")
        seen.append(request)
        path = request.split(b" ")[1].decode()
        writer.write(routes[path.split("?")[0]](request))
        await writer.drain()

    return handler


def header(request: bytes, name: str) -> str | None:
    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, val = line.decode().partition(":")
        if key.strip().lower() == name.lower():
            return val.strip()
    return None


async def run(probe: Any, url: str, **spec: Any) -> Any:
    return await probe(HttpCheck(HttpSpec(type="http", url=url, timeout=2, **spec)), make_ctx())


async def test_sends_the_request_httpx_would_and_never_shows_its_secrets(probe: Any) -> None:
    seen: list[bytes] = []
    routes = {"/ws": lambda r: http_response(500, b"")}
    async with serve(recording(routes, seen)) as port:
        result = await run(
            probe,
            f"http://127.0.0.1:{port}/ws?wstoken=t0k3n",
            method="post",
            headers={"Authorization": "Bearer s3cr3t"},
            body="a=t0k3n",
        )
    request = seen[0]
    assert request.startswith(b"POST /ws?wstoken=t0k3n HTTP/1.1\r\n")
    assert header(request, "host") == f"127.0.0.1:{port}"
    assert header(request, "authorization") == "Bearer s3cr3t"
    assert header(request, "user-agent").startswith("Vigil/")
    assert header(request, "accept") == "*/*"
    assert header(request, "accept-encoding") == "gzip, deflate"
    assert header(request, "connection") == "close"
    assert header(request, "content-length") == "7" and request.endswith(b"\r\n\r\na=t0k3n")
    assert result.summary == "HTTP 500 (expected 200-299)"
    shown = result.summary + json.dumps(result.details)
    assert "s3cr3t" not in shown and "t0k3n" not in shown
    assert result.details["url"] == f"http://127.0.0.1:{port}/ws"


async def test_credentials_in_the_url_are_sent_as_basic_auth(probe: Any) -> None:
    seen: list[bytes] = []
    async with serve(recording({"/": lambda r: http_response(200)}, seen)) as port:
        result = await run(probe, f"http://moodle:p%40ss@127.0.0.1:{port}/")
    assert result.status is Status.OK
    assert header(seen[0], "authorization") == "Basic bW9vZGxlOnBAc3M="  # moodle:p@ss
    assert "p%40ss" not in json.dumps(result.details) and "moodle" not in result.details["url"]


async def test_a_redirect_chain_keeps_its_cookies_but_the_next_probe_starts_empty(
    probe: Any,
) -> None:
    seen: list[bytes] = []
    routes = {
        "/": lambda r: http_response(
            302, b"", "Location: /home\r\nSet-Cookie: MoodleSession=abc; Path=/\r\n"
        ),
        "/home": lambda r: http_response(200, b"home"),
    }
    check = HttpCheck(HttpSpec(type="http", timeout=2, headers={"Cookie": "mine=1"}))
    async with serve(recording(routes, seen)) as port:
        ctx = make_ctx(url=f"http://127.0.0.1:{port}/")
        for _ in range(2):
            result = await probe(check, ctx)
            assert result.status is Status.OK, result.summary
            assert value(result, "lms_http_redirects") == 1
            assert result.details["url"] == f"http://127.0.0.1:{port}/home"
    # the user's own Cookie header on the first hop only, as httpx.AsyncClient does
    assert [header(r, "cookie") for r in seen] == ["mine=1", "MoodleSession=abc"] * 2


async def test_a_see_other_turns_a_post_into_a_get_without_its_body(probe: Any) -> None:
    seen: list[bytes] = []
    routes = {
        "/form": lambda r: http_response(303, b"", "Location: /done\r\n"),
        "/done": lambda r: http_response(200),
    }
    async with serve(recording(routes, seen)) as port:
        result = await run(probe, f"http://127.0.0.1:{port}/form", method="POST", body="x=1")
    assert result.status is Status.OK, result.summary
    assert seen[1].startswith(b"GET /done HTTP/1.1\r\n")
    assert header(seen[1], "content-length") is None and seen[1].endswith(b"\r\n\r\n")


async def test_authorization_stays_within_the_origin(probe: Any) -> None:
    seen: list[bytes] = []
    other: list[bytes] = []
    async with serve(recording({"/end": lambda r: http_response(200)}, other)) as far:
        routes = {
            "/": lambda r: http_response(307, b"", "Location: /next\r\n"),
            "/next": lambda r: http_response(302, b"", f"Location: http://127.0.0.1:{far}/end\r\n"),
        }
        async with serve(recording(routes, seen)) as port:
            result = await run(
                probe, f"http://127.0.0.1:{port}/", headers={"Authorization": "Bearer s3cr3t"}
            )
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_http_redirects") == 2
    assert [header(r, "authorization") for r in seen] == ["Bearer s3cr3t"] * 2
    assert header(other[0], "authorization") is None  # another port is another origin
    assert header(other[0], "host") == f"127.0.0.1:{far}"


async def test_a_redirect_loop_stops_after_max_redirects(probe: Any) -> None:
    seen: list[bytes] = []
    routes = {"/": lambda r: http_response(302, b"", "Location: /\r\n")}
    async with serve(recording(routes, seen)) as port:
        result = await run(probe, f"http://127.0.0.1:{port}/", max_redirects=3)
    assert result.status is Status.CRITICAL
    assert result.summary == "too many redirects (more than 3)"
    assert len(seen) == 4  # the first request and three redirects followed, as httpx


async def test_a_redirect_is_judged_itself_when_not_following(probe: Any) -> None:
    routes = {"/": lambda r: http_response(301, b"", "Location: /elsewhere\r\n")}
    async with serve(recording(routes, [])) as port:
        result = await run(probe, f"http://127.0.0.1:{port}/", follow_redirects=False)
    assert result.summary == "HTTP 301 (expected 200-299)"
    assert value(result, "lms_http_redirects") == 0


async def test_chunked_bodies_and_the_declared_charset_are_read(probe: Any) -> None:
    body = "Bienvenue à Moodle".encode("latin-1")
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body[:5]):x}\r\n".encode()
        + body[:5]
        + b"\r\n"
        + f"{len(body[5:]):x}\r\n".encode()
        + body[5:]
        + b"\r\n0\r\n\r\n"
    )
    async with serve(recording({"/": lambda r: chunked}, [])) as port:
        result = await run(probe, f"http://127.0.0.1:{port}/", keyword="à Moodle")
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_http_uncompressed_body_bytes") == len(body)


async def test_an_invalid_location_is_a_malformed_response(probe: Any) -> None:
    routes = {"/": lambda r: http_response(302, b"", "Location: http://[::1/\r\n")}
    async with serve(recording(routes, [])) as port:
        result = await run(probe, f"http://127.0.0.1:{port}/")
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("malformed response ")
    assert "Invalid URL in location header" in result.summary
