"""Judging one journey step's answer: known bad answers first, then the assertions.

Pure: takes the step's spec and what came back (values.StepAnswer) and returns why the
step failed, in words for an alert, or None. ``fail_when`` entries go first so that a
known failure (Moodle's "Invalid login", a 404 error page) is named by what it means
rather than by the status code it happens to carry. ``{match}`` in a reason quotes the
body regex's first group, else the URL regex's (the path a redirect ended on).
"""

from __future__ import annotations

import html
import re

from checks.http_spec import parse_status
from checks.journey.spec import FailWhen, StepSpec
from checks.journey.values import StepAnswer, found, json_at
from checks.json_endpoint import short


def judge(step: StepSpec, answer: StepAnswer) -> str | None:
    if answer.error is not None:
        return answer.error
    code = answer.status_code
    for rule in step.fail_when:
        reason = _fails(rule, answer)
        if reason is not None:
            return f"{reason} (HTTP {code})"
    if not any(low <= code <= high for low, high in step.statuses()):
        wanted = ", ".join(str(s) for s in step.expect_status)
        return f"HTTP {code}, expected {wanted}" + _title(answer.text)
    for text in step.expect_contains:
        if text not in answer.text:
            return f"the answer does not contain {text!r} (HTTP {code})"
    for pattern in step.expect_regex:
        if re.search(pattern, answer.text) is None:
            return f"the answer does not match {pattern!r} (HTTP {code})"
    if step.expect_json:
        document, why = answer.json()
        if why is not None:
            return why
        for path, wanted in step.expect_json.items():
            value = json_at(document, path)
            if not found(value):
                return f"the JSON answer has no field {path!r} (HTTP {code})"
            if value != wanted:
                return f"JSON field {path!r} is {short(repr(value), 60)}, expected {wanted!r}"
    return None


def _fails(rule: FailWhen, answer: StepAnswer) -> str | None:
    """The rule's reason if every condition it sets holds, else None."""
    if rule.status is not None and not any(
            low <= answer.status_code <= high for low, high in map(parse_status, rule.status)):
        return None
    quoted = ""
    if rule.url_regex is not None:
        match = re.search(rule.url_regex, answer.url)
        if match is None:
            return None
        if match.re.groups:  # quoted unless a body regex gives {match}
            quoted = match.group(1) or ""
    if rule.regex is not None:
        match = re.search(rule.regex, answer.text)
        if match is None:
            return None
        quoted = match.group(1) if match.re.groups else match.group(0)
    return rule.reason.replace("{match}", short(html.unescape(quoted).strip(), 120))


def _title(text: str) -> str:
    """ " (page title 'X')": what an error page calls itself."""
    match = re.search(r"<title[^>]*>([^<]*)</title", text[:20000], re.IGNORECASE)
    title = short(html.unescape(match.group(1)).strip(), 60) if match else ""
    return f" (page title {title!r})" if title else ""
