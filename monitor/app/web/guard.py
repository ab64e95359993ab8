"""What every HTTP request passes before any handler or token check: the outer guard.

Wraps the Starlette app (api.py) as plain ASGI middleware:
- a Host header not among the allowed names is refused (421), so a web page that
  rebinds its own DNS name to 127.0.0.1 cannot drive a daemon listening on loopback;
- a body larger than ``max_body`` is refused (413) by its Content-Length before it is
  read, and a chunked one as soon as it grows past the limit (it is read here, at most
  ``max_body`` of it, and handed on), so an unauthenticated client cannot make the
  daemon buffer hundreds of megabytes;
- every response carries the security headers a browser honours (CSP, frame and sniffing
  bans, no referrer).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_BODY = 1024 * 1024  # the largest write (a maintenance window) is a few KiB
SECURITY_HEADERS = (
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
     b"script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; "
     b"base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def default_allowed_hosts(bind: str) -> frozenset[str] | None:
    """Loopback binds answer only to loopback names; others to any name (None), unless
    the config lists them (server.allowed_hosts)."""
    if bind in LOOPBACK_NAMES or bind.startswith("127."):
        return frozenset({*LOOPBACK_NAMES, bind})
    return None


def host_name(value: str) -> str:
    """The name in a Host header, without its port ("[::1]:9787" -> "::1")."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str] | None,
                 max_body: int = MAX_BODY) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.allowed is not None and host_name(headers.get("host", "")) not in self.allowed:
            await _plain(send, 421, "unknown Host: this daemon answers to "
                         + ", ".join(sorted(self.allowed)))
            return
        length = headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send, 413, f"request body larger than {self.max_body} bytes")
            return
        if not length and "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_bounded(receive)  # at most max_body held, then replayed
            if body is None:
                await _plain(send, 413, f"request body larger than {self.max_body} bytes")
                return
            receive = _replay(body)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _read_bounded(self, receive: Receive) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(parts)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    headers: list[Any] = [(b"content-type", b"text/plain; charset=utf-8"),
                          (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
