"""Vigil alert snapshots in Alertmanager's alert model (labels, annotations, times).

Shared by the webhook notifier (Alertmanager's webhook payload, version 4) and the
Alertmanager notifier (``POST /api/v2/alerts``), so an alert looks the same to a
webhook consumer and inside Alertmanager. Field names follow Alertmanager's
``template.Data``/``template.Alert`` (template/template.go) and the ``postableAlert``
definition of its API (api/v2/openapi.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from alerts.messages import rfc3339

ALERTNAME = "LmsCheckFailing"
# Alertmanager accepts only Prometheus label names; a custom label like "team-name"
# would make it reject the whole batch with HTTP 400.
_INVALID_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")


def label_name(name: str) -> str:
    name = _INVALID_LABEL_CHARS.sub("_", name)
    return f"_{name}" if not name or name[0].isdigit() else name


def alert_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """The label set that identifies the alert in Alertmanager (and routes it there)."""
    raw: dict[str, Any] = {
        "alertname": ALERTNAME,
        "lms": alert.get("lms"), "check": alert.get("check"),
        "check_type": alert.get("check_type"), "severity": alert.get("severity"),
        # The snapshot's labels already hold the four above; a rule may set alertname.
        **(alert.get("labels") or {}),
    }
    # Alertmanager treats an empty value as an absent label: leave it out.
    return {label_name(str(k)): str(v) for k, v in raw.items() if v not in (None, "")}


def alert_annotations(alert: Mapping[str, Any]) -> dict[str, str]:
    acknowledged = alert.get("acknowledged") or {}
    raw = {
        # Alertmanager keeps an alert's annotations when it resolves: the problem it had.
        "summary": alert.get("problem") or alert.get("summary"),
        "description": alert.get("summary"),  # the latest check output
        "runbook": alert.get("runbook"),
        "flapping": "true" if alert.get("flapping") else None,
        "acknowledged_by": acknowledged.get("by"),
        "acknowledged_comment": acknowledged.get("comment"),
        "held_reason": alert.get("held_reason"),
    }
    return {k: str(v) for k, v in raw.items() if v not in (None, "")}


def generator_url(alert: Mapping[str, Any]) -> str:
    links = alert.get("links") or {}
    return str(links.get("api") or links.get("status_page") or "")


def starts_at(alert: Mapping[str, Any]) -> str:
    return rfc3339(alert.get("started_at"))


def common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Pairs every map shares: Alertmanager's commonLabels/commonAnnotations."""
    maps = list(maps)
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}
