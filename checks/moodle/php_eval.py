"""Evaluate the side-effect-free PHP expressions of config.php and version.php files.

The middle of the safe reader: php_tokens.py makes tokens, config_php.py walks the
statements and asks this Evaluator for each right-hand side. An expression is parsed
by precedence climbing and evaluated at once (there is nothing to defer: no function
here has side effects; ``&&``/``||``/``??``/``?:`` still ignore the side PHP would not
evaluate). What PHP alone could know, or what PHP would throw on, comes back as
``Unresolved`` with the line in its reason. Nesting and work are bounded (php_limits.py):
a LimitExceeded raised here becomes a PhpLimitError naming the line in config_php.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.moodle.php_assign import Target, store
from checks.moodle.php_builtins import BUILTIN_CONSTANTS, call_function
from checks.moodle.php_cursor import Cursor, UnsupportedSyntax
from checks.moodle.php_limits import MAX_DEPTH, Budget, LimitExceeded, check_length
from checks.moodle.php_numbers import INT_MAX
from checks.moodle.php_ops import (
    BINARY,
    CASTS,
    UNARY,
    apply,
    index,
    prop,
)
from checks.moodle.php_tokens import Token
from checks.moodle.php_values import (
    PhpArray,
    PhpObject,
    PhpTypeError,
    Unresolved,
    array_key,
    either,
    lift,
    new_array,
    php_bool,
    php_str,
)

__all__ = ["Evaluator", "PhpObject", "Unresolved", "UnsupportedSyntax", "php_bool", "php_str"]

_POWER = BINARY["**"][0]
_SUPERGLOBALS = {"_SERVER", "_ENV", "_GET", "_POST", "_COOKIE", "_REQUEST", "_FILES",
                 "_SESSION", "GLOBALS"}


class Evaluator(Cursor):
    """A cursor over tokens plus the file's variables and constants."""

    def __init__(self, tokens: list[Token], path: Path, variables: dict[str, Any],
                 constants: dict[str, Any], budget: Budget | None = None,
                 depth: int = 0) -> None:
        super().__init__(tokens, path)
        self.variables, self.constants = variables, constants
        # Work and nesting are bounded (php_limits.py); an interpolated string's
        # evaluator shares both with the one that found it.
        self.budget = budget or Budget()
        self.depth = depth

    def enter(self) -> None:
        # Three counted levels per bracket: expression(), binary() and unary().
        self.depth += 1
        if self.depth > 3 * MAX_DEPTH:
            raise LimitExceeded(f"the expression nests too deeply (over {MAX_DEPTH} levels of "
                                "brackets and operators)")

    # -- assignment targets ---------------------------------------------------------
    def lvalue(self) -> Target | None:
        """``$var``, ``$var->prop``, ``$var['k']``, ``$var[]`` chains; None if not one."""
        name = self.next().value
        steps: list[tuple[str, Any]] = []
        while True:
            if self.at("->") and self.peek(1).kind == "name":
                self.pos += 1
                steps.append(("prop", self.next().value))
            elif self.at("[") and self.peek(1).kind == "op" and self.peek(1).value == "]":
                self.pos += 2
                steps.append(("append", None))
            elif self.at("["):
                self.pos += 1
                try:
                    key = self.expression()
                    self.expect("]")
                except UnsupportedSyntax:
                    return None
                steps.append(("index", key))
            else:
                break
        return (None if self.at("(") else (name, steps))

    def assign(self, target: Target, op: str, value: Any, line: int) -> None:
        store(self.variables, target, op, value, line, self.budget)

    # -- expressions ----------------------------------------------------------------
    def expression(self) -> Any:
        self.enter()
        try:
            cond = self.binary(0)
            if not self.accept("?"):
                return cond
            if self.accept(":"):
                return either(cond, self.expression(), php_bool)
            then = self.expression()
            self.expect(":")
            other = self.expression()
            return lift(lambda c: then if php_bool(c) else other, cond)
        finally:
            self.depth -= 1

    def binary(self, min_prec: int) -> Any:
        self.enter()
        try:
            left = self.unary()
            while self.tok.kind == "op" and self.tok.value in BINARY:
                tok = self.tok
                prec, right_assoc, fn = BINARY[tok.value]
                if prec < min_prec:
                    break
                self.pos += 1
                right = self.binary(prec if right_assoc else prec + 1)
                # comparing or joining arrays walks every element: charge for the walk
                self.budget.charge(sum(16 * v.weight for v in (left, right)
                                       if isinstance(v, PhpArray)))
                if tok.value == "??":
                    left = either(left, right, lambda v: v is not None)
                elif tok.value in ("&&", "||") and not isinstance(left, Unresolved) \
                        and php_bool(left) == (tok.value == "||"):
                    left = tok.value == "||"  # PHP never evaluates the right side here
                else:
                    left = self.made(apply(fn, left, right), tok)
            return left
        finally:
            self.depth -= 1

    def made(self, value: Any, tok: Token) -> Any:
        """A value an operation just built: charge its size, name the line if unknown."""
        if isinstance(value, str):
            self.budget.charge(1 + len(value))
        elif isinstance(value, dict):
            self.budget.charge(1 + 64 * len(value))
        else:
            self.budget.charge(1)
        if isinstance(value, Unresolved) and "line " not in value.reason:
            return Unresolved(f"{value.reason} (line {tok.line})", value.fallback)
        return value

    def unary(self) -> Any:
        self.enter()
        try:
            return self.made(self._unary(), self.tok)
        finally:
            self.depth -= 1

    def _unary(self) -> Any:
        tok = self.tok
        # The operand of a unary operator or cast may be a power: "**" binds tighter,
        # so -2 ** 2 is -(2 ** 2) and (string) 2 ** 63 casts the power.
        if tok.kind == "op" and tok.value in UNARY:
            self.pos += 1
            return self.made(apply(UNARY[tok.value], self.binary(_POWER)), tok)
        if tok.kind == "cast":
            if tok.value not in CASTS:  # (unset) and (real) are compile errors in PHP 8
                raise UnsupportedSyntax(tok)
            self.pos += 1
            return self.made(apply(CASTS[tok.value], self.binary(_POWER)), tok)
        if tok.kind == "name" and tok.value.lower() == "new":
            self.pos += 1
            cls = self.next()
            if self.at("("):
                self.skip_balanced()
            name = str(cls.value).lstrip("\\")
            # class names are case-insensitive; get_class() answers the declared spelling
            return PhpObject("stdClass" if name.lower() == "stdclass" else name)
        if self.accept("("):
            value = self.expression()
            self.expect(")")
            return self.made(self.postfix(value), tok)
        return self.made(self.postfix(self.primary()), tok)

    def primary(self) -> Any:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return tok.value
        if tok.kind == "istr":
            return self.interpolated(tok.value)
        if tok.kind == "shell":
            return Unresolved(f"shell command `{tok.value}`")
        if tok.kind == "bad":  # a string whose escaped bytes are not UTF-8
            return Unresolved(tok.value)
        if tok.kind == "var":
            if tok.value in _SUPERGLOBALS:
                return Unresolved(f"${tok.value} (only known inside a running PHP)")
            return self.variables.get(tok.value)
        if tok.kind == "op" and tok.value == "[":
            return self.array("]")
        if tok.kind == "name":
            return self.name(tok)
        raise UnsupportedSyntax(tok)

    def name(self, tok: Token) -> Any:
        word, lower = str(tok.value).lstrip("\\"), str(tok.value).lstrip("\\").lower()
        if lower == "array" and self.accept("("):
            return self.array(")")
        if self.at("("):
            self.pos += 1
            args = []
            while not self.at(")"):
                args.append(self.expression())
                if not self.accept(","):
                    break
            self.expect(")")
            return call_function(lower, args, self.path, self.constants)
        if self.accept("::"):
            member = self.next()
            if str(member.value).lower() == "class":
                return word
            return Unresolved(f"class constant {word}::{member.value}")
        magic = {"__dir__": str(self.path.parent), "__file__": str(self.path),
                 "__line__": tok.line, "true": True, "false": False, "null": None}
        if lower in magic:
            return magic[lower]
        if word in self.constants:
            return self.constants[word]
        if word in BUILTIN_CONSTANTS:
            return BUILTIN_CONSTANTS[word]
        return Unresolved(f"constant {word} is not defined in {self.path.name}")

    def array(self, closer: str) -> Any:
        items: dict[int | str, Any] = {}
        unknown: Unresolved | None = None  # an unknown key makes the whole array unknown
        next_free: int | None = None  # PHP's nNextFreeElement: past the largest int key
        while not self.at(closer):
            if self.at("..."):  # spread: PHP 8.1 unpacking, not modelled
                raise UnsupportedSyntax(self.tok)
            self.accept("&")
            key: Any = self.expression()
            if self.accept("=>"):
                self.accept("&")
                key, value = _key(key), self.expression()
            else:
                key, value = (0 if next_free is None else next_free), key
                if key > INT_MAX:
                    key = Unresolved("PHP would fail here: the next array element is "
                                     "already occupied")
            if isinstance(key, Unresolved):
                unknown = unknown or key
            else:
                if isinstance(key, int):
                    next_free = key + 1 if next_free is None else max(next_free, key + 1)
                items[key] = value
            if not self.accept(","):
                break
        self.expect(closer)
        return unknown if unknown is not None else new_array(items)

    def postfix(self, value: Any) -> Any:
        while True:
            if self.at("[") and not (self.peek(1).kind == "op" and self.peek(1).value == "]"):
                self.pos += 1
                key = self.expression()
                self.expect("]")
                value = index(value, key)
            elif (self.at("->") or self.at("?->")) and self.peek(1).kind == "name":
                nullsafe = self.at("?->")
                self.pos += 1
                member = self.next().value
                if self.at("("):
                    raise UnsupportedSyntax(self.tok)
                value = None if nullsafe and value is None else prop(value, member)
            else:
                return value

    def interpolated(self, parts: list[str | list[Token]]) -> Any:
        values: list[Any] = []
        for part in parts:
            if isinstance(part, str | Unresolved):
                values.append(part)
                continue
            sub = Evaluator([*part, Token("eof", None, part[-1].line if part else 0)],
                            self.path, self.variables, self.constants, self.budget,
                            self.depth)
            values.append(sub.expression())
            if sub.tok.kind != "eof":  # "{$a b}" is a parse error in PHP
                raise UnsupportedSyntax(sub.tok)
        return apply(_join, *values)


def _key(value: Any) -> int | str | Unresolved:
    if isinstance(value, Unresolved):
        return Unresolved(f"an array key is unknown: {value.reason}")
    try:
        return array_key(value)
    except PhpTypeError as exc:
        return Unresolved(f"PHP would fail here: {exc}")


def _join(*values: Any) -> str:
    texts = [php_str(v) for v in values]
    check_length(sum(len(text) for text in texts))
    return "".join(texts)
