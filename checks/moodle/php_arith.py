"""PHP 8.2's arithmetic and bitwise operators on 64-bit integers and floats.

Part of the safe config.php reader: php_ops.py maps each operator token to one of these.
Transcribed from Zend/zend_operators.c (add_function_fast, mul_function_base,
pow_function_base, div_function_base, mod_function, shift_left_function, ...): an int
result beyond 64 bits becomes the float PHP computes, ``%`` takes the dividend's sign,
a shift of 64 or more gives 0 (or -1), and the exceptions PHP throws become PhpTypeError.
No operand can make these allocate: every int stays within 64 bits.
"""

from __future__ import annotations

import math
from typing import Any

from checks.moodle.php_numbers import (
    INT_MIN,
    PhpTypeError,
    in_range,
    operand_int,
    to_number,
)
from checks.moodle.php_values import PhpArray, new_array


def _numbers(a: Any, b: Any) -> tuple[int | float, int | float]:
    return to_number(a), to_number(b)


def _int_pair(x: int | float, y: int | float) -> tuple[int, int] | None:
    return (x, y) if isinstance(x, int) and isinstance(y, int) else None


def add(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):  # array union: left keys win
        return _union(a, b)
    x, y = _numbers(a, b)
    if pair := _int_pair(x, y):
        total = pair[0] + pair[1]
        return total if in_range(total) else float(x) + float(y)
    return float(x) + float(y)


def _union(a: dict[Any, Any], b: dict[Any, Any]) -> PhpArray:
    result = dict(a)
    for key, value in b.items():
        result.setdefault(key, value)
    return new_array(result)


def sub(a: Any, b: Any) -> int | float:
    x, y = _numbers(a, b)
    if pair := _int_pair(x, y):
        total = pair[0] - pair[1]
        return total if in_range(total) else float(x) - float(y)
    return float(x) - float(y)


def mul(a: Any, b: Any) -> int | float:
    x, y = _numbers(a, b)
    if pair := _int_pair(x, y):
        product = pair[0] * pair[1]  # at most 128 bits
        return product if in_range(product) else float(x) * float(y)
    return float(x) * float(y)


def neg(a: Any) -> int | float:
    """Unary minus compiles to ``a * -1`` in PHP."""
    return mul(a, -1)


def plus(a: Any) -> int | float:
    return mul(a, 1)


def div(a: Any, b: Any) -> int | float:
    x, y = _numbers(a, b)
    if y == 0:
        raise PhpTypeError("Division by zero (DivisionByZeroError)")
    if pair := _int_pair(x, y):
        if pair == (INT_MIN, -1):
            return float(x) / -1.0
        if pair[0] % pair[1] == 0:
            return _trunc_div(*pair)
    return float(x) / float(y)


def _trunc_div(x: int, y: int) -> int:
    quotient = abs(x) // abs(y)
    return quotient if (x < 0) == (y < 0) else -quotient


def mod(a: Any, b: Any) -> int:
    x, y = operand_int(a), operand_int(b)
    if y == 0:
        raise PhpTypeError("Modulo by zero (DivisionByZeroError)")
    if y == -1:  # PHP special-cases it: INT_MIN % -1 would trap in C
        return 0
    remainder = abs(x) % abs(y)
    return -remainder if x < 0 else remainder


def intdiv(a: Any, b: Any) -> int:
    x, y = operand_int(a), operand_int(b)
    if y == 0:
        raise PhpTypeError("Division by zero (DivisionByZeroError)")
    if y == -1 and x == INT_MIN:
        raise PhpTypeError("Division of PHP_INT_MIN by -1 is not an integer (ArithmeticError)")
    return _trunc_div(x, y)


def c_pow(x: float, y: float) -> float:
    """C's pow(): infinities and NaN where Python's math.pow raises."""
    try:
        return math.pow(x, y)
    except OverflowError:
        odd = y.is_integer() and int(y) % 2 == 1
        return -math.inf if x < 0 and odd else math.inf
    except ValueError:
        if x == 0 and y < 0:
            odd = y.is_integer() and int(y) % 2 == 1
            return -math.inf if odd and math.copysign(1.0, x) < 0 else math.inf
        return math.nan


def power(a: Any, b: Any) -> int | float:
    x, y = _numbers(a, b)
    pair = _int_pair(x, y)
    if pair is None:
        return c_pow(float(x), float(y))
    base, exp = pair
    if exp < 0:
        return c_pow(float(base), float(exp))
    if exp == 0:
        return 1
    if base == 0:
        return 0
    # pow_function_base: square-and-multiply, switching to float at the first overflow.
    result, square = 1, base
    while exp >= 1:
        if exp % 2:
            exp -= 1
            product = result * square
            if not in_range(product):
                return float(result) * float(square) * c_pow(float(square), float(exp))
            result = product
        else:
            exp //= 2
            product = square * square
            if not in_range(product):
                return float(result) * c_pow(float(square) * float(square), float(exp))
            square = product
    return result


def shift_left(a: Any, b: Any) -> int:
    x, y = operand_int(a), operand_int(b)
    if y < 0:
        raise PhpTypeError("Bit shift by negative number (ArithmeticError)")
    if y >= 64:
        return 0
    shifted = (x << y) & ((1 << 64) - 1)
    return shifted - (1 << 64) if shifted >> 63 else shifted


def shift_right(a: Any, b: Any) -> int:
    x, y = operand_int(a), operand_int(b)
    if y < 0:
        raise PhpTypeError("Bit shift by negative number (ArithmeticError)")
    if y >= 64:
        return -1 if x < 0 else 0
    return x >> y


def _bitwise(a: Any, b: Any) -> tuple[int, int]:
    if isinstance(a, str) and isinstance(b, str):
        # Two strings combine byte by byte in PHP; no config needs it, so refuse.
        raise PhpTypeError("bitwise operators on two strings are not modelled")
    return operand_int(a), operand_int(b)


def bit_and(a: Any, b: Any) -> int:
    x, y = _bitwise(a, b)
    return x & y


def bit_or(a: Any, b: Any) -> int:
    x, y = _bitwise(a, b)
    return x | y


def bit_xor(a: Any, b: Any) -> int:
    x, y = _bitwise(a, b)
    return x ^ y


def bit_not(a: Any) -> int:
    if isinstance(a, float):
        return ~operand_int(a)
    if isinstance(a, bool) or not isinstance(a, int):
        # ~ on a string flips its bytes and on null/bool/array is a TypeError
        raise PhpTypeError("~ applies to int and float operands only")
    return ~a
