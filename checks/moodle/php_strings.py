"""The bodies of double-quoted strings and heredocs: escapes and ``$var``/``{$expr}``.

Part of the safe reader's lexing: php_tokens.py finds where a string starts and ends
and hands its body here; embedded expressions are tokenized with the ``tokenize``
function php_tokens.py passes in (it calls back into this module for their own
strings). Escapes follow PHP: ``\\n``, octal, ``\\x`` and ``\\u{}``; unknown ones stay
as written. Escaped bytes that do not spell UTF-8 are refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from checks.moodle.php_syntax import PhpLimitError, PhpSyntaxError, Token

Tokenize = Callable[[str, int], list[Token]]  # (code, first line) -> tokens without eof

_IDENT = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f",
                   "\\": "\\", "$": "$"}


def interpolate(body: str, quote: str, line: int, source: str, tokenize: Tokenize,
                room: int) -> list[str | list[Token]]:
    """Split a double-quoted or heredoc body into text and embedded-expression tokens;
    more than ``room`` embedded tokens is a PhpLimitError (php_limits.MAX_TOKENS)."""
    parts: list[str | list[Token]] = []
    text: list[str] = []
    i = 0
    while i < len(body):
        if len(parts) > room:
            raise PhpLimitError("too many tokens in one string; no config.php is this "
                                "long", line, source)
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            consumed, decoded = _escape(body, i + 1, quote, line, source)
            text.append(decoded)
            i += 1 + consumed
        elif char == "$" and _IDENT.match(body, i + 1):
            end = _simple_interpolation_end(body, i)
            parts += [_text("".join(text), line), tokenize(_simple_to_code(body[i:end]), line)]
            text, i = [], end
        elif body.startswith("{$", i) or body.startswith("${", i):
            end = _matching_brace(body, i + (1 if char == "{" else 2))
            if end < 0:
                raise PhpSyntaxError("unterminated {$...} in string", line, source)
            code = body[i + 1:end] if char == "{" else "$" + body[i + 2:end]
            parts += [_text("".join(text), line), tokenize(code, line)]
            text, i = [], end + 1
        else:
            text.append(char)
            i += 1
    parts.append(_text("".join(text), line))
    return [part for part in parts if part != ""]


def _byte(value: int) -> str:
    """An escaped byte: ASCII is text; a byte >= 0x80 is held as a surrogateescape
    character until _text() sees whether the bytes around it spell UTF-8."""
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


def _text(chunk: str, line: int) -> str | list[Token]:
    """Text with its escaped bytes decoded; bytes that are not UTF-8 cannot be a Python
    str equal to PHP's, so they become a "bad" token the evaluator reads as Unresolved."""
    if not any("\udc80" <= char <= "\udcff" for char in chunk):
        return chunk
    try:
        return chunk.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return [Token("bad", f"a string at line {line} holds bytes that are not UTF-8",
                      line)]


def _escape(body: str, i: int, quote: str, line: int, source: str) -> tuple[int, str]:
    """Decode the escape after a backslash at body[i]; returns (chars consumed, text)."""
    char = body[i]
    if char in _SIMPLE_ESCAPES:
        return 1, _SIMPLE_ESCAPES[char]
    if quote and char == quote:
        return 1, char
    octal = re.compile(r"[0-7]{1,3}").match(body, i)
    if octal:
        return len(octal.group()), _byte(int(octal.group(), 8) & 0xFF)
    hexa = re.compile(r"x([0-9A-Fa-f]{1,2})").match(body, i)
    if hexa:
        return len(hexa.group()), _byte(int(hexa.group(1), 16))
    uni = re.compile(r"u\{([0-9A-Fa-f]+)\}").match(body, i)
    if uni:
        code = int(uni.group(1)[-8:], 16) if len(uni.group(1)) <= 8 else 0x110000
        if code > 0x10FFFF:
            raise PhpSyntaxError("invalid UTF-8 codepoint escape sequence: codepoint too "
                                 "large", line, source)
        # a surrogate code point is not text; PHP writes its (invalid) UTF-8 bytes
        return len(uni.group()), "\udcff" if 0xD800 <= code <= 0xDFFF else chr(code)
    return 1, "\\" + char  # PHP keeps unknown escapes as written


def _simple_interpolation_end(body: str, i: int) -> int:
    """End of "$name", "$name->prop" or "$name[key]" (PHP's simple syntax, one level)."""
    end = _IDENT.match(body, i + 1).end()  # type: ignore[union-attr]
    if body.startswith("->", end) and _IDENT.match(body, end + 2):
        return _IDENT.match(body, end + 2).end()  # type: ignore[union-attr]
    if body.startswith("[", end):
        close = body.find("]", end)
        if close > 0:
            return close + 1
    return end


def _simple_to_code(snippet: str) -> str:
    """"$a[key]" in a string means $a['key'] in code; quote a bare-word key."""
    match = re.fullmatch(r"(\$\w+)\[([A-Za-z_]\w*)\]", snippet)
    return f"{match.group(1)}['{match.group(2)}']" if match else snippet


def _matching_brace(body: str, i: int) -> int:
    depth = 0
    for j in range(i, len(body)):
        if body[j] == "{":
            depth += 1
        elif body[j] == "}":
            if depth == 0:
                return j
            depth -= 1
    return -1
