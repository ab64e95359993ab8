"""Group notifications shaped like the router's outbox payload (contract C -> D in the
team brief), so notifier tests do not depend on the router or the templates."""

from __future__ import annotations

from typing import Any

BASE = "https://vigil.example.org"


def snapshot(
    status: str = "firing", *, lms: str = "moodle-prod", check: str = "homepage",
    fingerprint: str = "0123456789abcdef", transition: int = 1, kind: str | None = None,
    severity: str = "critical", **fields: Any,
) -> dict[str, Any]:
    """One alert snapshot (the payload of an alert_transitions event row)."""
    resolved = status == "resolved"
    alert: dict[str, Any] = {
        "kind": kind or status, "status": status, "lms": lms, "check": check,
        "check_type": "http", "severity": severity,
        "check_status": "OK" if resolved else "CRITICAL",
        "summary": "HTTP 200 in 0.3s" if resolved else "HTTP 503 after 1.2s",
        "problem": "HTTP 503 after 1.2s",
        "started_at": 1_700_000_000.0,
        "ended_at": 1_700_000_900.0 if resolved else None,
        "duration_seconds": 900.0 if resolved else None,
        "labels": {"team": "elearning", "lms": lms, "check": check, "check_type": "http",
                   "severity": severity},
        "details": {"status_code": 503},
        "fingerprint": fingerprint, "transition": transition,
        "dedup_key": f"{fingerprint}:{transition}",
        "runbook": "Check PHP-FPM and the web server error log.",
        "flapping": False, "acknowledged": None, "held_reason": None,
        "links": {"status_page": f"{BASE}/", "api": f"{BASE}/api/v1/alerts/{fingerprint}"},
    }
    alert.update(fields)
    return alert


def notification(
    *alerts: dict[str, Any], reason: str = "notify", receiver: str = "r",
    dedup_key: str = "grp-0001:1", **fields: Any,
) -> dict[str, Any]:
    """One outbox payload; the default holds one firing alert."""
    alerts_list = list(alerts) if alerts or reason in ("maintenance", "report", "self") else [
        snapshot()]
    firing = any(a["status"] == "firing" for a in alerts_list)
    payload: dict[str, Any] = {
        "version": 1, "receiver": receiver, "route": "default", "reason": reason,
        "status": "firing" if firing or not alerts_list else "resolved",
        "group_key": '{}:{lms="moodle-prod"}', "group_labels": {"lms": "moodle-prod"},
        "common_labels": {"lms": "moodle-prod"}, "dedup_key": dedup_key,
        "escalation_level": 0, "alerts": alerts_list,
        "title": "[CRITICAL] moodle-prod: homepage is failing",
        "text": "moodle-prod homepage: HTTP 503 after 1.2s\nWhat to do: check PHP-FPM.",
        "html": "<p><b>moodle-prod</b> homepage: HTTP 503 &amp; more</p>",
        "links": {"status_page": f"{BASE}/"},
    }
    payload.update(fields)
    return payload
