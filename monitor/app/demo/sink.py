"""The demo's alert receiver and side door (not Moodle): a webhook sink and a fault switch.

Served by DemoServer (monitor/app/demo/server.py) on a control listener that stays up while
the demo LMS is "down", so alerts about the outage still arrive; the LMS app
(monitor/app/demo/lms.py) mounts the sink routes too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.app.demo.faults import FAULTS

log = logging.getLogger(__name__)


@dataclass
class WebhookSink:
    """Keeps the payloads POSTed to /_demo/webhook; logs one line per alert in them."""

    limit: int = 500
    received: list[dict[str, Any]] = field(default_factory=list)

    def record(self, payload: Any) -> None:
        self.received.append({"received_at": time.time(), "payload": payload})
        del self.received[:-self.limit]
        alerts = payload.get("alerts") if isinstance(payload, dict) else None
        for alert in alerts if isinstance(alerts, list) else [payload]:
            alert = alert if isinstance(alert, dict) else {}
            labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
            log.info("webhook received: [%s] %s/%s %s: %s", str(alert.get("status", "?")).upper(),
                     labels.get("lms", "?"), labels.get("check", "?"),
                     labels.get("severity", ""), notes.get("summary", ""))


def create_control_app(sink: WebhookSink, set_fault: Callable[[str], Awaitable[None]]
                       ) -> Starlette:
    """The demo's side door, up even while the LMS is "down": the webhook sink and
    ``POST /_demo/fault`` (body ``{"fault": "slow"}``) for trying faults by hand."""

    async def fault(request: Request) -> Response:
        try:
            await set_fault(str((await request.json())["fault"]))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"expected {{\"fault\": one of {FAULTS}}}: {exc}"},
                                status_code=400)
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[*sink_routes(sink), Route("/_demo/fault", fault, methods=["POST"])])


def sink_routes(sink: WebhookSink) -> list[Route]:
    async def receive(request: Request) -> Response:
        try:
            sink.record(await request.json())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        return JSONResponse({"status": "received"})

    async def show(request: Request) -> Response:
        return JSONResponse({"received": sink.received})

    return [Route("/_demo/webhook", receive, methods=["POST"]),
            Route("/_demo/webhook", show, methods=["GET"])]
