"""The PHP constants and functions a config.php or version.php commonly uses.

Part of the safe reader (php_eval.py calls these). Only functions without side effects
are modelled; ``getenv()`` and the like are Unresolved because Vigil does not run in
the web server's environment. Values of Moodle's own constants are copied from
lib/setuplib.php and lib/moodlelib.php (moodle/moodle); PHP's from PHP 8.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.moodle.php_arith import intdiv
from checks.moodle.php_limits import check_length
from checks.moodle.php_numbers import (
    INT_MAX,
    INT_MIN,
    PhpTypeError,
    numeric_string,
    operand_int,
    to_float,
    to_int,
)
from checks.moodle.php_values import (
    PhpObject,
    Unresolved,
    lift,
    php_bool,
    php_dirname,
    php_realpath,
    php_str,
)

_E_ALL, _E_STRICT = 32767, 2048
BUILTIN_CONSTANTS: dict[str, Any] = {
    "DIRECTORY_SEPARATOR": "/", "PATH_SEPARATOR": ":", "PHP_EOL": "\n",
    "PHP_INT_MAX": INT_MAX, "PHP_INT_MIN": INT_MIN, "PHP_INT_SIZE": 8,
    "PHP_FLOAT_EPSILON": sys.float_info.epsilon, "PHP_FLOAT_MAX": sys.float_info.max,
    "PHP_FLOAT_MIN": sys.float_info.min, "PHP_FLOAT_DIG": 15, "NAN": math.nan, "INF": math.inf,
    "M_PI": math.pi, "M_E": math.e,
    "PHP_OS": "Linux", "PHP_OS_FAMILY": "Linux",
    "E_ERROR": 1, "E_WARNING": 2, "E_PARSE": 4, "E_NOTICE": 8, "E_CORE_ERROR": 16,
    "E_CORE_WARNING": 32, "E_COMPILE_ERROR": 64, "E_COMPILE_WARNING": 128,
    "E_USER_ERROR": 256, "E_USER_WARNING": 512, "E_USER_NOTICE": 1024, "E_STRICT": _E_STRICT,
    "E_RECOVERABLE_ERROR": 4096, "E_DEPRECATED": 8192, "E_USER_DEPRECATED": 16384,
    "E_ALL": _E_ALL,
    # lib/setuplib.php (debug levels) and lib/moodlelib.php (maturity, ANY_VERSION)
    "DEBUG_NONE": 0, "DEBUG_MINIMAL": 1 | 4, "DEBUG_NORMAL": 1 | 4 | 2 | 8,
    "DEBUG_ALL": _E_ALL & ~_E_STRICT, "DEBUG_DEVELOPER": _E_ALL | _E_STRICT,
    "MATURITY_ALPHA": 50, "MATURITY_BETA": 100, "MATURITY_RC": 150, "MATURITY_STABLE": 200,
    "ANY_VERSION": "any",
}


_TRIM_CHARS = " \t\n\r\0\x0b"


def _string_arg(value: Any) -> str:
    """A ``string`` parameter of a PHP 8 function: an array there is a TypeError."""
    if isinstance(value, dict | PhpObject):
        raise PhpTypeError("a string parameter given an array or object (TypeError)")
    return php_str(value)


def _trim(strip: Callable[[str, str], str]) -> Callable[..., str]:
    def trim(text: Any, chars: Any = _TRIM_CHARS) -> str:
        chars = _string_arg(chars)
        if ".." in chars:  # PHP reads "a..z" as a range; not modelled
            raise PhpTypeError("character ranges in trim() are not modelled")
        return strip(_string_arg(text), chars)
    return trim


def _ascii_case(text: Any, upper: bool) -> str:
    # PHP 8.2's strtolower/strtoupper change ASCII letters only, whatever the locale.
    table = _UPPER if upper else _LOWER
    return _string_arg(text).translate(table)


def _str_repeat(text: Any, times: Any) -> str:
    count = operand_int(times)
    if count < 0:
        raise PhpTypeError("str_repeat(): Argument #2 ($times) must be >= 0")
    text = _string_arg(text)
    check_length(len(text) * count)  # before building it: str_repeat('a', 1e12)
    return text * count


def _str_replace(search: Any, replace: Any, subject: Any) -> str:
    if any(isinstance(v, dict) for v in (search, replace, subject)):
        raise PhpTypeError("str_replace() with arrays is not modelled")
    search, replace, subject = _string_arg(search), _string_arg(replace), _string_arg(subject)
    if not search:
        return subject  # PHP leaves the subject alone; Python would insert everywhere
    check_length(len(subject) + subject.count(search) * max(0, len(replace) - len(search)))
    return subject.replace(search, replace)


def _basename(path: Any, suffix: Any = "") -> str:
    name = _string_arg(path).rstrip("/").rsplit("/", 1)[-1]
    suffix = _string_arg(suffix)
    return name[:-len(suffix)] if suffix and name.endswith(suffix) and name != suffix \
        else name


def _intval(value: Any, base: Any = 10) -> int:
    if base != 10 and isinstance(value, str):
        raise PhpTypeError("intval() with a base is not modelled")
    return to_int(value)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "dirname": lambda path, levels=1: php_dirname(_string_arg(path), operand_int(levels)),
    "basename": _basename,
    "realpath": lambda path: php_realpath(_string_arg(path)),
    "trim": _trim(str.strip), "rtrim": _trim(str.rstrip), "ltrim": _trim(str.lstrip),
    "chop": _trim(str.rstrip),
    "strtolower": lambda s: _ascii_case(s, False), "strtoupper": lambda s: _ascii_case(s, True),
    "intval": _intval, "boolval": php_bool, "strval": php_str, "floatval": to_float,
    "str_replace": _str_replace, "str_repeat": _str_repeat, "intdiv": intdiv,
    "strlen": lambda s: len(_string_arg(s).encode("utf-8")),
    "implode": lambda glue, parts=None: _implode(glue, parts),
    "join": lambda glue, parts=None: _implode(glue, parts),
    "is_null": lambda v: v is None, "is_string": lambda v: isinstance(v, str),
    "is_int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "is_float": lambda v: isinstance(v, float), "is_bool": lambda v: isinstance(v, bool),
    "is_array": lambda v: isinstance(v, dict),
    "is_numeric": lambda v: _is_numeric(v),
}


def _implode(glue: Any, parts: Any) -> str:
    if parts is None and isinstance(glue, dict):
        glue, parts = "", glue
    if not isinstance(parts, dict) or isinstance(glue, dict):
        raise PhpTypeError("implode() needs a separator and an array")
    texts = [php_str(v) for v in parts.values()]
    glue = _string_arg(glue)
    check_length(sum(len(t) for t in texts) + len(glue) * max(0, len(texts) - 1))
    return glue.join(texts)


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and numeric_string(value) is not None


def call_function(name: str, args: list[Any], path: Path, constants: dict[str, Any]) -> Any:
    """Evaluate a call to a known pure function; anything else is Unresolved."""
    if name == "getenv":
        what = php_str(args[0]) if args and isinstance(args[0], str) else "..."
        return Unresolved(f"getenv('{what}') is the web server's environment")
    if name in ("defined", "constant") and args and isinstance(args[0], str):
        known = args[0] in constants or args[0] in BUILTIN_CONSTANTS
        if name == "defined":
            return known
        if known:
            return constants.get(args[0], BUILTIN_CONSTANTS.get(args[0]))
        return Unresolved(f"constant {args[0]} is not defined in {path.name}")
    if name in ("isset", "empty"):
        return lift(lambda *vs: all(v is not None for v in vs) if name == "isset"
                    else not php_bool(vs[0]), *args)
    fn = _FUNCTIONS.get(name)
    if fn is None:
        return Unresolved(f"{name}() is only known inside a running PHP")
    try:
        return lift(fn, *args)
    except (TypeError, ValueError) as exc:
        return Unresolved(f"{name}() fails on these arguments: {exc}")
