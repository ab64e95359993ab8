"""PHP's operators, casts and value access, as the config.php evaluator needs them.

Part of the safe reader (php_eval.py parses expressions and calls these). PHP 8 semantics:
arithmetic on a non-numeric string fails (here: Unresolved), "." binds looser than "+".
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from checks.moodle.php_values import (
    PhpObject,
    PhpTypeError,
    Unresolved,
    array_key,
    either,
    lift,
    php_bool,
    php_int,
    php_number,
    php_str,
)

CASTS: dict[str, Callable[[Any], Any]] = {
    "int": php_int, "integer": php_int, "bool": php_bool, "boolean": php_bool,
    "float": lambda v: float(php_number(v)), "double": lambda v: float(php_number(v)),
    "real": lambda v: float(php_number(v)), "string": php_str, "binary": php_str,
    "array": lambda v: v if isinstance(v, dict) else ({} if v is None else {0: v}),
    "unset": lambda v: None,
}


def _div(a: Any, b: Any) -> int | float:
    x, y = php_number(a), php_number(b)
    return x // y if isinstance(x, int) and isinstance(y, int) and x % y == 0 else x / y


def _numeric(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: fn(php_number(a), php_number(b))


def _integer(fn: Callable[[int, int], int]) -> Callable[[Any, Any], Any]:
    return lambda a, b: fn(php_int(a), php_int(b))


def _loose_eq(a: Any, b: Any) -> bool:
    try:
        return php_number(a) == php_number(b)
    except PhpTypeError:
        return php_str(a) == php_str(b)


# operator -> (precedence, right associative, function); PHP 8's table, where "." binds
# looser than "+"/"-".
BINARY: dict[str, tuple[int, bool, Callable[[Any, Any], Any]]] = {
    "??": (10, True, lambda a, b: a),  # handled by either(); placeholder
    "||": (20, False, lambda a, b: php_bool(a) or php_bool(b)),
    "&&": (30, False, lambda a, b: php_bool(a) and php_bool(b)),
    "|": (40, False, _integer(operator.or_)), "^": (42, False, _integer(operator.xor)),
    "&": (44, False, _integer(operator.and_)),
    "==": (50, False, _loose_eq), "!=": (50, False, lambda a, b: not _loose_eq(a, b)),
    "<>": (50, False, lambda a, b: not _loose_eq(a, b)),
    "===": (50, False, lambda a, b: type(a) is type(b) and a == b),
    "!==": (50, False, lambda a, b: not (type(a) is type(b) and a == b)),
    "<": (55, False, _numeric(operator.lt)), "<=": (55, False, _numeric(operator.le)),
    ">": (55, False, _numeric(operator.gt)), ">=": (55, False, _numeric(operator.ge)),
    ".": (60, False, lambda a, b: php_str(a) + php_str(b)),
    "<<": (65, False, _integer(operator.lshift)), ">>": (65, False, _integer(operator.rshift)),
    "+": (70, False, _numeric(operator.add)), "-": (70, False, _numeric(operator.sub)),
    "*": (80, False, _numeric(operator.mul)), "/": (80, False, _div),
    "%": (80, False, _integer(operator.mod)), "**": (90, True, _numeric(operator.pow)),
}
UNARY: dict[str, Callable[[Any], Any]] = {
    "!": lambda v: not php_bool(v), "-": lambda v: -php_number(v),
    "+": php_number, "~": lambda v: ~php_int(v), "@": lambda v: v,
}



def apply(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return lift(fn, *args)
    except (PhpTypeError, ZeroDivisionError, TypeError, ValueError, OverflowError) as exc:
        return Unresolved(f"PHP would fail here: {exc}")


def index(value: Any, key: Any) -> Any:
    if isinstance(value, Unresolved):
        return value.extend(f"[{php_str(key) if not isinstance(key, Unresolved) else '?'!r}]")
    if isinstance(key, Unresolved):
        return Unresolved(key.reason)
    if isinstance(value, dict):
        return value.get(array_key(key))
    if isinstance(value, str) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return None


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
