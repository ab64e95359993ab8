"""The PHP constants and functions a config.php or version.php commonly uses.

Part of the safe reader (php_eval.py calls these). Only functions without side effects
are modelled; ``getenv()`` and the like are Unresolved because Vigil does not run in
the web server's environment. Values of Moodle's own constants are copied from
lib/setuplib.php and lib/moodlelib.php (moodle/moodle); PHP's from PHP 8.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.moodle.php_values import (
    Unresolved,
    lift,
    php_bool,
    php_dirname,
    php_int,
    php_number,
    php_realpath,
    php_str,
)

_E_ALL, _E_STRICT = 32767, 2048
BUILTIN_CONSTANTS: dict[str, Any] = {
    "DIRECTORY_SEPARATOR": "/", "PATH_SEPARATOR": ":", "PHP_EOL": "\n",
    "PHP_INT_MAX": 2**63 - 1, "PHP_INT_SIZE": 8, "PHP_OS": "Linux", "PHP_OS_FAMILY": "Linux",
    "E_ERROR": 1, "E_WARNING": 2, "E_PARSE": 4, "E_NOTICE": 8, "E_CORE_ERROR": 16,
    "E_USER_ERROR": 256, "E_USER_WARNING": 512, "E_USER_NOTICE": 1024, "E_STRICT": _E_STRICT,
    "E_DEPRECATED": 8192, "E_USER_DEPRECATED": 16384, "E_ALL": _E_ALL,
    # lib/setuplib.php (debug levels) and lib/moodlelib.php (maturity, ANY_VERSION)
    "DEBUG_NONE": 0, "DEBUG_MINIMAL": 1 | 4, "DEBUG_NORMAL": 1 | 4 | 2 | 8,
    "DEBUG_ALL": _E_ALL & ~_E_STRICT, "DEBUG_DEVELOPER": _E_ALL | _E_STRICT,
    "MATURITY_ALPHA": 50, "MATURITY_BETA": 100, "MATURITY_RC": 150, "MATURITY_STABLE": 200,
    "ANY_VERSION": "any",
}


def _trim(chars_default: str, strip: Callable[[str, str], str]) -> Callable[..., Any]:
    return lambda s, chars=chars_default: strip(php_str(s), php_str(chars))


_TRIM_CHARS = " \t\n\r\0\x0b"
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "dirname": lambda path, levels=1: php_dirname(php_str(path), php_int(levels)),
    "basename": lambda path, *_: php_str(path).rstrip("/").rsplit("/", 1)[-1],
    "realpath": lambda path: php_realpath(php_str(path)),
    "trim": _trim(_TRIM_CHARS, str.strip), "rtrim": _trim(_TRIM_CHARS, str.rstrip),
    "ltrim": _trim(_TRIM_CHARS, str.lstrip), "chop": _trim(_TRIM_CHARS, str.rstrip),
    "strtolower": lambda s: php_str(s).lower(), "strtoupper": lambda s: php_str(s).upper(),
    "intval": php_int, "boolval": php_bool, "strval": php_str,
    "floatval": lambda v: float(php_number(v)),
    "str_replace": lambda a, b, s: php_str(s).replace(php_str(a), php_str(b)),
    "implode": lambda glue, parts=None: _implode(glue, parts),
    "join": lambda glue, parts=None: _implode(glue, parts),
    "is_null": lambda v: v is None, "is_string": lambda v: isinstance(v, str),
    "is_numeric": lambda v: _is_numeric(v),
}


def _implode(glue: Any, parts: Any) -> str:
    if parts is None and isinstance(glue, dict):
        glue, parts = "", glue
    if not isinstance(parts, dict):
        raise ValueError("implode() needs an array")
    return php_str(glue).join(php_str(v) for v in parts.values())


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        php_number(value)
    except ValueError:
        return False
    return value is not None


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
