"""The alert snapshot stored with every event row (the engine -> router contract).

The service writes one ``payload`` per event in alert_transitions; the router groups
these snapshots into notifications and the notifiers read them, so everything a message
needs (what, where, since when, how bad, what to do, links) is here, JSON-safe, and
frozen at the moment of the event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from alerts.messages import Renderer, TemplateRenderError
from alerts.store import AlertRecord
from monitor.kernel.result import Status
from monitor.state.store import CheckState

log = logging.getLogger("vigil.alerts")


def build_snapshot(
    kind: str,
    alert: AlertRecord,
    at: float,
    *,
    check_type: str,
    state: CheckState | None,
    problem: AlertRecord | None = None,
    renderer: Renderer,
    base_url: str | None = None,
    grafana_url: str | None = None,
) -> dict[str, Any]:
    """The payload of one event. ``problem`` is the alert as it failed (for a resolved
    event, the record before it resolved), so a resolved message names the problem."""
    # A flapping alert is a problem even while its state says OK: routers and notifiers
    # read ``status``, so it must say firing (a 'flapping_end' follows the alert after it).
    firing = alert.state == "firing" or alert.flapping
    bad = problem or alert
    bad_status = bad.status if bad.status != Status.OK else alert.status
    ended = alert.resolved_at if not firing else None
    started = alert.started_at
    duration = None
    if started is not None:
        duration = max(0.0, (ended if ended is not None else at) - started)
    labels = {**dict(alert.labels), "lms": alert.lms, "check": alert.check,
              "check_type": check_type, "severity": alert.severity}
    payload: dict[str, Any] = {
        "kind": kind,
        "status": "firing" if firing else "resolved",
        "lms": alert.lms,
        "check": alert.check,
        "check_type": check_type,
        "severity": alert.severity,
        "check_status": bad_status.name,
        "summary": state.result.summary if state else alert.summary,
        "problem": bad.summary,
        "consecutive_failures": state.consecutive_fail if state else 0,
        "consecutive_ok": state.consecutive_ok if state else 0,
        "started_at": started,
        "ended_at": ended,
        "duration_seconds": duration,
        "labels": labels,
        "details": _json_safe(state.result.details) if state else {},
        "fingerprint": alert.fingerprint,
        "transition": alert.transition,
        "dedup_key": f"{alert.fingerprint}:{alert.transition}",  # save_alert sets the final
        "flapping": alert.flapping,
        "acknowledged": ack_json(alert),
        "held_reason": alert.held,
        "links": links(alert, base_url, grafana_url),
        "at": at,
    }
    payload["runbook"] = _runbook(renderer, payload)
    return payload


def ack_json(alert: AlertRecord) -> dict[str, Any] | None:
    if not alert.acknowledged:
        return None
    return {"by": alert.ack_by, "comment": alert.ack_comment, "at": alert.ack_at,
            "sticky": alert.ack_sticky, "expires_at": alert.ack_expires_at}


def links(alert: AlertRecord, base_url: str | None, grafana_url: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if base_url:
        found["status_page"] = f"{base_url}/"
        found["api"] = f"{base_url}/api/v1/alerts/{alert.fingerprint}"
    if grafana_url:
        # The per-LMS dashboard shipped in grafana/dashboards (uid vigil-lms-detail).
        found["grafana"] = f"{grafana_url}/d/vigil-lms-detail?var-lms={quote(alert.lms)}"
    return found


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    # Details come from checks and may hold datetimes or paths; events store JSON.
    return json.loads(json.dumps(dict(details), default=str))


def _runbook(renderer: Renderer, payload: Mapping[str, Any]) -> str:
    try:
        return renderer.render_runbook(payload)
    except TemplateRenderError as exc:
        # A broken admin runbook must not lose the event: use the shipped wording.
        log.error("runbook template failed, using the built-in one: %s", exc)
        return Renderer().render_runbook(payload)
