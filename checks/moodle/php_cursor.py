"""A cursor over config.php tokens, and the skipping of what Vigil does not evaluate.

Part of the safe reader: php_eval.Evaluator (expressions) builds on this Cursor, and
config_php.py uses it to step over statements. Skipping is iterative or bounded by
MAX_DEPTH, so ten thousand nested ``if``s or ``else if``s end in a PhpLimitError, not
a RecursionError.
"""

from __future__ import annotations

from pathlib import Path

from checks.moodle.php_limits import MAX_DEPTH
from checks.moodle.php_tokens import PhpLimitError, PhpSyntaxError, Token

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_FOLLOWS = {"if": ("elseif", "else"), "elseif": ("elseif", "else"),
            "try": ("catch", "finally"), "catch": ("catch", "finally")}
_DECLARATIONS = ("function", "class", "interface", "trait", "enum")
_NESTED = ("if", "for", "foreach", "while", "switch")


class UnsupportedSyntax(Exception):
    """Valid PHP this evaluator does not model (closures, method calls, ...)."""

    def __init__(self, tok: Token) -> None:
        super().__init__(f"unsupported {tok.value!r} at line {tok.line}")
        self.tok = tok


class Cursor:
    """A position in a token list, ending on an eof token."""

    def __init__(self, tokens: list[Token], path: Path) -> None:
        self.tokens, self.pos, self.path = tokens, 0, path

    # -- moving -----------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        try:
            return self.tokens[self.pos]
        except IndexError:  # past the end: stay on eof
            return self.tokens[-1]

    def peek(self, n: int) -> Token:
        return self.tokens[min(self.pos + n, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tok
        self.pos += 1
        return tok

    def at(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == op

    def accept(self, op: str) -> bool:
        if self.at(op):
            self.pos += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            raise UnsupportedSyntax(self.tok)

    def error(self, message: str, tok: Token | None = None) -> PhpSyntaxError:
        return PhpSyntaxError(message, (tok or self.tok).line, self.path.name)

    # -- skipping -------------------------------------------------------------------
    def skip_balanced(self) -> None:
        """Skip from an opening bracket to its match; an unclosed one is a syntax error."""
        opener = self.next()
        stack = [opener]
        while stack:
            tok = self.next()
            if tok.kind == "eof":
                raise self.error(f"{stack[-1].value!r} is never closed", stack[-1])
            if tok.kind == "op" and tok.value in _OPENERS:
                stack.append(tok)
            elif tok.kind == "op" and tok.value in _OPENERS.values():
                if _OPENERS[stack[-1].value] != tok.value:
                    raise self.error(f"{tok.value!r} does not close {stack[-1].value!r} "
                                     f"(opened at line {stack[-1].line})", tok)
                stack.pop()

    def skip_statement(self) -> None:
        """Skip to just past the ``;`` that ends the statement."""
        while self.tok.kind != "eof":
            if self.at(";"):
                self.pos += 1
                return
            if self.tok.kind == "op" and self.tok.value in _OPENERS:
                self.skip_balanced()
            elif self.tok.kind == "op" and self.tok.value in _OPENERS.values():
                raise self.error(f"unmatched {self.tok.value!r}")
            else:
                self.pos += 1

    def skip_control(self, depth: int = 0) -> None:
        """Skip an if/else chain, loop, try block, function or class declaration."""
        if depth > MAX_DEPTH:
            raise PhpLimitError(f"blocks nest deeper than {MAX_DEPTH} levels",
                                self.tok.line, self.path.name)
        word = self.next().value.lower()
        if word in _DECLARATIONS:
            while self.tok.kind != "eof" and not self.at("{"):
                self.skip_balanced() if self.at("(") else self.next()
            if self.at("{"):
                self.skip_balanced()
            return
        while True:  # one round per branch of an if/elseif/else or try/catch chain
            if word == "else" and self.word() == "if":  # "else if" continues the chain
                word = self.next().value.lower()
            if self.at("("):
                self.skip_balanced()
            self._skip_body(depth)
            if word == "do" and self.word() == "while":
                self.skip_statement()
            if self.word() not in _FOLLOWS.get(word, ()):
                return
            word = self.next().value.lower()

    def word(self) -> str | None:
        return self.tok.value.lower() if self.tok.kind == "name" else None

    def _skip_body(self, depth: int) -> None:
        if self.at("{"):
            self.skip_balanced()
        elif self.at(":"):  # alternative syntax: if (...): ... endif;
            while self.tok.kind != "eof" and not (self.word() or "").startswith("end"):
                if self.tok.kind == "op" and self.tok.value in _OPENERS:
                    self.skip_balanced()
                else:
                    self.next()
            self.skip_statement()
        elif self.word() in _NESTED:
            self.skip_control(depth + 1)
        else:
            self.skip_statement()
