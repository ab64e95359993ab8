"""Turn pydantic's validation errors into the ``path: rule`` lines Vigil's users read.

Used by monitor/app/config.py ``parse_config`` (and so by ``vigil config validate``,
start-up and SIGHUP reloads): ``lms[0].checks.http.timeout: must be > 0``. Paths drop
the tags pydantic adds for discriminated unions, and messages never echo a string input,
which may be a resolved secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError


def format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        message = _message(err)
        # Cross-field rules on the whole file already name their path in the message.
        problems.append(message if not err["loc"] else f"{format_loc(err['loc'])}: {message}")
    return problems


def format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    items = list(loc)
    for item in items:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + format_key(str(item)))
    return "".join(parts) or "(top level)"


def format_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (``checks."a b"``,
    ``""``), so that a path stays one unambiguous path whatever the keys are."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "greater_than":
        return f"must be > {err['ctx']['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {err['ctx']['ge']}"
    if kind == "less_than_equal":
        return f"must be <= {err['ctx']['le']}"
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} does not match {err['ctx']['pattern']}"
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    # Echo wrong-typed input, but never a string: it may be a resolved secret.
    if kind != "check_type" and (kind.endswith("_type") or kind.endswith("_parsing")) and (
        not isinstance(err.get("input"), str | dict | list)
    ):
        return f"{msg} (got {err.get('input')!r})"
    return msg


# Deepest nesting a config may use; Vigil's own tables need fewer than ten levels.
MAX_DEPTH = 64


def too_deep_path(raw: dict[str, Any]) -> str | None:
    """The path of a value nested deeper than MAX_DEPTH, if any (walked without recursion,
    so a hostile file cannot exhaust the stack of the recursive steps after this one)."""
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{format_key(str(k))}" if path else format_key(str(k)),
                          depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None
