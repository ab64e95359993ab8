"""Notification payloads and their human text.

Sits between the alert snapshots and notification payloads (alerts/snapshot.py,
alerts/outbound.py: neutral JSON-able dicts every notifier understands) and the outbox:
``Renderer`` adds text rendered from jinja2 templates (shipped in ``templates/``,
overridable file by file from an admin directory). Notifiers only transport; no
message wording lives in Python code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from monitor.kernel.units import fmt_duration

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
# Rendered in this order: the runbook hint is a variable of the other three.
TEMPLATES = {
    "runbook": "runbook.txt.j2",
    "title": "title.txt.j2",
    "text": "message.txt.j2",
    "html": "message.html.j2",
}
NOTIFICATION_TEMPLATES = {"title": "title.txt.j2", "text": "message.txt.j2",
                          "html": "message.html.j2"}
RECEIVER_TEMPLATES = {"title": "receiver_title.txt.j2", "text": "receiver_message.txt.j2",
                      "html": "receiver_message.html.j2"}
SEVERITY_ORDER = ("info", "warning", "critical", "page")


class TemplateRenderError(Exception):
    """A message template is broken; the text names the file, the line and the cause."""


def rfc3339(timestamp: float | None) -> str:
    """Go's RFC 3339 form, as Alertmanager writes it; None is Go's zero time."""
    if timestamp is None:
        return "0001-01-01T00:00:00Z"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        """Runbook, title, text and html for ONE alert snapshot (a one-alert notification)."""
        snapshot = dict(payload)
        snapshot.setdefault("runbook", self.render_runbook(snapshot))
        notification = {
            "version": 1, "receiver": "", "route": "", "reason": "notify",
            "status": snapshot.get("status", "firing"), "group_key": "",
            "group_labels": {"lms": snapshot.get("lms", "")},
            "common_labels": dict(snapshot.get("labels") or {}), "escalation_level": 0,
            "dedup_key": snapshot.get("dedup_key", ""), "alerts": [snapshot],
            "links": {k: v for k, v in (snapshot.get("links") or {}).items() if k != "api"},
        }
        return {"runbook": snapshot["runbook"], **self.render_notification(notification)}

    def render_runbook(self, payload: Mapping[str, Any]) -> str:
        """Only the runbook hint, for the alert snapshot the engine stores (alerts/snapshot.py)."""
        return self._render(TEMPLATES["runbook"], dict(payload)).strip()

    def render_notification(self, notification: Mapping[str, Any]) -> dict[str, str]:
        """Title, text and html of a group notification (the router's outbox payload)."""
        context = notification_context(notification)
        return {key: self._render(name, context).strip()
                for key, name in NOTIFICATION_TEMPLATES.items()}

    def render_notification_safely(
        self, notification: Mapping[str, Any], logger: logging.Logger
    ) -> dict[str, str]:
        """As render_notification; a broken admin template falls back to the built-in one
        (a page must not be lost to a template typo)."""
        try:
            return self.render_notification(notification)
        except TemplateRenderError as exc:
            logger.error("notification template failed, using the built-in one: %s", exc)
            return Renderer().render_notification(notification)

    def render_receiver_health(self, context: Mapping[str, Any]) -> dict[str, str]:
        """The self-alert when a receiver fails permanently or delivers again."""
        return {key: self._render(name, dict(context)).strip()
                for key, name in RECEIVER_TEMPLATES.items()}

    def check(self) -> None:
        """Render every sample; raise at startup, not at 3 a.m."""
        for payload in sample_payloads():
            self.render(payload)
        for notification in sample_notifications():
            self.render_notification(notification)
        for change in ("failed", "recovered"):
            self.render_receiver_health({"receiver": "pager", "change": change,
                                         "reason": "HTTP 401", "since": 1_700_000_000.0})

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


# -- group notifications --------------------------------------------------------------
_ALERT_DEFAULTS: dict[str, Any] = {
    "kind": None, "status": "firing", "lms": "", "check": "", "check_type": "",
    "severity": "warning", "check_status": "UNKNOWN", "summary": "", "problem": None,
    "started_at": None, "ended_at": None, "duration_seconds": None, "labels": {},
    "runbook": "", "flapping": False, "acknowledged": None, "held_reason": None, "links": {},
    "dedup_key": "",
}


def alert_context(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot with every field a template may use (older or partial ones too)."""
    alert = {**_ALERT_DEFAULTS, **snapshot}
    alert["kind"] = alert["kind"] or alert["status"]
    alert["problem"] = alert["problem"] or alert["summary"]
    return alert


def notification_context(notification: Mapping[str, Any]) -> dict[str, Any]:
    """What templates see: the payload plus the alerts split by status and the worst
    severity (computed here, so templates only word things)."""
    alerts = [alert_context(a) for a in notification.get("alerts") or []]
    firing = [a for a in alerts if a["status"] != "resolved"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    ranked = [a["severity"] for a in firing or alerts if a["severity"] in SEVERITY_ORDER]
    return {
        **notification, "alerts": alerts, "firing": firing, "resolved": resolved,
        "alert": alerts[0] if alerts else alert_context({}),
        "severity": max(ranked, key=SEVERITY_ORDER.index) if ranked else "info",
        "lms_names": sorted({a["lms"] for a in alerts if a["lms"]}),
        "links": dict(notification.get("links") or {}),
    }


def notification_links(config: Any, labels: Mapping[str, str]) -> dict[str, str]:
    """Status page and Grafana links of a notification (``config``: AlertingConfig)."""
    found: dict[str, str] = {}
    if config.base_url:
        found["status_page"] = f"{config.base_url}/"
    if config.grafana_url:
        # One LMS: its detail dashboard; several: the fleet (grafana/dashboards uids).
        if labels.get("lms"):
            found["grafana"] = (f"{config.grafana_url}/d/vigil-lms-detail?"
                                f"var-lms={quote(labels['lms'])}")
        else:
            found["grafana"] = f"{config.grafana_url}/d/vigil-fleet"
    return found


def sample_notifications() -> list[dict[str, Any]]:
    """Group notifications of every shape, to validate templates with (and for tests)."""
    firing, resolved = sample_payloads()
    firing = dict(firing, kind="firing", runbook="Open the page from outside your network.")
    resolved = dict(resolved, kind="resolved", runbook="")
    other = dict(firing, lms="moodle-test", fingerprint="fedcba9876543210",
                 dedup_key="fedcba9876543210:3", severity="page", flapping=True,
                 acknowledged={"by": "alice", "comment": "on it", "at": 1_700_000_100.0})
    base: dict[str, Any] = {
        "version": 1, "receiver": "oncall", "route": "route", "reason": "notify",
        "status": "firing", "group_key": 'route:{lms="moodle-prod"}',
        "group_labels": {"lms": "moodle-prod"}, "common_labels": {"lms": "moodle-prod"},
        "dedup_key": "notify-0123", "escalation_level": 0,
        "links": {"status_page": "https://vigil.example.org/",
                  "grafana": "https://grafana.example.org/d/vigil-fleet"},
    }
    return [
        dict(base, alerts=[firing]),
        dict(base, status="resolved", alerts=[resolved]),
        dict(base, alerts=[firing, other, resolved], group_labels={"host": "db1"}),
        dict(base, reason="reminder", alerts=[firing, other]),
        dict(base, reason="escalation", escalation_level=2, alerts=[firing]),
        dict(base, alerts=[dict(other, kind="acknowledged")]),
        dict(base, status="resolved", alerts=[resolved, dict(resolved, lms="moodle-test")]),
    ]
