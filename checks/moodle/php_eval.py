"""Evaluate the side-effect-free PHP expressions of config.php and version.php files.

The middle of the safe reader: php_tokens.py makes tokens, config_php.py walks the
statements and asks this Evaluator for each right-hand side. An expression is parsed
by precedence climbing and evaluated at once (there is nothing to defer: no function
here has side effects). What PHP alone could know comes back as ``Unresolved``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.moodle.php_builtins import BUILTIN_CONSTANTS, call_function
from checks.moodle.php_ops import (
    BINARY,
    CASTS,
    UNARY,
    apply,
    child,
    combine,
    index,
    prop,
    set_item,
)
from checks.moodle.php_tokens import PhpSyntaxError, Token
from checks.moodle.php_values import (
    PhpObject,
    Unresolved,
    array_key,
    either,
    lift,
    php_bool,
    php_str,
)

__all__ = ["Evaluator", "PhpObject", "Unresolved", "UnsupportedSyntax", "php_bool", "php_str"]

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_SUPERGLOBALS = {"_SERVER", "_ENV", "_GET", "_POST", "_COOKIE", "_REQUEST", "_FILES",
                 "_SESSION", "GLOBALS"}
class UnsupportedSyntax(Exception):
    """Valid PHP this evaluator does not model (closures, method calls, ...)."""

    def __init__(self, tok: Token) -> None:
        super().__init__(f"unsupported {tok.value!r} at line {tok.line}")
        self.tok = tok


class Evaluator:
    """A cursor over tokens plus the file's variables and constants."""

    def __init__(self, tokens: list[Token], path: Path, variables: dict[str, Any],
                 constants: dict[str, Any]) -> None:
        self.tokens, self.pos, self.path = tokens, 0, path
        self.variables, self.constants = variables, constants

    # -- cursor ---------------------------------------------------------------------
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

    def skip_control(self) -> None:
        """Skip an if/else chain, loop, try block, function or class declaration."""
        word = self.next().value.lower()
        if word in ("function", "class", "interface", "trait", "enum"):
            while self.tok.kind != "eof" and not self.at("{"):
                self.skip_balanced() if self.at("(") else self.next()
            if self.at("{"):
                self.skip_balanced()
            return
        if self.at("("):
            self.skip_balanced()
        self._skip_body()
        if word == "do" and self.tok.kind == "name" and self.tok.value.lower() == "while":
            self.skip_statement()
        follows = {"if": ("elseif", "else"), "elseif": ("elseif", "else"),
                   "try": ("catch", "finally"), "catch": ("catch", "finally")}
        if self.tok.kind == "name" and self.tok.value.lower() in follows.get(word, ()):
            self.skip_control()

    def _skip_body(self) -> None:
        if self.at("{"):
            self.skip_balanced()
        elif self.at(":"):  # alternative syntax: if (...): ... endif;
            while self.tok.kind != "eof" and not (
                    self.tok.kind == "name" and self.tok.value.lower().startswith("end")):
                if self.tok.kind == "op" and self.tok.value in _OPENERS:
                    self.skip_balanced()
                else:
                    self.next()
            self.skip_statement()
        elif self.tok.kind == "name" and self.tok.value.lower() in ("if", "for", "foreach",
                                                                    "while", "switch"):
            self.skip_control()
        else:
            self.skip_statement()

    # -- assignment targets ---------------------------------------------------------
    def lvalue(self) -> tuple[str, list[tuple[str, Any]]] | None:
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

    def assign(self, target: tuple[str, list[tuple[str, Any]]], op: str, value: Any) -> None:
        name, steps = target
        if not steps:
            self.variables[name] = combine(op, self.variables.get(name), value)
            return
        holder: Any = self.variables
        key: Any = name
        for kind, arg in steps:
            container = child(holder, key)
            if container is None:
                container = PhpObject() if kind == "prop" else {}
                set_item(holder, key, container)
            if kind == "prop" and not isinstance(container, PhpObject):
                return  # PHP would fail here; the setting cannot be known
            if kind != "prop" and not isinstance(container, dict):
                return
            holder = container
            key = arg if kind == "prop" else (
                max((k for k in container if isinstance(k, int)), default=-1) + 1
                if kind == "append" else array_key(arg))
        set_item(holder, key, combine(op, child(holder, key), value))

    # -- expressions ----------------------------------------------------------------
    def expression(self) -> Any:
        cond = self.binary(0)
        if not self.accept("?"):
            return cond
        if self.accept(":"):
            return either(cond, self.expression(), php_bool)
        then = self.expression()
        self.expect(":")
        other = self.expression()
        return lift(lambda c: then if php_bool(c) else other, cond)

    def binary(self, min_prec: int) -> Any:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.value in BINARY:
            op = self.tok.value
            prec, right_assoc, fn = BINARY[op]
            if prec < min_prec:
                break
            self.pos += 1
            right = self.binary(prec if right_assoc else prec + 1)
            if op == "??":
                left = either(left, right, lambda v: v is not None)
            else:
                left = apply(fn, left, right)
        return left

    def unary(self) -> Any:
        tok = self.tok
        if tok.kind == "op" and tok.value in UNARY:
            self.pos += 1
            return apply(UNARY[tok.value], self.unary())
        if tok.kind == "cast":
            self.pos += 1
            return apply(CASTS[tok.value], self.unary())
        if tok.kind == "name" and tok.value.lower() == "new":
            self.pos += 1
            cls = self.next()
            if self.at("("):
                self.skip_balanced()
            return PhpObject(str(cls.value).lstrip("\\"))
        if self.accept("("):
            value = self.expression()
            self.expect(")")
            return self.postfix(value)
        return self.postfix(self.primary())

    def primary(self) -> Any:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return tok.value
        if tok.kind == "istr":
            return self.interpolated(tok.value)
        if tok.kind == "shell":
            return Unresolved(f"shell command `{tok.value}`")
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

    def array(self, closer: str) -> dict[int | str, Any]:
        result: dict[int | str, Any] = {}
        while not self.at(closer):
            self.accept("&")
            first = self.expression()
            if self.accept("=>"):
                self.accept("&")
                key, value = array_key(php_str(first) if isinstance(first, Unresolved)
                                       else first), self.expression()
            else:
                key = max((k for k in result if isinstance(k, int)), default=-1) + 1
                value = first
            result[key] = value
            if not self.accept(","):
                break
        self.expect(closer)
        return result

    def postfix(self, value: Any) -> Any:
        while True:
            if self.at("[") and not (self.peek(1).kind == "op" and self.peek(1).value == "]"):
                self.pos += 1
                key = self.expression()
                self.expect("]")
                value = index(value, key)
            elif (self.at("->") or self.at("?->")) and self.peek(1).kind == "name":
                self.pos += 1
                member = self.next().value
                if self.at("("):
                    raise UnsupportedSyntax(self.tok)
                value = prop(value, member)
            else:
                return value

    def interpolated(self, parts: list[str | list[Token]]) -> Any:
        values = []
        for part in parts:
            if isinstance(part, str):
                values.append(part)
                continue
            sub = Evaluator([*part, Token("eof", None, part[-1].line if part else 0)],
                            self.path, self.variables, self.constants)
            values.append(sub.expression())
        return apply(lambda *vs: "".join(php_str(v) for v in vs), *values)
