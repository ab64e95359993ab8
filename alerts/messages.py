"""Notification payloads and their human text.

Sits between the engine (a ``Decision``) and the outbox: ``build_notification`` turns
a transition into a neutral JSON-able dict that every notifier understands, and
``Renderer`` adds text rendered from jinja2 templates (shipped in ``templates/``,
overridable file by file from an admin directory). Notifiers only transport; no
message wording lives in Python code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerts.engine import Decision, dedup_key
from checks.base import Status
from checks.common import fmt_duration
from monitor.store import CheckState

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
# Rendered in this order: the runbook hint is a variable of the other three.
TEMPLATES = {
    "runbook": "runbook.txt.j2",
    "title": "title.txt.j2",
    "text": "message.txt.j2",
    "html": "message.html.j2",
}
SEVERITY = {Status.OK: "info", Status.WARNING: "warning",
            Status.CRITICAL: "critical", Status.UNKNOWN: "critical"}


class TemplateRenderError(Exception):
    """A message template is broken; the text names the file, the line and the cause."""


def rfc3339(timestamp: float | None) -> str:
    """Go's RFC 3339 form, as Alertmanager writes it; None is Go's zero time."""
    if timestamp is None:
        return "0001-01-01T00:00:00Z"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_notification(
    decision: Decision, state: CheckState, *, base_url: str | None = None
) -> dict[str, Any]:
    """The neutral payload of one transition (stored in the outbox, so JSON-able)."""
    if decision.transition is None:
        raise ValueError("only a transition makes a notification")
    alert = decision.alert
    # A resolved alert is described by the problem it had, not by today's OK.
    problem = decision.previous if decision.transition == "resolved" else alert
    bad_status = problem.status if problem else alert.status
    ended = alert.resolved_at if decision.transition == "resolved" else None
    started = alert.started_at
    return {
        "status": decision.transition,
        "lms": alert.lms,
        "check": alert.check,
        "check_type": state.check_type,
        "severity": SEVERITY[bad_status],
        "check_status": bad_status.name,
        "summary": state.result.summary,
        "problem": problem.summary if problem else alert.summary,
        "consecutive_failures": state.consecutive_fail,
        "consecutive_ok": state.consecutive_ok,
        "started_at": started,
        "ended_at": ended,
        "duration_seconds": ended - started if ended is not None and started else None,
        "labels": dict(alert.labels),
        "details": _json_safe(state.result.details),
        "fingerprint": alert.fingerprint,
        "transition": alert.transition,
        "dedup_key": dedup_key(alert),
        "links": _links(base_url, alert.fingerprint),
    }


def _links(base_url: str | None, fingerprint: str) -> dict[str, str]:
    if not base_url:
        return {}
    return {"status_page": f"{base_url}/", "api": f"{base_url}/api/v1/alerts/{fingerprint}"}


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    # Details come from checks and may hold datetimes or paths; the outbox stores JSON.
    return json.loads(json.dumps(dict(details), default=str))


def format_datetime(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return fmt_duration(seconds)


def _is_html(name: str | None) -> bool:
    return name is not None and name.removesuffix(".j2").endswith((".html", ".htm"))


class Renderer:
    """Renders the message templates; an admin directory overrides built-ins per file."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        search = [str(templates_dir)] if templates_dir else []
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([*search, str(BUILTIN_TEMPLATES)]),
            undefined=jinja2.StrictUndefined,
            autoescape=_is_html,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["datetime"] = format_datetime
        self.env.filters["duration"] = format_duration

    def render(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """Text fields for ``payload``: runbook, title, text and html."""
        context = dict(payload)
        rendered: dict[str, str] = {}
        for key, name in TEMPLATES.items():
            rendered[key] = self._render(name, context).strip()
            context[key] = rendered[key]
        return rendered

    def check(self) -> None:
        """Render sample firing and resolved payloads; raise at startup, not at 3 a.m."""
        for payload in sample_payloads():
            self.render(payload)

    def _render(self, name: str, context: dict[str, Any]) -> str:
        template: jinja2.Template | None = None
        try:
            template = self.env.get_template(name)
            return template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateRenderError(
                f"template {exc.filename or name}, line {exc.lineno}: {exc.message}"
            ) from exc
        except jinja2.TemplateError as exc:
            where = template.filename if template and template.filename else name
            line = _template_line(exc.__traceback__, where)
            at = f", line {line}" if line else ""
            raise TemplateRenderError(f"template {where}{at}: {exc}") from exc


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sample_payloads() -> list[dict[str, Any]]:
    """Realistic payloads to validate templates with (also used by tests)."""
    firing: dict[str, Any] = {
        "status": "firing", "lms": "moodle-prod", "check": "homepage", "check_type": "http",
        "severity": "critical", "check_status": "CRITICAL",
        "summary": "HTTP 503 from https://lms.example.org/ after 1.2s",
        "problem": "HTTP 503 from https://lms.example.org/ after 1.2s",
        "consecutive_failures": 3, "consecutive_ok": 0,
        "started_at": 1_700_000_000.0, "ended_at": None, "duration_seconds": None,
        "labels": {"team": "elearning"}, "details": {"status_code": 503},
        "fingerprint": "0123456789abcdef", "transition": 1, "dedup_key": "0123456789abcdef:1",
        "links": {"status_page": "https://vigil.example.org/",
                  "api": "https://vigil.example.org/api/v1/alerts/0123456789abcdef"},
    }
    resolved = dict(firing, status="resolved", summary="HTTP 200 in 0.3s",
                    consecutive_failures=0, consecutive_ok=2, ended_at=1_700_000_900.0,
                    duration_seconds=900.0, transition=2, dedup_key="0123456789abcdef:2",
                    links={})
    return [firing, resolved]
