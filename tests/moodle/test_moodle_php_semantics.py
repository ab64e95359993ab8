"""PHP 8.2 semantics of the config.php evaluator, without needing a php binary.

The expected values were taken from php 8.2 (``php -n -r 'var_dump(...);'``); the
differential test (test_php_differential.py) checks hundreds more against the real
interpreter when it is installed.
"""

from __future__ import annotations

import math

import pytest

from checks.moodle.config_php import Unresolved, parse_php, to_python


def value(expression: str) -> object:
    parsed = parse_php(f"<?php\n$CFG = new stdClass();\n$CFG->v = {expression};\n",
                       "/m/config.php")
    return parsed.variables["CFG"].props["v"]


@pytest.mark.parametrize(("expression", "expected"), [
    ("-7 % 3", -1), ("7 % -3", 1), ("PHP_INT_MIN % -1", 0),
    ("PHP_INT_MAX + 1", 9.223372036854776e18), ("PHP_INT_MIN - 1", -9.223372036854776e18),
    ("PHP_INT_MAX * 2", 1.8446744073709552e19), ("-PHP_INT_MIN", 9.223372036854776e18),
    ("2 ** 62", 2**62), ("2 ** 63", 9.223372036854776e18), ("(-2) ** 63", -(2**63)),
    ("-2 ** 2", -4), ("2 ** -1", 0.5), ("6 / 3", 2), ("7 / 2", 3.5),
    ("PHP_INT_MIN / -1", 9.223372036854776e18), ("intdiv(-7, 2)", -3),
    ("1 << 63", -(2**63)), ("1 << 64", 0), ("-8 >> 99", -1), ("3 << 62", -(2**62)),
    ("9223372036854775808", 9.223372036854776e18), ("0xFFFFFFFFFFFFFFFF", 1.8446744073709552e19),
    ("'1e3' == '1000'", True), ("'abc' == 0", False), ("null < -1", True),
    ("['a' => 1, 'b' => 2] == ['b' => 2, 'a' => 1]", True),
    ("['a' => 1, 'b' => 2] === ['b' => 2, 'a' => 1]", False), ("['1'] === [1]", False),
    ("(int) 1e20", 7766279631452241920), ("(int) '1e20'", 2**63 - 1), ("(int) NAN", 0),
    ("(int) '12abc'", 12), ("(float) '1e3x'", 1000.0), ("(bool) '0.0'", True),
])
def test_operators_and_casts_give_php_8_values(expression: str, expected: object) -> None:
    result = value(expression)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("expression", "expected"), [
    ("(string) (0.1 + 0.2)", "0.3"), ("(string) 1e20", "1.0E+20"), ("(string) -0.0", "-0"),
    ("(string) 1e15", "1.0E+15"), ("(string) 0.00001", "1.0E-5"), ("(string) 0.0001", "0.0001"),
    ("(string) (1/3)", "0.33333333333333"), ("(string) 123456789012345.678", "1.2345678901235E+14"),
    ("(string) INF", "INF"), ("(string) 1.0", "1"), ("'a' . 1 + 2", "a3"),
])
def test_floats_print_as_php_prints_them_with_precision_14(expression: str,
                                                           expected: str) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize("expression", [
    "1 % 0", "1 / 0", "1 << -1", "'abc' + 1", "'12abc' + 1", "[] + 1", "intdiv(1, 0)",
    "'ab' | 'cd'", "~'a'", "\"\\xe9\"", "str_repeat('x', -1)", "dirname('/a', 0)",
    "[PHP_INT_MAX => 1, 2]",
])
def test_what_php_would_reject_or_vigil_does_not_model_is_unresolved_naming_the_line(
        expression: str) -> None:
    result = value(expression)
    assert isinstance(result, Unresolved) and "line 3" in result.reason


@pytest.mark.parametrize("cast", ["(unset)", "(real)", "(object)"])
def test_casts_php_8_removed_or_vigil_does_not_model_are_refused(cast: str) -> None:
    result = value(f"{cast} 1")
    assert isinstance(result, Unresolved) and "line 3" in result.reason


def test_two_to_the_1024_overflows_to_infinity() -> None:
    assert value("2 ** 1024") == math.inf


def test_arrays_are_copied_on_assignment_like_php_values() -> None:
    props = parse_php("""<?php
$opts = ['dbport' => 5432];
$CFG->dboptions = $opts;
$CFG->dboptions['dbsocket'] = '/run/pg';
$CFG->opts = $opts;
""").variables["CFG"].props
    assert props["opts"] == {"dbport": 5432}
    assert props["dboptions"] == {"dbport": 5432, "dbsocket": "/run/pg"}


def test_unset_of_an_element_keeps_the_next_free_key() -> None:
    props = parse_php("""<?php
$CFG->list = ['a', 'b', 'c'];
unset($CFG->list[2]);
$CFG->list[] = 'd';
""").variables["CFG"].props
    assert props["list"] == {0: "a", 1: "b", 3: "d"}


def test_escaped_utf8_bytes_decode_to_text() -> None:
    assert value('"\\xc3\\xa9t\\xc3\\xa9"') == "été"


def test_array_keys_are_cast_as_php_casts_them() -> None:
    result = value("['-3' => 'a', '08' => 'b', 2.9 => 'c', true => 'd', null => 'e']")
    assert to_python(result) == {"-3": "a", "08": "b", "2": "c", "1": "d", "": "e"}
    assert list(result) == [-3, "08", 2, 1, ""]  # type: ignore[call-overload]


def test_variables_that_skipped_statements_may_assign_become_unresolved() -> None:
    variables = parse_php("""<?php
$i = 1;
$i++;
[$a, $b] = ['x', 'y'];
$c = $d = 5;
if (getenv('X')) { $host = 'db2'; }
$kept = 'yes';
""").variables
    for name, line in (("i", 3), ("a", 4), ("b", 4), ("d", 5), ("host", 6)):
        assert isinstance(variables[name], Unresolved), name
        assert f"line {line}" in variables[name].reason
    assert variables["kept"] == "yes"


def test_and_and_or_short_circuit_like_php() -> None:
    assert value("false && 1 % 0") is False
    assert value("true || 'abc' + 1") is True
    assert isinstance(value("true && 1 % 0"), Unresolved)
