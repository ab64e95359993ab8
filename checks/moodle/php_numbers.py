"""PHP 8.2's numbers: 64-bit integers that overflow to float, numeric strings, casts.

Part of the safe config.php reader (php_ops.py applies these for operators, php_values.py
for conversions). Transcribed from Zend/zend_operators.c and Zend/zend_operators.h of
PHP 8.2, not guessed from Python: Python's ints never overflow, its ``%`` takes the
divisor's sign and its shifts never stop, and each of those gives a value PHP would not.
Everything here works on bounded 64-bit values, so no operand can make it allocate.
Errors PHP throws (DivisionByZeroError, ArithmeticError, TypeError) raise PhpTypeError,
which the evaluator turns into an Unresolved value naming the line.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

INT_MAX = (1 << 63) - 1
INT_MIN = -(1 << 63)
_TWO_64 = 1 << 64

# PHP's numeric strings (Zend/zend_operators.c _is_numeric_string_ex): optional leading
# and (since 8.0) trailing whitespace, a sign, decimal digits, fraction, exponent.
_WS = " \t\n\r\v\f"
_NUMBER = rf"[{_WS}]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_NUMERIC = re.compile(rf"{_NUMBER}[{_WS}]*\Z")
_LEADING = re.compile(_NUMBER)


class PhpTypeError(ValueError):
    """An operation PHP 8 would reject (arithmetic on a non-numeric string, ...)."""


def in_range(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def _number_text(text: str) -> tuple[int | float, int]:
    """(value, overflow) of matched numeric text; overflow is +1/-1 for an integer string
    beyond 64 bits, which PHP reads as a float."""
    if "." in text or "e" in text or "E" in text:
        return float(text), 0
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 19:  # far beyond 64 bits; float() has no digit-count limit
        value = float(text)
        return value, 1 if value > 0 else -1
    number = int(text)
    if in_range(number):
        return number, 0
    return float(number), 1 if number > 0 else -1


def numeric_string(text: str) -> tuple[int | float, int] | None:
    """(value, overflow) when the whole string is numeric in PHP 8's sense, else None."""
    match = _NUMERIC.match(text)
    if not match:
        return None
    return _number_text(match.group(1))


def to_number(value: Any) -> int | float:
    """The operand of + - * / ** and unary minus: PHP 8 throws on a non-numeric string.

    A leading-numeric string ("5 apples") is a warning and 5 in PHP; Vigil refuses it,
    since a setting that relies on it is a bug, not something to reproduce.
    """
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        parsed = numeric_string(value)
        if parsed is None:
            raise PhpTypeError(f"{value[:40]!r} is not a numeric string")
        return parsed[0]
    raise PhpTypeError(f"unsupported operand type {php_type(value)}")


def php_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string"}.get(type(value), "array"
                                                           if isinstance(value, dict)
                                                           else "object")


def float_to_int(value: float) -> int:
    """(int) of a float (zend_dval_to_lval): modular beyond 64 bits, 0 for INF/NAN."""
    if not math.isfinite(value):
        return 0
    number = int(value)
    if in_range(number):
        return number
    number %= _TWO_64
    return number - _TWO_64 if number > INT_MAX else number


def float_to_int_capped(value: float) -> int:
    """zend_dval_to_lval_cap, used for numeric strings: saturates instead of wrapping."""
    if math.isnan(value):
        return 0
    if value >= 2.0**63:
        return INT_MAX
    if value < -(2.0**63):
        return INT_MIN
    return int(value)


def to_int(value: Any) -> int:
    """(int) and intval(): a string gives its leading number, silently."""
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return float_to_int(value)
    if isinstance(value, str):
        match = _LEADING.match(value)
        if not match:
            return 0
        number, _ = _number_text(match.group(1))
        return number if isinstance(number, int) else float_to_int_capped(number)
    if isinstance(value, dict):
        return 1 if value else 0
    raise PhpTypeError(f"cannot convert {php_type(value)} to int")


def to_float(value: Any) -> float:
    """(float) and floatval(): a string gives its leading number (strtod)."""
    if isinstance(value, str):
        match = _LEADING.match(value)
        return float(match.group(1)) if match else 0.0
    if isinstance(value, dict):
        return 1.0 if value else 0.0
    return float(to_int(value) if not isinstance(value, float) else value)


def operand_int(value: Any) -> int:
    """Operands of % << >> & | ^ ~: like (int), but a non-numeric string is a TypeError."""
    if isinstance(value, str):
        parsed = numeric_string(value)
        if parsed is None:
            raise PhpTypeError(f"{value[:40]!r} is not a numeric string")
        number = parsed[0]
        return number if isinstance(number, int) else float_to_int_capped(number)
    if isinstance(value, dict):
        raise PhpTypeError("unsupported operand type array")
    return to_int(value)


def float_str(value: float, precision: int = 14) -> str:
    """(string) of a float with PHP's default ``precision=14`` (zend_gcvt): "0.3" for
    0.1+0.2, "1.0E+20", "-0", "INF". var_export/json_encode use other rules."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    mantissa, _, exp_text = f"{abs(value):.{precision - 1}e}".partition("e")
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    exponent = int(exp_text)
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= precision:
        rest = digits[1:] or "0"
        return f"{sign}{digits[0]}.{rest}E{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, frac = digits[:exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def float_bits(value: float) -> str:
    """The IEEE bits of a float, for comparing floats exactly (tests, differential)."""
    return "NAN" if math.isnan(value) else struct.pack(">d", value).hex()
