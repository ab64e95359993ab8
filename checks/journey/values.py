"""Values a journey carries from step to step: what a step extracts, and the templates
later steps fill with them.

Pure: works on a step's answer (status, final URL, headers, body text) and the run's
cookie jar. Extracted values (login tokens, session keys) are session secrets: they are
never put in a Result, only their names are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from checks.journey.select import parse_selector, select_first
from checks.journey.spec import PLACEHOLDER, Extract

_MISSING = object()


@dataclass(frozen=True, slots=True)
class StepAnswer:
    """What one step got back (after redirects), or ``error`` when nothing came."""

    status_code: int = 0
    url: str = ""
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    text: str = ""
    error: str | None = None

    def json(self) -> tuple[Any, str | None]:
        """The parsed body, or None and why it is not JSON."""
        try:
            return json.loads(self.text), None
        except ValueError:
            kind = self.headers.get("content-type", "").split(";")[0].strip() or "a body"
            return None, f"HTTP {self.status_code} answered {kind} that is not JSON"


def json_at(document: Any, path: str) -> Any:
    """The value at a dotted path ("user.id", "results.0.id"), or _MISSING."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and \
                -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def found(value: Any) -> bool:
    return value is not _MISSING


def extract(spec: Extract, answer: StepAnswer, cookies: httpx.Cookies) -> str | None:
    """The extracted text, or None when the source matched nothing."""
    if spec.regex is not None:
        match = re.search(spec.regex, answer.text)
        if match is None:
            return None
        return match.group(1) if match.re.groups else match.group(0)
    if spec.css is not None:
        return select_first(answer.text, parse_selector(spec.css), spec.attr)
    if spec.json_path is not None:
        document, _ = answer.json()
        value = json_at(document, spec.json_path) if document is not None else _MISSING
        if not found(value) or value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)
    if spec.cookie is not None:
        return _cookie(cookies, spec.cookie)
    return answer.headers.get(spec.header or "")


def _cookie(cookies: httpx.Cookies, name: str) -> str | None:
    values = [c.value for c in cookies.jar if c.name == name and c.value is not None]
    return values[-1] if values else None


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced; ``{{`` and ``}}`` are literal braces.
    Names were checked at config load; a name without a value renders empty."""
    parts = re.split(r"(\{\{|\}\})", template)
    out = []
    for part in parts:
        if part in ("{{", "}}"):
            out.append(part[0])
        else:
            out.append(PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), part))
    return "".join(out)
