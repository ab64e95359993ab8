"""Label matchers in Alertmanager's syntax: ``severity=~"critical|page"``, ``team!=ops``.

Used by the route tree and escalation policies (alerts/routing.py) to pick the alerts
they apply to. Semantics follow Alertmanager: a missing label matches as the empty
string, and regular expressions are anchored at both ends (``=~"crit"`` does not match
``critical``). Config may give matchers as Alertmanager strings, as tables
``{name = "lms", op = "=~", value = "moodle-.*"}``, or as a plain table of equalities
``{lms = "moodle-prod", team = "elearning"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from monitor.kernel.spec import StrictModel

Op = Literal["=", "!=", "=~", "!~"]
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ONE = re.compile(
    rf'^\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*'
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"]*?))\s*$'
)


class Matcher(StrictModel):
    name: str = Field(pattern=rf"^{_NAME}$")
    op: Op = "="
    value: str = ""

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.name}{self.op}{self.value!r}: bad regex: {exc}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = str(labels.get(self.name, ""))
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        # re caches compiled patterns; fullmatch is Alertmanager's ^(?:...)$ anchoring.
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"


def _split_top_level(text: str) -> list[str]:
    """Split ``a="x,y", b=~"z"`` on commas that are not inside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def parse_matchers(text: str) -> list[Matcher]:
    """Parse one Alertmanager matcher string, optionally ``{a="b", c!~"d"}`` with braces."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers = []
    for part in _split_top_level(body):
        found = _ONE.match(part)
        if not found:
            raise ValueError(
                f"{part.strip()!r} is not a matcher (use name=\"value\", name!=\"value\", "
                "name=~\"regex\" or name!~\"regex\")"
            )
        quoted = found.group("quoted")
        value = json.loads(f'"{quoted}"') if quoted is not None else found.group("bare").strip()
        matchers.append(Matcher.model_validate(
            {"name": found.group("name"), "op": found.group("op"), "value": value}))
    return matchers


def _coerce(value: Any) -> Any:
    """Accept a string, a list of strings/tables, or a table of equalities."""
    if isinstance(value, str):
        return parse_matchers(value)
    if isinstance(value, Mapping):
        return [{"name": k, "op": "=", "value": v} for k, v in value.items()]
    if isinstance(value, Sequence):
        items: list[Any] = []
        for item in value:
            items.extend(parse_matchers(item) if isinstance(item, str) else [item])
        return items
    raise ValueError("must be a matcher string, a list of matchers or a table of label = value")


Matchers = Annotated[list[Matcher], BeforeValidator(_coerce)]


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)
