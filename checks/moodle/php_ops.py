"""PHP's operators, casts and value access, as the config.php evaluator needs them.

Part of the safe reader (php_eval.py parses expressions and calls these); the operators
themselves live in php_arith.py (numbers) and php_compare.py (comparisons). PHP 8
semantics: what PHP would throw on becomes Unresolved, "." binds looser than "+".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.moodle import php_arith as ar
from checks.moodle import php_compare as cmp
from checks.moodle.php_limits import MAX_DEPTH, LimitExceeded
from checks.moodle.php_numbers import to_float, to_int
from checks.moodle.php_values import (
    PhpObject,
    PhpTypeError,
    Unresolved,
    array_key,
    concat,
    either,
    lift,
    new_array,
    php_bool,
    php_str,
)


def _to_array(value: Any) -> Any:
    if isinstance(value, PhpObject):
        raise PhpTypeError("(array) of an object is not modelled")
    if isinstance(value, dict):
        return value
    return new_array() if value is None else new_array({0: value})


# (unset), (real) and (object) are refused by the evaluator: the first two are compile
# errors in PHP 8, and no config.php needs the third.
CASTS: dict[str, Callable[[Any], Any]] = {
    "int": to_int, "integer": to_int, "bool": php_bool, "boolean": php_bool,
    "float": to_float, "double": to_float, "string": php_str, "binary": php_str,
    "array": _to_array,
}

# operator -> (precedence, right associative, function); PHP 8's table, where "." binds
# looser than "+"/"-" and "<<"/">>" sit between them.
BINARY: dict[str, tuple[int, bool, Callable[[Any, Any], Any]]] = {
    "??": (10, True, lambda a, b: a),  # handled by either(); placeholder
    "||": (20, False, lambda a, b: php_bool(a) or php_bool(b)),
    "&&": (30, False, lambda a, b: php_bool(a) and php_bool(b)),
    "|": (40, False, ar.bit_or), "^": (42, False, ar.bit_xor), "&": (44, False, ar.bit_and),
    "==": (50, False, cmp.loose_equal), "!=": (50, False, lambda a, b: not cmp.loose_equal(a, b)),
    "<>": (50, False, lambda a, b: not cmp.loose_equal(a, b)),
    "===": (50, False, cmp.identical), "!==": (50, False, lambda a, b: not cmp.identical(a, b)),
    "<=>": (50, False, cmp.spaceship),
    "<": (55, False, cmp.less), "<=": (55, False, cmp.less_equal),
    ">": (55, False, cmp.greater), ">=": (55, False, cmp.greater_equal),
    ".": (60, False, concat),
    "<<": (65, False, ar.shift_left), ">>": (65, False, ar.shift_right),
    "+": (70, False, ar.add), "-": (70, False, ar.sub),
    "*": (80, False, ar.mul), "/": (80, False, ar.div),
    "%": (80, False, ar.mod), "**": (90, True, ar.power),
}
UNARY: dict[str, Callable[[Any], Any]] = {
    "!": lambda v: not php_bool(v), "-": ar.neg, "+": ar.plus, "~": ar.bit_not,
    "@": lambda v: v,
}


def apply(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return lift(fn, *args)
    except (PhpTypeError, ZeroDivisionError, TypeError, ValueError, OverflowError) as exc:
        return Unresolved(f"PHP would fail here: {exc}")
    except RecursionError:  # belt and braces: depth is bounded before this
        raise LimitExceeded(f"values nest deeper than {MAX_DEPTH} levels") from None


def index(value: Any, key: Any) -> Any:
    if isinstance(value, Unresolved):
        return value.extend(f"[{php_str(key) if not isinstance(key, Unresolved) else '?'!r}]")
    if isinstance(key, Unresolved):
        return Unresolved(key.reason)
    try:
        if isinstance(value, dict):
            return value.get(array_key(key))  # a missing key is null, with a warning
        if isinstance(value, str):
            return _string_offset(value, key)
    except PhpTypeError as exc:
        return Unresolved(f"PHP would fail here: {exc}")
    if isinstance(value, PhpObject):
        return Unresolved(f"PHP would fail here: an object of class {value.cls} used as "
                          "an array")
    return None  # null, bool, int, float: null with a warning in PHP


def _string_offset(value: str, key: Any) -> str:
    # PHP indexes bytes; Python strings hold characters, which agree only for ASCII.
    if isinstance(key, bool) or not isinstance(key, int) or not value.isascii():
        raise PhpTypeError("string offsets other than an int into ASCII text are not "
                           "modelled")
    if not -len(value) <= key < len(value):
        raise PhpTypeError(f"uninitialized string offset {key}")
    return value[key]


def prop(value: Any, prop: str) -> Any:
    if isinstance(value, Unresolved):
        return value.extend(f"->{prop}")
    return value.props.get(prop) if isinstance(value, PhpObject) else None


def child(holder: Any, key: Any) -> Any:
    if isinstance(holder, PhpObject):
        return holder.props.get(key)
    return holder.get(key) if isinstance(holder, dict) else None


def set_item(holder: Any, key: Any, value: Any) -> None:
    if isinstance(holder, PhpObject):
        holder.props[key] = value
    else:
        holder[key] = value


def combine(op: str, old: Any, value: Any) -> Any:
    if op == "=":
        return value
    if op == "??=":
        return either(old, value, lambda v: v is not None)
    return apply(BINARY[op[:-1]][2], old, value)
