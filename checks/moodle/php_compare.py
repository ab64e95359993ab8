"""PHP 8's comparisons: ``==``, ``===``, ``<``, ``<=>`` and friends.

Part of the safe config.php reader (php_ops.py maps the operator tokens here).
Transcribed from zend_compare, zendi_smart_strcmp, compare_longs_to_string and
zend_is_identical in Zend/zend_operators.c of PHP 8.2: a number meets a string
numerically only when the string is numeric ("abc" == 0 is false since PHP 8), two
numeric strings compare as numbers ("1e3" == "1000"), an int meets a float as a
float, arrays compare by count and then key by key, ``===`` on arrays wants the same
order and types. Objects are refused: a config.php never compares them.
"""

from __future__ import annotations

import math
from typing import Any

from checks.moodle.php_limits import MAX_DEPTH, LimitExceeded
from checks.moodle.php_numbers import PhpTypeError, float_str, numeric_string
from checks.moodle.php_values import PhpObject, php_bool

_UNCOMPARABLE = 1  # what zend_compare answers for arrays with different keys


def _three(a: float | int, b: float | int) -> int:
    """ZEND_THREEWAY_COMPARE: NAN compares as "greater", as in C's fallthrough."""
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
    return 0 if a == b else (-1 if a < b else 1)


def _strcmp(a: str, b: str) -> int:
    # Python orders str by code point, which for UTF-8 is PHP's byte order.
    return 0 if a == b else (-1 if a < b else 1)


def _smart_strcmp(a: str, b: str) -> int:
    left, right = numeric_string(a), numeric_string(b)
    if left is None or right is None:
        return _strcmp(a, b)
    (x, oflow1), (y, oflow2) = left, right
    if oflow1 != 0 and oflow1 == oflow2 and float(x) - float(y) == 0.0:
        return _strcmp(a, b)  # both overflowed the same way: digits decide
    if isinstance(x, float) or isinstance(y, float):
        if not isinstance(x, float) and oflow2:
            return -oflow2
        if not isinstance(y, float) and oflow1:
            return oflow1
        if x == y and x in (float("inf"), float("-inf")):
            return _strcmp(a, b)
        diff = float(x) - float(y)
        return 1 if diff > 0 else (-1 if diff < 0 else 0)
    return _three(x, y)


def _number_to_string(number: int | float, text: str, number_first: bool) -> int:
    parsed = numeric_string(text)
    if parsed is not None:
        result = _three(number, parsed[0])
    else:
        as_text = float_str(number) if isinstance(number, float) else str(number)
        result = _strcmp(as_text, text)
    return result if number_first else -result


def _refuse_unmodelled(a: Any, b: Any) -> None:
    if isinstance(a, PhpObject) or isinstance(b, PhpObject):
        raise PhpTypeError("comparing objects is not modelled")
    # NAN against strings and other types goes through paths of zend_compare whose
    # answers differ by operator; no config.php compares NAN, so refuse rather than guess.
    if any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        raise PhpTypeError("comparisons with NAN are not modelled")


def compare(a: Any, b: Any, depth: int = 0) -> int:
    """zend_compare: -1, 0 or 1 (1 also for "uncomparable")."""
    _refuse_unmodelled(a, b)
    if depth > MAX_DEPTH:
        raise LimitExceeded("arrays compared are nested too deeply")
    num = (int, float)
    if isinstance(a, num) and not isinstance(a, bool) and isinstance(b, num) \
            and not isinstance(b, bool):
        return _three(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return _smart_strcmp(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return _compare_arrays(a, b, depth)
    if a is None and isinstance(b, str):
        return 0 if b == "" else -1
    if b is None and isinstance(a, str):
        return 0 if a == "" else 1
    if isinstance(a, num) and not isinstance(a, bool) and isinstance(b, str):
        return _number_to_string(a, b, True)
    if isinstance(b, num) and not isinstance(b, bool) and isinstance(a, str):
        return _number_to_string(b, a, False)
    if a is None or a is False:
        return -1 if php_bool(b) else 0
    if a is True:
        return 0 if php_bool(b) else 1
    if b is None or b is False:
        return 1 if php_bool(a) else 0
    if b is True:
        return 0 if php_bool(a) else -1
    if isinstance(a, dict):
        return 1
    if isinstance(b, dict):
        return -1
    raise PhpTypeError("these operands are not comparable")


def _compare_arrays(a: dict[Any, Any], b: dict[Any, Any], depth: int) -> int:
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for key, value in a.items():
        if key not in b:
            return _UNCOMPARABLE
        result = compare(value, b[key], depth + 1)
        if result:
            return result
    return 0


def loose_equal(a: Any, b: Any) -> bool:
    _refuse_unmodelled(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        # == on arrays: same key/value pairs (loosely), in any order
        return len(a) == len(b) and all(k in b and loose_equal(v, b[k])
                                        for k, v in a.items())
    if isinstance(a, str) and isinstance(b, str) and a == b:
        return True
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            return float(a) == float(b)  # NAN == NAN is false in PHP too
    return compare(a, b) == 0


def identical(a: Any, b: Any, depth: int = 0) -> bool:
    """``===``: same type and value; arrays in the same order with identical values."""
    if depth > MAX_DEPTH:
        raise LimitExceeded("arrays compared are nested too deeply")
    if isinstance(a, PhpObject) or isinstance(b, PhpObject):
        return a is b  # the same instance, as PHP's === on objects
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            ka == kb and type(ka) is type(kb) and identical(va, vb, depth + 1)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True))
    return bool(a == b)


def spaceship(a: Any, b: Any) -> int:
    return compare(a, b)


def less(a: Any, b: Any) -> bool:
    return compare(a, b) < 0


def less_equal(a: Any, b: Any) -> bool:
    return compare(a, b) <= 0


def greater(a: Any, b: Any) -> bool:
    return compare(b, a) < 0  # PHP compiles a > b as b < a


def greater_equal(a: Any, b: Any) -> bool:
    return compare(b, a) <= 0
