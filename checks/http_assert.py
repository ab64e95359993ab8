"""Judging an HTTP response against an HttpSpec: pure functions, no I/O.

HttpCheck (checks/http.py) measures a response into an ``Observed`` and hands it here;
``judge`` returns the problems found, each with the Status it deserves. The assertion
names and semantics are blackbox_exporter's (valid_status_codes, fail_if_ssl,
fail_if_not_ssl, fail_if_body_matches_regexp, fail_if_header_matches, ...), plus
Uptime Kuma's keyword / forbidden keyword and a small JSON field equality test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.kernel.result import Status, threshold_status
from monitor.kernel.units import fmt_bytes, fmt_seconds

if TYPE_CHECKING:
    from checks.http_spec import HeaderMatch, HttpSpec

Problem = tuple[Status, str]
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Observed:
    """What one probe saw, reduced to what the assertions need."""

    status_code: int
    is_tls: bool
    headers: Mapping[str, str]  # httpx.Headers: case-insensitive, repeated values joined
    body: bytes | None  # kept only when an assertion needs it, at most body_size_limit
    encoding: str
    too_large: bool
    elapsed: float
    cert_not_after: float | None
    now: float


def judge(spec: HttpSpec, seen: Observed) -> list[Problem]:
    problems: list[Problem] = []
    if not any(lo <= seen.status_code <= hi for lo, hi in spec.valid_status_codes):
        problems.append((Status.CRITICAL,
                         f"HTTP {seen.status_code} (expected {spec.describe_valid_codes()})"))
    if spec.fail_if_ssl and seen.is_tls:
        problems.append((Status.CRITICAL, "served over TLS but fail_if_ssl is set"))
    if spec.fail_if_not_ssl and not seen.is_tls:
        problems.append((Status.CRITICAL, "not served over TLS (fail_if_not_ssl)"))
    problems += _header_problems(spec.fail_if_header_matches, seen.headers, fail_on_match=True)
    problems += _header_problems(spec.fail_if_header_not_matches, seen.headers,
                                 fail_on_match=False)
    if seen.too_large:
        problems.append((Status.CRITICAL,
                         f"body exceeds limit of {fmt_bytes(spec.body_size_limit)}"))
    elif seen.body is not None:
        problems += body_problems(spec, seen.body.decode(seen.encoding, errors="replace"))
    latency = spec.latency_status(seen.elapsed)
    if latency is not Status.OK:
        limit = spec.latency_critical if latency is Status.CRITICAL else spec.latency_warning
        problems.append((latency, f"slow: {fmt_seconds(seen.elapsed)} (limit {limit:g}s)"))
    if seen.cert_not_after is not None:
        days = (seen.cert_not_after - seen.now) / 86400
        cert = threshold_status(days, spec.cert_expiry_warning_days,
                                spec.cert_expiry_critical_days, higher_is_worse=False)
        if cert is not Status.OK:
            problems.append((cert, f"certificate expires in {days:.1f} days"))
    return problems


def _header_problems(rules: tuple[HeaderMatch, ...], headers: Mapping[str, str],
                     *, fail_on_match: bool) -> list[Problem]:
    problems: list[Problem] = []
    for rule in rules:
        value = headers.get(rule.header)
        if value is None:
            if not rule.allow_missing:
                problems.append((Status.CRITICAL, f"header {rule.header} missing"))
            continue
        if bool(rule.regexp.search(value)) == fail_on_match:
            verb = "matches" if fail_on_match else "does not match"
            problems.append((Status.CRITICAL,
                             f"header {rule.header} {verb} {rule.regexp.pattern!r}"))
    return problems


def body_problems(spec: HttpSpec, text: str) -> list[Problem]:
    problems: list[Problem] = []
    for pattern in spec.fail_if_body_matches_regexp:
        if pattern.search(text):
            problems.append((Status.CRITICAL, f"body matches {pattern.pattern!r}"))
    for pattern in spec.fail_if_body_not_matches_regexp:
        if not pattern.search(text):
            problems.append((Status.CRITICAL, f"body does not match {pattern.pattern!r}"))
    for word in spec.keyword:
        if word not in text:
            problems.append((Status.CRITICAL, f"keyword {word!r} not found"))
    for word in spec.forbidden_keyword:
        if word in text:
            problems.append((Status.CRITICAL, f"forbidden keyword {word!r} found"))
    if spec.json_fields:
        problems += json_problems(spec.json_fields, text)
    return problems


def json_problems(expected: Mapping[str, Any], text: str) -> list[Problem]:
    """Dotted paths into the body: "data.0.status" = key "data", list index 0, key "status".

    Values compare with ==, except that a boolean only equals a boolean (so 1 != true).
    Keys that contain a dot cannot be addressed; use a regexp on the body for those.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        return [(Status.CRITICAL, f"body is not JSON ({exc})")]
    problems: list[Problem] = []
    for path, want in expected.items():
        got = lookup(document, path)
        if got is _MISSING:
            problems.append((Status.CRITICAL, f"JSON {path} missing"))
        elif isinstance(got, bool) != isinstance(want, bool) or got != want:
            problems.append((Status.CRITICAL,
                             f"JSON {path} is {_short(got)} (expected {_short(want)})"))
    return problems


def lookup(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
