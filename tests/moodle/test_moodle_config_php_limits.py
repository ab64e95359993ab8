"""The config.php reader on hostile and broken input: bounded work, clear errors.

A file an intruder (or a broken deploy script) writes must give PHP's value or a
PhpLimitError naming the line, never a RecursionError, a gigabyte string or a hang.
These assert on results and errors, never on time.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from checks.moodle.config_php import (
    PhpLimitError,
    PhpObject,
    PhpSyntaxError,
    parse_config_php,
    parse_php,
    to_python,
)


def value(expression: str) -> object:
    parsed = parse_php(f"<?php\n$CFG = new stdClass();\n$CFG->v = {expression};\n",
                       "/m/config.php")
    return parsed.variables["CFG"].props["v"]


def limit_error(source: str) -> PhpLimitError:
    with pytest.raises(PhpLimitError) as excinfo:
        parse_php(source, "/m/config.php")
    return excinfo.value


def test_a_shift_by_ten_billion_is_zero_as_in_php() -> None:
    assert value("1<<9999999999") == 0
    assert value("-1>>9999999999") == -1


def test_two_to_the_billion_overflows_to_infinity_as_in_php() -> None:
    result = value("2**999999999")
    assert isinstance(result, float) and math.isinf(result)


def test_str_repeat_of_a_trillion_is_refused_before_it_is_built() -> None:
    error = limit_error("<?php\n$CFG = new stdClass();\n\n$CFG->v = str_repeat('a', 1e12);\n")
    assert error.line == 4 and "over Vigil's limit" in str(error)


def test_doubling_a_string_stops_at_the_string_limit() -> None:
    source = "<?php\n$s = 'abcdefgh';\n" + "$s .= $s;\n" * 40
    error = limit_error(source)
    assert "over Vigil's limit" in str(error)


@pytest.mark.parametrize(("opener", "closer"), [("(", ")"), ("[", "]"), ("array(", ")")])
def test_a_hundred_thousand_nested_brackets_are_a_clear_error(opener: str,
                                                              closer: str) -> None:
    source = "<?php\n$CFG->v = " + opener * 100_000 + "1" + closer * 100_000 + ";\n"
    error = limit_error(source)
    assert error.line == 2 and "nest deeper than 64 levels" in str(error)


@pytest.mark.parametrize("chain", ["- " * 15_000 + "1", "!" * 15_000 + "1",
                                   "(int)" * 15_000 + "1", "1" + " ** 1" * 15_000,
                                   "null ?? " * 15_000 + "1", "1 ?: " * 15_000 + "1"])
def test_long_operator_chains_are_a_clear_error(chain: str) -> None:
    error = limit_error("<?php\n$CFG->v = " + chain + ";\n")
    assert error.line == 2 and "nests too deeply" in str(error)


def test_ten_thousand_nested_ifs_in_skipped_code_are_a_clear_error() -> None:
    error = limit_error("<?php\n" + "if (true) " * 10_000 + "$CFG->x = 1;\n")
    assert "nest deeper than 64 levels" in str(error)


def test_a_long_else_if_chain_is_skipped_without_recursion() -> None:
    source = "<?php\nif (1) { $CFG->a = 1; }" + " else if (1) { $CFG->a = 2; }" * 3_000 \
        + "\n$CFG->b = 2;\n"
    parsed = parse_php(source)
    assert parsed.variables["CFG"].props == {"b": 2}
    assert parsed.warnings[0].startswith("line 2: `if` block skipped")


def test_arrays_nested_through_variables_are_bounded() -> None:
    error = limit_error("<?php\n$a = 1;\n" + "$a = [$a];\n" * 100)
    assert "nest deeper than 64 levels" in str(error) and error.line == 67


def test_shared_arrays_that_would_expand_exponentially_are_refused() -> None:
    # 40 lines that would be a trillion elements expanded (to_python, ==, a TOML dump)
    error = limit_error("<?php\n$a = [1];\n" + "$a = [$a, $a];\n" * 40)
    assert "more than 100000 elements" in str(error)


def test_comparing_shared_arrays_stays_bounded() -> None:
    source = "<?php\n$a = [1];\n" + "$a = [$a, $a];\n" * 15 + "$CFG->same = $a == $a;\n"
    assert parse_php(source).variables["CFG"].props["same"] is True


def test_an_object_holding_itself_converts_without_recursing() -> None:
    parsed = parse_php("<?php\n$CFG = new stdClass();\n$CFG->a = 1;\n$CFG->me = $CFG;\n")
    assert to_python(parsed.variables["CFG"]) == {"a": 1, "me": "<recursion>"}


def test_objects_shared_many_times_convert_to_a_bounded_size() -> None:
    source = "<?php\n$o = new stdClass();\n" + \
        "$n = new stdClass();\n$n->a = $o;\n$n->b = $o;\n$o = $n;\n" * 40
    converted = str(to_python(parse_php(source).variables["o"]))
    assert "<too large>" in converted and len(converted) < 10_000_000


def test_too_many_tokens_are_refused() -> None:
    error = limit_error("<?php\n" + "$a = 1;\n" * 15_000)
    assert "more than 50000 tokens" in str(error)


def test_a_file_larger_than_a_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    config = tmp_path / "config.php"
    config.write_text("<?php\n$CFG->a = 1;\n" + "// padding\n" * 200_000)
    with pytest.raises(PhpLimitError, match="over 1048576 characters"):
        parse_config_php(config)


def test_limit_errors_are_syntax_errors_for_every_existing_caller() -> None:
    assert issubclass(PhpLimitError, PhpSyntaxError)


def test_a_huge_integer_literal_becomes_a_float_without_int_conversion_limits() -> None:
    assert value("9" * 5000) == math.inf
    assert value("0x" + "F" * 5000) == math.inf
    assert value("'" + "9" * 5000 + "' + 0") == math.inf


def test_object_creation_keeps_a_plain_object() -> None:
    assert isinstance(value("new stdClass()"), PhpObject)


def test_expressions_inside_one_string_count_toward_the_token_limit() -> None:
    error = limit_error('<?php\n$CFG->v = "' + "$a" * 100_000 + '";\n')
    assert "too many tokens" in str(error) and error.line == 2
