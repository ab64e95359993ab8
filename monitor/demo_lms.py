"""An in-process demo LMS that looks like Moodle 4.5 to a monitor, with injectable faults.

Used by ``vigil demo`` (checks run against it, alerts fire and resolve, notifications
land in its webhook sink) and by tests that need a real HTTP server. It is the one
hand-written stand-in the architecture allows, so every surface follows Moodle's own
source (paths below are moodle/moodle at 4.5; 5.1 moved them under public/):

- login/index.php + lib/templates/loginform.mustache: form id="login", hidden logintoken,
  the MoodleSession cookie, M.cfg from lib/classes/output/requirements/
  page_requirements_manager.php (``developerdebug`` appears only with debugdeveloper on).
- login/token.php: ``{"appsitecheck":"ok"}`` before any login work.
- lib/ajax/service-nologin.php + admin/tool/mobile/classes/api.php: public config.
- webservice/rest/server.php + webservice/rest/locallib.php: JSON, errors at HTTP 200;
  core_webservice_get_site_info fields from webservice/externallib.php.
- lib/setup.php: CLI maintenance, 503 "Moodle under maintenance", Retry-After: 300, the
  climaintenance.html body written by enable_cli_maintenance_mode() (lib/adminlib.php).
- lib/classes/output/bootstrap_renderer.php early_error(): a DB read failure during
  bootstrap is a 500 plain page (error/plainpage.php), or JSON for AJAX scripts.
- lib/setuplib.php is_major_upgrade_required(): 303 to admin/index.php.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# "down" closes the listeners (connection refused); the others change the answers.
FAULTS = ("ok", "down", "slow", "maintenance", "dberror", "wrong_content", "upgrade")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache",
             "Expires": "Mon, 20 Aug 1969 09:23:00 GMT"}


@dataclass(frozen=True)
class DemoSite:
    sitename: str = "Vigil Demo University"
    release: str = "4.5.2 (Build: 20250210)"
    version: str = "2024100702"
    wstoken: str = "vigil-demo-token"  # the demo's own web-service token, not a secret
    developer_debug: bool = False
    wwwroot: str | None = None  # None: the scheme://host:port the request came in on


class FaultController:
    """The fault the demo LMS shows right now; read by every request."""

    def __init__(self, fault: str = "ok", *, slow_seconds: float = 3.0) -> None:
        self.fault = fault
        self.slow_seconds = slow_seconds

    @property
    def fault(self) -> str:
        return self._fault

    @fault.setter
    def fault(self, name: str) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; expected one of: {', '.join(FAULTS)}")
        self._fault = name


@dataclass(frozen=True)
class FaultSchedule:
    """Which fault is active ``elapsed`` seconds into the demo; phases repeat forever.

    The default suits check interval 5 s, failure threshold 3, success threshold 2:
    25 s of a fault gives at least 4 failing runs (fires after ~15 s), and 20 s of "ok"
    gives at least 3 passing runs (resolves after ~10 s). The first alert fires about
    35 s in and resolves at about 55 s; the slow one fires and resolves within 2 min.
    """

    phases: tuple[tuple[str, float], ...] = (
        ("ok", 20), ("down", 25), ("ok", 20), ("slow", 25), ("ok", 20),
        ("wrong_content", 25), ("ok", 20), ("maintenance", 25), ("ok", 20), ("dberror", 25),
    )

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a fault schedule needs at least one phase")
        for name, seconds in self.phases:
            FaultController(name)  # validates the name
            if seconds <= 0:
                raise ValueError(f"phase {name!r}: duration must be > 0, got {seconds}")

    @property
    def cycle_seconds(self) -> float:
        return sum(seconds for _, seconds in self.phases)

    def table(self) -> list[tuple[float, float, str]]:
        """(start, end, fault) of one cycle, for printing and tests."""
        rows, start = [], 0.0
        for name, seconds in self.phases:
            rows.append((start, start + seconds, name))
            start += seconds
        return rows

    def fault_at(self, elapsed: float) -> str:
        return self._locate(elapsed)[0]

    def seconds_until_change(self, elapsed: float) -> float:
        return self._locate(elapsed)[1]

    def _locate(self, elapsed: float) -> tuple[str, float]:
        offset = max(0.0, elapsed) % self.cycle_seconds
        for start, end, name in self.table():
            if start <= offset < end:
                return name, end - offset
        return self.phases[-1][0], self.cycle_seconds - offset  # float rounding at the end


@dataclass
class WebhookSink:
    """Keeps the alert payloads POSTed to /_demo/webhook and logs one line per alert."""

    limit: int = 500
    received: list[dict[str, Any]] = field(default_factory=list)

    def record(self, payload: Any) -> None:
        self.received.append({"received_at": time.time(), "payload": payload})
        del self.received[:-self.limit]
        alerts = payload.get("alerts") if isinstance(payload, dict) else None
        for alert in alerts if isinstance(alerts, list) else [payload]:
            labels = alert.get("labels", {}) if isinstance(alert, dict) else {}
            notes = alert.get("annotations", {}) if isinstance(alert, dict) else {}
            log.info("webhook received: [%s] %s/%s %s: %s",
                     str(alert.get("status", "?")).upper() if isinstance(alert, dict) else "?",
                     labels.get("lms", "?"), labels.get("check", "?"),
                     labels.get("severity", ""), notes.get("summary", ""))


