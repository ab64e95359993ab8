"""Every HTTP response body, redacted: no resolved secret of the config leaves the API.

Plain ASGI middleware between the guard (guard.py) and the Starlette app (api.py). The
API, the pages and /metrics (label values) are built from data that is already redacted
where it is produced (check results in the runner, delivery errors in the dispatcher);
this is the last net for whatever is not, such as a check's configured URL. Responses
are small JSON, HTML or exposition text, so each is buffered whole and its
Content-Length set again.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.kernel.redact import SecretRegistry


class RedactingApp:
    def __init__(self, app: ASGIApp, secrets: SecretRegistry) -> None:
        self.app = app
        self.secrets = secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.secrets:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = self.secrets.redact_bytes(b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", [])
                       if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode("ascii")))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
