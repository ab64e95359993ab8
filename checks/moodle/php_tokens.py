"""A small tokenizer for the PHP that Moodle's config.php and version.php files use.

Sits under checks/moodle/config_php.py, which evaluates the assignments these tokens
spell; nothing here executes PHP. It knows PHP's lexical rules for what real sites
write in those files: ``<?php``/``?>`` tags, the three comment styles, single- and
double-quoted strings with their escapes and ``$var``/``{$expr}`` interpolation,
heredoc and nowdoc (with PHP 7.3's indented closing marker), numbers in every base,
casts and operators. A lexical error (an unterminated string, a stray character)
raises PhpSyntaxError naming the line.

Why hand-written: the only pure-Python PHP parser on PyPI, phply, is a PLY grammar for
PHP 5 last released in 2023; tree-sitter-php is a compiled extension. A config.php
needs a few hundred lines of lexing, not a whole-language grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from checks.moodle.php_limits import MAX_DEPTH, MAX_TOKENS
from checks.moodle.php_strings import interpolate
from checks.moodle.php_syntax import PhpLimitError, PhpSyntaxError, Token

__all__ = ["PhpLimitError", "PhpSyntaxError", "Token", "tokenize"]

_IDENT = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*")
_NAME = re.compile(r"\\?[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*(?:\\[A-Za-z_\x80-\uffff]"
                   r"[A-Za-z0-9_\x80-\uffff]*)*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*\.?(?:[eE][+-]?\d+)?"
)
_CAST = re.compile(r"\(\s*(int|integer|bool|boolean|float|double|real|string|array|object"
                   r"|unset|binary)\s*\)", re.IGNORECASE)
_HEREDOC_START = re.compile(r"<<<[ \t]*(?:\"([A-Za-z_]\w*)\"|'([A-Za-z_]\w*)'|([A-Za-z_]\w*))\r?\n")
_OPERATORS = sorted([
    "<<=", ">>=", "**=", "...", "<=>", "===", "!==", "??=", "?->",
    "->", "=>", "::", "==", "!=", "<>", "<=", ">=", "&&", "||", "??", "++", "--",
    ".=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "**",
    "=", ";", ",", ".", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "%", "!",
    "?", ":", "<", ">", "&", "|", "^", "~", "@", "$",
], key=len, reverse=True)
_OPERATOR = re.compile("|".join(re.escape(op) for op in _OPERATORS))
_SPACE = re.compile(r"\s+")
INT_MAX = (1 << 63) - 1
_COMMENT_END = re.compile(r"\n|\?>")


@dataclass
class _Lexer:
    text: str
    source: str
    pos: int = 0
    line: int = 1
    tokens: list[Token] = field(default_factory=list)
    depth: int = 0  # of open brackets, bounded so the parser never recurses too deep
    embedded: int = 0  # tokens of expressions inside strings

    def error(self, message: str, line: int | None = None) -> PhpSyntaxError:
        return PhpSyntaxError(message, self.line if line is None else line, self.source)

    def advance(self, n: int) -> str:
        chunk = self.text[self.pos:self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n
        return chunk

    def emit(self, kind: str, value: Any, line: int | None = None) -> None:
        if len(self.tokens) + self.embedded >= MAX_TOKENS:
            raise PhpLimitError(f"more than {MAX_TOKENS} tokens; no config.php is this long",
                                self.line, self.source)
        if kind == "op" and value in ("(", "[", "{"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise PhpLimitError(f"brackets nest deeper than {MAX_DEPTH} levels",
                                    self.line, self.source)
        elif kind == "op" and value in (")", "]", "}"):
            self.depth -= 1
        self.tokens.append(Token(kind, value, self.line if line is None else line))

    def skip_html(self) -> None:
        """Text outside PHP tags is output, not code: skip to the next opening tag."""
        match = re.compile(r"<\?php\b|<\?(?!xml)", re.IGNORECASE).search(self.text, self.pos)
        self.advance((match.end() if match else len(self.text)) - self.pos)

    def run(self, php_mode: bool) -> list[Token]:
        if not php_mode:
            self.skip_html()
        while self.pos < len(self.text):
            self.step()
        self.emit("eof", None)
        return self.tokens

    def step(self) -> None:
        text, pos, char = self.text, self.pos, self.text[self.pos]
        if char.isspace():
            self.advance(len(_SPACE.match(text, pos).group()))  # type: ignore[union-attr]
        elif text.startswith("?>", pos):
            self.emit("op", ";")  # a closing tag ends the statement, as in PHP
            self.advance(2)
            self.skip_html()
        elif char == "#" or text.startswith("//", pos):
            stop = _COMMENT_END.search(text, pos)
            self.advance((stop.start() if stop else len(text)) - pos)
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.error("unterminated /* comment")
            self.advance(end + 2 - pos)
        elif char == "$" and _IDENT.match(text, pos + 1):
            name = _IDENT.match(text, pos + 1).group()  # type: ignore[union-attr]
            self.emit("var", name)
            self.advance(1 + len(name))
        elif char == "'":
            self.single_quoted()
        elif char == '"':
            self.double_quoted()
        elif char == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise self.error("unterminated `backtick` command")
            self.emit("shell", text[pos + 1:end])
            self.advance(end + 1 - pos)
        elif text.startswith("<<<", pos):
            self.heredoc()
        elif char.isdigit() or (char == "." and text[pos + 1:pos + 2].isdigit()):
            self.number()
        elif _NAME.match(text, pos):
            name = _NAME.match(text, pos).group()  # type: ignore[union-attr]
            self.emit("name", name)
            self.advance(len(name))
        elif char == "(" and _CAST.match(text, pos):
            cast = _CAST.match(text, pos)
            self.emit("cast", cast.group(1).lower())  # type: ignore[union-attr]
            self.advance(cast.end() - pos)  # type: ignore[union-attr]
        elif op := _OPERATOR.match(text, pos):
            self.emit("op", op.group())
            self.advance(len(op.group()))
        else:
            raise self.error(f"unexpected character {char!r}")

    def number(self) -> None:
        raw = _NUMBER.match(self.text, self.pos).group()  # type: ignore[union-attr]
        if "__" in raw or raw.endswith("_") or "_." in raw or "._" in raw:
            raise self.error(f"invalid numeric literal {raw!r}")
        digits = raw.replace("_", "")
        lower = digits.lower()
        base = {"0x": 16, "0b": 2, "0o": 8}.get(lower[:2])
        if base:
            value: int | float = int(digits[2:], base)  # no digit limit for these bases
        elif any(c in lower for c in ".e"):
            value = float(digits)
        elif len(digits) > 1 and digits.startswith("0"):  # 0755: octal, as PHP reads it
            if not set(digits) <= set("01234567"):
                raise self.error(f"invalid octal number {raw!r}")
            value = int(digits, 8)
        elif len(digits) > 19:  # beyond 64 bits; float() has no digit limit, int() has
            value = float(digits)
        else:
            value = int(digits)
        if isinstance(value, int) and value > INT_MAX:  # PHP reads such a literal as float
            value = float(value) if value.bit_length() <= 1024 else float("inf")
        self.emit("num", value)
        self.advance(len(raw))

    def single_quoted(self) -> None:
        start_line, i, out = self.line, self.pos + 1, []
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and self.text[i + 1:i + 2] in ("'", "\\"):
                out.append(self.text[i + 1])
                i += 2
            elif char == "'":
                self.emit("str", "".join(out), start_line)
                self.advance(i + 1 - self.pos)
                return
            else:
                out.append(char)
                i += 1
        raise self.error("unterminated 'single-quoted' string", start_line)

    def double_quoted(self) -> None:
        start_line, i = self.line, self.pos + 1
        while i < len(self.text) and self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text):
            raise self.error('unterminated "double-quoted" string', start_line)
        parts = self.interpolate(self.text[self.pos + 1:i], '"', start_line)
        self.emit_string(parts, start_line)
        self.advance(i + 1 - self.pos)

    def interpolate(self, body: str, quote: str, line: int) -> list[str | list[Token]]:
        def code(snippet: str, first_line: int) -> list[Token]:
            return tokenize(snippet, self.source, php_mode=True, first_line=first_line)[:-1]

        parts = interpolate(body, quote, line, self.source, code,
                            MAX_TOKENS - len(self.tokens) - self.embedded)
        # tokens inside strings count toward the file's limit too
        self.embedded += sum(len(part) for part in parts if isinstance(part, list))
        return parts

    def emit_string(self, parts: list[str | list[Token]], line: int) -> None:
        if all(isinstance(part, str) for part in parts):
            self.emit("str", "".join(part for part in parts if isinstance(part, str)), line)
        else:
            self.emit("istr", parts, line)

    def heredoc(self) -> None:
        start_line = self.line
        match = _HEREDOC_START.match(self.text, self.pos)
        if not match:
            raise self.error("malformed <<< heredoc opening")
        label = match.group(1) or match.group(2) or match.group(3)
        nowdoc = match.group(2) is not None
        closing = re.compile(rf"^([ \t]*){re.escape(label)}(?![A-Za-z0-9_\x80-\uffff])",
                             re.MULTILINE)
        end = closing.search(self.text, match.end())
        if not end:
            raise self.error(f"heredoc <<<{label} is never closed", start_line)
        indent = end.group(1)
        body = self.text[match.end():end.start()]
        body = body[:-1] if body.endswith("\n") else body
        body = body[:-1] if body.endswith("\r") else body
        lines = body.split("\n") if body else []
        if indent and any(line.strip() and not line.startswith(indent) for line in lines):
            raise self.error(f"heredoc <<<{label}: body is indented less than its closing "
                             "marker", start_line)
        body = "\n".join(line[len(indent):] for line in lines)
        if nowdoc:
            self.emit("str", body, start_line)
        else:
            self.emit_string(self.interpolate(body, "", start_line), start_line)
        self.advance(end.end() - self.pos)


def tokenize(text: str, source: str = "config.php", *, php_mode: bool = False,
             first_line: int = 1) -> list[Token]:
    """Tokens of a PHP file (``php_mode=False``: starts outside ``<?php``), ending in eof."""
    return _Lexer(text, source, line=first_line).run(php_mode)
