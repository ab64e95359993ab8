"""The error and token types shared by the safe config.php reader's modules.

Part of the safe reader: php_tokens.py and php_strings.py make Tokens, php_eval.py and
config_php.py consume them; every module raises PhpSyntaxError (or PhpLimitError, when
a file asks for more work than php_limits.py allows) naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PhpSyntaxError(ValueError):
    """The file is not PHP this tokenizer understands; ``line`` is 1-based."""

    def __init__(self, message: str, line: int, source: str = "config.php") -> None:
        self.line = line
        self.source = source
        super().__init__(f"{source} line {line}: {message}")


class PhpLimitError(PhpSyntaxError):
    """The file asks for more work than Vigil will do to read it (php_limits.py).

    A PhpSyntaxError so that every caller already reporting unreadable files reports
    this too, with the line.
    """


@dataclass(frozen=True, slots=True)
class Token:
    # kind: "var" ($name), "name" (identifier/keyword), "str" (literal text),
    # "istr" (interpolated string: value is a list of str | list[Token]),
    # "num" (int/float), "cast", "op", "shell" (backticks), "eof",
    # "bad" (a string Vigil cannot hold exactly; value is the reason)
    kind: str
    value: Any
    line: int
