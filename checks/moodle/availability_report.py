"""The moodle_availability result's text, details and samples, from the judged answers.

Called by availability.py once every endpoint's answer was judged (availability_judge.py).
"""

from __future__ import annotations

from typing import Any

from checks.http import redact_url
from checks.moodle.availability_judge import Answer, Judged, Problem
from monitor.kernel.result import Sample, Status
from monitor.kernel.units import fmt_seconds

STATES = ("unreachable", "maintenance", "upgrade_pending", "database_error",
           "web_maintenance", "wrong_content", "http_error", "web_services_disabled")


def report_summary(problems: list[tuple[str, Problem]], answers: dict[str, Answer],
             judged: dict[str, Judged]) -> str:
    if not problems:
        parts = [f"login page OK in {fmt_seconds(answers['login'].seconds)}"]
        if info := judged.get("site_info", ([], {}))[1]:
            parts.append(f"Moodle {info['release']} ({info['version']})")
        if "appsitecheck" in judged:
            parts.append("appsitecheck ok")
        return "; ".join(parts)
    merged: dict[str, list[str]] = {}  # one site-wide cause seen on several endpoints: once
    for endpoint, problem in sorted(problems, key=lambda item: -_severity(item[1].status)):
        merged.setdefault(problem.text, []).append(endpoint)
    return "; ".join(text + (f" [{', '.join(eps)}]" if len(eps) > 1 else "")
                     for text, eps in merged.items())


def _severity(status: Status) -> int:
    return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[status]


def report_details(www: str, answers: dict[str, Answer], judged: dict[str, Judged],
             problems: list[tuple[str, Problem]], token: str | None) -> dict[str, Any]:
    states = {p.state for _, p in problems if p.state}
    state = next((s for s in STATES if s in states), "ok" if not problems else "degraded")
    details: dict[str, Any] = {"url": redact_url(www), "state": state}
    for endpoint, (_, facts) in judged.items():
        answer = answers[endpoint]
        details[endpoint] = {"status_code": answer.status_code,
                             "seconds": round(answer.seconds, 4), **facts}
    if "site_info" not in judged:
        details["site_info"] = "off" if token else "skipped: no [lms.moodle] wstoken"
    details["problems"] = list(dict.fromkeys(p.text for _, p in problems))[:10]
    return details


def report_samples(answers: dict[str, Answer], judged: dict[str, Judged]) -> list[Sample]:
    samples: list[Sample] = []
    for endpoint, answer in answers.items():
        labels = {"endpoint": endpoint}
        samples.append(Sample("lms_moodle_endpoint_ok",
                              0.0 if answer.error or judged[endpoint][0] else 1.0, labels))
        if answer.status_code is not None:
            samples.append(Sample("lms_moodle_http_status_code", answer.status_code, labels))
            samples.append(Sample("lms_moodle_http_duration_seconds", answer.seconds, labels))
    login = answers["login"]
    if login.status_code is not None:
        samples.append(Sample("lms_moodle_login_page_seconds", login.seconds))
    debug = judged["login"][1].get("developer_debug")
    if debug is not None:
        samples.append(Sample("lms_moodle_developer_debug", 1.0 if debug else 0.0))
    if version := judged.get("site_info", ([], {}))[1].get("version"):
        samples.append(Sample("lms_moodle_site_version", float(version)))
    return samples
