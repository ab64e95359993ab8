"""PHP values as Python sees them, and the few PHP semantics config.php needs.

Part of the safe config.php reader (config_php.py -> php_eval.py -> here): PHP's
string conversion, truthiness, array keys, ``dirname()``, and the ``Unresolved`` marker
for what only a running PHP would know. Pure functions, no I/O except ``realpath``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "<no fallback>"


_MISSING: Any = _Missing()


@dataclass(frozen=True)
class Unresolved:
    """A value Vigil cannot know without running PHP; ``reason`` says why.

    ``fallback`` is what PHP would use when the unknown part is empty, from
    ``X ?: fallback`` or ``X ?? fallback`` (e.g. ``getenv('DBHOST') ?: 'localhost'``).
    """

    reason: str
    fallback: Any = _MISSING

    @property
    def has_fallback(self) -> bool:
        return self.fallback is not _MISSING

    def __str__(self) -> str:
        return f"<unresolved: {self.reason}>"

    def extend(self, suffix: str) -> Unresolved:
        return Unresolved(self.reason + suffix)


@dataclass
class PhpObject:
    """An object such as ``$CFG`` (a stdClass): just its properties, in order."""

    cls: str = "stdClass"
    props: dict[str, Any] = field(default_factory=dict)


class PhpTypeError(ValueError):
    """An operation PHP 8 would reject (arithmetic on a non-numeric string, ...)."""


def php_str(value: Any) -> str:
    """PHP's string conversion (echo, concatenation)."""
    if isinstance(value, bool):
        return "1" if value else ""
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value).replace("e+", "E+").replace("e-", "E-")
    if isinstance(value, dict):
        return "Array"
    if isinstance(value, PhpObject):
        raise PhpTypeError(f"object of class {value.cls} cannot be converted to string")
    return str(value)


def php_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, dict):
        return bool(value)
    return value is not None and value is not False and value != 0


def php_number(value: Any) -> int | float:
    if isinstance(value, bool) or value is None:
        return int(bool(value))
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise PhpTypeError(f"{value!r} is not a number") from None
    raise PhpTypeError(f"{type(value).__name__} is not a number")


def php_int(value: Any) -> int:
    if isinstance(value, str):
        digits = value.strip()
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        prefix = len(digits) - len(digits.lstrip("0123456789"))
        return sign * int(digits[:prefix]) if prefix else 0
    if isinstance(value, dict):
        return 1 if value else 0
    return int(php_number(value))


def array_key(key: Any) -> int | str:
    """PHP's array key casting: "5" -> 5, true -> 1, null -> "", 2.7 -> 2."""
    if isinstance(key, bool):
        return int(key)
    if key is None:
        return ""
    if isinstance(key, float):
        return int(key)
    if isinstance(key, str) and key.isdigit() and (key == "0" or not key.startswith("0")):
        return int(key)
    if isinstance(key, int | str):
        return key
    return str(key)


def php_dirname(path: str, levels: int = 1) -> str:
    for _ in range(max(1, levels)):
        stripped = path.rstrip("/")
        if not stripped:
            return "/" if path.startswith("/") else "."
        head = posixpath.dirname(stripped)
        path = head.rstrip("/") or ("/" if head.startswith("/") else ".")
    return path


def php_realpath(path: str) -> str | bool:
    """realpath() answers false for a path that does not exist, as in PHP."""
    return os.path.realpath(path) if os.path.exists(path) else False


def lift(fn: Callable[..., Any], *args: Any) -> Any:
    """Apply fn; an Unresolved argument makes the result Unresolved, with the fallback
    computed from the arguments' fallbacks when all of them have one."""
    unknown = [a for a in args if isinstance(a, Unresolved)]
    if not unknown:
        return fn(*args)
    first = unknown[0]
    if not all(a.has_fallback for a in unknown):
        return Unresolved(first.reason)
    try:
        fallback = fn(*(a.fallback if isinstance(a, Unresolved) else a for a in args))
    except (PhpTypeError, ZeroDivisionError, TypeError, ValueError):
        return Unresolved(first.reason)
    if isinstance(fallback, Unresolved):
        return Unresolved(first.reason, fallback.fallback) if fallback.has_fallback \
            else Unresolved(first.reason)
    return Unresolved(first.reason, fallback)


def either(left: Any, right: Any, use_left: Callable[[Any], bool]) -> Any:
    """``left ?: right`` and ``left ?? right``: an unknown left side makes right the fallback."""
    if isinstance(left, Unresolved):
        if isinstance(right, Unresolved):
            return Unresolved(left.reason, right.fallback) if right.has_fallback \
                else Unresolved(left.reason)
        return Unresolved(left.reason, right)
    return left if use_left(left) else right


def to_python(value: Any) -> Any:
    """Plain Python data for TOML/JSON: arrays keyed 0..n-1 become lists."""
    if isinstance(value, dict):
        if list(value) == list(range(len(value))):
            return [to_python(v) for v in value.values()]
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, PhpObject):
        return {k: to_python(v) for k, v in value.props.items()}
    if isinstance(value, Unresolved):
        return str(value)
    return value
