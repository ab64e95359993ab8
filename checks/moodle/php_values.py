"""PHP values as Python sees them, and the few PHP semantics config.php needs.

Part of the safe config.php reader (config_php.py -> php_eval.py -> here): PHP's
string conversion, truthiness, arrays (values, with bounded size) and their keys,
``dirname()``, and the ``Unresolved`` marker for what only a running PHP would know.
Numbers live in php_numbers.py. Pure functions, no I/O except ``realpath``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checks.moodle.php_limits import MAX_ARRAY, MAX_DEPTH, LimitExceeded, check_length
from checks.moodle.php_numbers import (
    INT_MAX,
    PhpTypeError,
    float_str,
    float_to_int,
    in_range,
    to_int,
    to_number,
)


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


class PhpArray(dict):  # type: ignore[type-arg]
    """A PHP array: an ordered dict that knows its expanded size and depth.

    PHP arrays are values: two variables may share one underneath, and Vigil copies
    before it changes one (assignments in php_eval.py). Sharing means ``$a = [$a, $a]``
    ten times builds a small structure that expands to a thousand elements, so each
    array carries its expanded ``weight`` and ``depth``, checked against the limits
    when it is built.
    """

    __slots__ = ("weight", "depth", "next_free")
    weight: int
    depth: int
    next_free: int  # the key of the next ``[] =``: PHP remembers it across unset()


def weight_of(value: Any) -> tuple[int, int]:
    """(expanded weight, array depth) of a value; strings weigh by their length."""
    if isinstance(value, PhpArray):
        return value.weight, value.depth
    if isinstance(value, dict):
        array = new_array(value)
        return array.weight, array.depth
    if isinstance(value, str):
        return 1 + len(value) // 64, 0
    return 1, 0


def new_array(items: dict[Any, Any] | None = None) -> PhpArray:
    """An array of these items; raises LimitExceeded past MAX_ARRAY or MAX_DEPTH."""
    array = PhpArray(items or {})
    weight, depth = 1, 1
    for value in array.values():
        w, d = weight_of(value)
        weight, depth = weight + w, max(depth, d + 1)
    _check(weight, depth)
    array.weight, array.depth, array.next_free = weight, depth, _largest_int_key(array)
    return array


def with_item(array: dict[Any, Any], key: Any, value: Any) -> PhpArray:
    """A copy of ``array`` with ``key`` set: PHP's copy-on-write, done eagerly."""
    base = array if isinstance(array, PhpArray) else new_array(array)
    copy = PhpArray(base)
    old = weight_of(base[key])[0] if key in base else 0
    w, d = weight_of(value)
    copy.weight, copy.depth = base.weight - old + w, max(base.depth, d + 1)
    _check(copy.weight, copy.depth)
    copy[key] = value
    copy.next_free = max(base.next_free, key + 1) if isinstance(key, int) else base.next_free
    return copy


def _check(weight: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LimitExceeded(f"arrays nest deeper than {MAX_DEPTH} levels")
    if weight > MAX_ARRAY:
        raise LimitExceeded(f"an array holds more than {MAX_ARRAY} elements in all")


def php_str(value: Any) -> str:
    """PHP's string conversion (echo, concatenation, interpolation)."""
    if isinstance(value, bool):
        return "1" if value else ""
    if value is None:
        return ""
    if isinstance(value, float):
        return float_str(value)
    if isinstance(value, dict):
        return "Array"  # with PHP's "Array to string conversion" warning
    if isinstance(value, PhpObject):
        raise PhpTypeError(f"object of class {value.cls} cannot be converted to string")
    return str(value)


def concat(a: Any, b: Any) -> str:
    left, right = php_str(a), php_str(b)
    check_length(len(left) + len(right))
    return left + right


def php_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, dict):
        return bool(value)
    if isinstance(value, PhpObject):
        return True
    return value is not None and value is not False and value != 0


def php_number(value: Any) -> int | float:
    """The number an arithmetic operator sees (TypeError for a non-numeric string)."""
    return to_number(value)


def php_int(value: Any) -> int:
    """(int) and intval()."""
    return to_int(value)


_INT_KEY = re.compile(r"-?[1-9][0-9]*|0")


def array_key(key: Any) -> int | str:
    """PHP's array key casting: "5" -> 5, "-5" -> -5, "05" stays, true -> 1, null -> "",
    2.7 -> 2; an array or object as key is PHP's "Illegal offset type" TypeError."""
    if isinstance(key, bool):
        return int(key)
    if key is None:
        return ""
    if isinstance(key, float):
        return float_to_int(key)
    if isinstance(key, str) and _INT_KEY.fullmatch(key):
        number = int(key) if len(key) <= 20 else INT_MAX + 1
        return number if in_range(number) else key
    if isinstance(key, int | str):
        return key
    raise PhpTypeError("Illegal offset type (an array or object as key)")


def next_key(array: dict[Any, Any]) -> int:
    """The key ``[] =`` and a key-less element get: one past the largest int key ever
    stored (negative ones included, as PHP 8.2 does), 0 for none."""
    if isinstance(array, PhpArray):
        return array.next_free
    return _largest_int_key(array)


def _largest_int_key(array: dict[Any, Any]) -> int:
    ints = [k for k in array if isinstance(k, int)]
    return max(ints) + 1 if ints else 0


def php_dirname(path: str, levels: int = 1) -> str:
    if levels < 1:
        raise PhpTypeError("dirname(): Argument #2 ($levels) must be greater than or "
                           "equal to 1")
    for _ in range(levels):
        if not path:
            return ""
        stripped = path.rstrip("/")
        if not stripped:
            return "/" if path.startswith("/") else "."
        head = posixpath.dirname(stripped)
        parent = head.rstrip("/") or ("/" if head.startswith("/") else ".")
        if parent == path:  # "/" and "." are their own parents: stop early
            break
        path = parent
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
    """Plain Python data for TOML/JSON: arrays keyed 0..n-1 become lists.

    Objects are references in PHP and may contain themselves (``$CFG->me = $CFG``) or
    share one object many times: a cycle, nesting past MAX_DEPTH or more than
    MAX_ARRAY values in all become marker strings instead of endless work.
    """
    budget = [MAX_ARRAY]

    def convert(value: Any, seen: tuple[int, ...]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return "<too large>"
        if isinstance(value, Unresolved):
            return str(value)
        if not isinstance(value, dict | PhpObject):
            return value
        if id(value) in seen:
            return "<recursion>"
        if len(seen) > MAX_DEPTH:
            return "<nested too deeply>"
        inner = (*seen, id(value))
        if isinstance(value, PhpObject):
            return {k: convert(v, inner) for k, v in value.props.items()}
        if list(value) == list(range(len(value))):
            return [convert(v, inner) for v in value.values()]
        return {str(k): convert(v, inner) for k, v in value.items()}

    return convert(value, ())
