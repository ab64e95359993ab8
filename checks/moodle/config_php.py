"""Read a Moodle config.php (and version.php files) safely: parsed, never executed.

Sits at the start of local site access: ``vigil init --moodle DIR`` (discovery.py)
reads the database settings, wwwroot and dataroot from here, and the upgrade probe reads
core and plugin ``version.php`` files with the same evaluator. Tokens come from
php_tokens.py; this module walks the statements and evaluates the right-hand sides of
assignments: literals, arrays (``array()`` and ``[]``), concatenation, ``__DIR__`` and
``dirname(__FILE__)`` (against the file's own directory), ``define()``d and well-known
constants, ``$CFG->x`` and local variables, ternaries and ``?:``/``??``.

What cannot be known without running PHP becomes an ``Unresolved`` marker naming why
(an unknown constant, ``getenv('X')``, ``$_SERVER``, an unknown function). Decision
for ``getenv('X') ?: 'y'`` and ``... ?? 'y'``: Vigil does not run in the web server's
environment, so the value stays Unresolved, carrying ``'y'`` as its ``fallback``;
``MoodleConfigPhp.setting()`` returns the fallback and callers warn that the web
server may see a different value. Conditional blocks (``if``, loops, functions) are
skipped, and a warning names the line and the settings they would set; a local
variable such a block (or any statement Vigil skips) may assign becomes Unresolved.
``require`` targets are recorded, never followed. Syntax errors raise PhpSyntaxError
naming the line; a file that asks for more work than php_limits.py allows (nesting,
string size, array size, length) raises its subclass PhpLimitError, also naming the line.
Values follow PHP 8.2 (php_numbers.py, php_arith.py, php_compare.py), checked against
the real interpreter by tests/moodle/test_php_differential.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.moodle.php_assign import UNSET, assigned_variables
from checks.moodle.php_eval import Evaluator, UnsupportedSyntax
from checks.moodle.php_limits import MAX_SOURCE, LimitExceeded
from checks.moodle.php_tokens import PhpLimitError, PhpSyntaxError, Token, tokenize
from checks.moodle.php_values import PhpObject, Unresolved, php_bool, php_str, to_python

__all__ = ["MoodleConfigPhp", "PhpFile", "PhpLimitError", "PhpObject", "PhpSyntaxError",
           "Unresolved",
           "parse_config_php", "parse_php", "parse_php_file", "php_bool", "php_str",
           "to_python"]

_CONTROL = {"if", "elseif", "else", "while", "do", "for", "foreach", "switch", "try",
            "catch", "finally", "function", "class", "interface", "trait", "enum",
            "declare"}
_INCLUDES = {"require", "require_once", "include", "include_once"}
_ASSIGN_OPS = {"=", ".=", "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=",
               ">>=", "??="}
_CFG = "CFG"


@dataclass
class PhpFile:
    """What a PHP file's top-level statements assign, in file order."""

    path: Path
    variables: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    requires: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class MoodleConfigPhp:
    """The ``$CFG->key = value`` settings of one config.php."""

    path: Path
    values: dict[str, Any]
    constants: dict[str, Any]
    requires: list[Any]
    warnings: list[str]

    def get(self, key: str, default: Any = None) -> Any:
        """The value as parsed (may be Unresolved)."""
        return self.values.get(key, default)

    def setting(self, key: str, default: Any = None) -> Any:
        """The value Vigil should use: an Unresolved with a fallback gives the fallback."""
        value = self.values.get(key, default)
        if isinstance(value, Unresolved) and value.has_fallback:
            return value.fallback
        return value

    @property
    def loads_setup(self) -> bool:
        """True when the file ends by requiring lib/setup.php, as every real one does."""
        return any(isinstance(r, str) and r.replace("\\", "/").endswith("lib/setup.php")
                   for r in self.requires)


def parse_php(text: str, path: Path | str = "config.php") -> PhpFile:
    """Raises PhpSyntaxError (PhpLimitError for a file that asks too much) naming the line."""
    path = Path(path)
    if len(text) > MAX_SOURCE:
        raise PhpLimitError(f"the file is over {MAX_SOURCE} characters; no config.php is "
                            "this long", 1, path.name)
    tokens = tokenize(text, path.name)
    result = PhpFile(path=path)
    _Parser(tokens, result).run()
    return result


def parse_php_file(path: Path | str) -> PhpFile:
    path = Path(path)
    try:
        with path.open("rb") as handle:  # never read more than the limit allows
            raw = handle.read(MAX_SOURCE + 1)
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_php(raw.decode("utf-8", errors="replace"), path.absolute())


def parse_config_php(path: Path | str) -> MoodleConfigPhp:
    """Parse a config.php file; raises FileNotFoundError or PhpSyntaxError (with the line)."""
    parsed = parse_php_file(path)
    cfg = parsed.variables.get(_CFG)
    values = dict(cfg.props) if isinstance(cfg, PhpObject) else {}
    return MoodleConfigPhp(parsed.path, values, parsed.constants, parsed.requires,
                           parsed.warnings)


class _Parser:
    """Walks top-level statements; expressions are evaluated by php_eval.Evaluator."""

    def __init__(self, tokens: list[Token], out: PhpFile) -> None:
        self.tokens = tokens
        self.out = out
        self.ev = Evaluator(tokens, out.path, out.variables, out.constants)

    @property
    def tok(self) -> Token:
        return self.ev.tok

    def run(self) -> None:
        while self.tok.kind != "eof":
            start, line = self.ev.pos, self.tok.line
            try:
                self.statement()
            except LimitExceeded as exc:
                raise PhpLimitError(str(exc), line, self.out.path.name) from None
            except RecursionError:  # a safety net only: nesting is bounded before this
                raise PhpLimitError("the statement nests too deeply", line,
                                    self.out.path.name) from None
            if self.ev.pos == start:  # never loop on a token no rule consumed
                self.ev.next()

    def statement(self) -> None:
        tok = self.tok
        word = tok.value.lower() if tok.kind == "name" else None
        if tok.kind == "op" and tok.value == ";":
            self.ev.next()
        elif tok.kind == "op" and tok.value == "{":
            start = self.ev.pos
            self.ev.skip_balanced()
            self.taint(start, "a block", tok.line)
        elif word in _CONTROL:
            self.skip_control(word, tok.line)
        elif word == "define":
            self.define()
        elif word in _INCLUDES:
            self.ev.next()
            self.out.requires.append(self.guarded(tok.line))
        elif word == "unset" and self.ev.peek(1).value == "(":
            self.unset()
        elif word == "const" and self.ev.peek(1).kind == "name":
            self.const()
        elif tok.kind == "var":
            self.assignment()
        else:  # calls such as ini_set(), `global $CFG;`, `return;`: no settings in them
            self.skip_statement(tok.line)

    def skip_statement(self, line: int) -> None:
        """Skip a statement; a variable it may assign (``[$a, $b] = ...``, ``$i++``)
        becomes Unresolved rather than keeping a value PHP would have changed."""
        start = self.ev.pos
        self.ev.skip_statement()
        self.taint(start, "a statement Vigil does not evaluate", line)

    def taint(self, start: int, why: str, line: int) -> None:
        for name in assigned_variables(self.tokens[start:self.ev.pos]):
            # $CFG and objects keep their values: the block warning names the settings
            if name != _CFG and not isinstance(self.out.variables.get(name), PhpObject):
                self.out.variables[name] = Unresolved(f"${name} may be assigned by {why} "
                                                      f"at line {line}")

    def unset(self) -> None:
        """``unset($CFG)`` (the installer's first line), ``unset($CFG->key)``,
        ``unset($CFG->dboptions['x'])``; a target it cannot follow is refused."""
        line = self.tok.line
        self.ev.pos += 2
        while self.tok.kind == "var":
            target = self.ev.lvalue()
            if target is None:
                break
            self.ev.assign(target, UNSET, None, line)
            if not self.ev.accept(","):
                break
        if not self.ev.accept(")"):
            self.out.warnings.append(f"line {line}: unset() of something Vigil cannot "
                                     "follow; later values may be wrong")
            while not (self.ev.at(")") or self.tok.kind == "eof"):
                self.ev.skip_balanced() if self.ev.at("(") or self.ev.at("[") \
                    else self.ev.next()
            self.ev.accept(")")
        self.ev.skip_statement()

    def const(self) -> None:
        """``const NAME = expr;`` at the top level defines a constant, like define()."""
        self.ev.next()
        name = self.ev.next().value
        if self.ev.accept("="):
            self.out.constants.setdefault(name, self.guarded(self.tok.line))
        else:
            self.ev.skip_statement()

    def define(self) -> None:
        line = self.tok.line
        self.ev.next()
        if not self.ev.accept("("):
            self.ev.skip_statement()
            return
        start = self.ev.pos
        try:
            name = self.ev.expression()
            value = self.ev.expression() if self.ev.accept(",") else None
            if self.ev.accept(","):  # PHP 8 ignores case_insensitive, with a warning
                self.ev.expression()
            self.ev.accept(",")
            self.ev.expect(")")
        except UnsupportedSyntax:
            self.ev.pos = start
            name = value = None
        if isinstance(name, str):
            self.out.constants.setdefault(name, value)  # PHP ignores a second define()
        else:
            self.out.warnings.append(f"line {line}: define() with a computed name ignored")
        self.ev.skip_statement()

    def assignment(self) -> None:
        line, start = self.tok.line, self.ev.pos
        target = self.ev.lvalue()
        op = self.tok.value if self.tok.kind == "op" else None
        if target is None or op not in _ASSIGN_OPS:
            self.ev.pos = start
            self.skip_statement(line)
            return
        self.ev.next()
        self.ev.assign(target, op, self.guarded(line), line)

    def guarded(self, line: int) -> object:
        """The expression up to ``;`` (consumed); PHP this reader does not model gives an
        Unresolved naming the line instead of failing the whole file."""
        start = self.ev.pos
        try:
            value = self.ev.expression()
            if not (self.ev.at(";") or self.tok.kind == "eof"):
                raise UnsupportedSyntax(self.tok)
        except UnsupportedSyntax:
            self.ev.pos = start
            value = Unresolved(f"expression at line {line} is not understood")
            self.skip_statement(line)  # `$a = $b = 1;` assigns $b too
            return value
        self.ev.skip_statement()
        return value

    def skip_control(self, word: str, line: int) -> None:
        start = self.ev.pos
        self.ev.skip_control()
        if word in ("declare", "function", "class", "interface", "trait", "enum"):
            return  # declarations assign nothing at the top level
        self.taint(start, f"the `{word}` block", line)
        names = _cfg_names(self.tokens[start:self.ev.pos])
        sets = f"; it sets {', '.join(names[:8])} conditionally" if names else ""
        self.out.warnings.append(
            f"line {line}: `{word}` block skipped (conditions and loops are not "
            f"evaluated){sets}")


def _cfg_names(tokens: list[Token]) -> list[str]:
    names: list[str] = []
    for a, b, c, d in zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False):
        if (a.kind == "var" and a.value == _CFG and b.value == "->" and c.kind == "name"
                and d.kind == "op" and d.value in _ASSIGN_OPS | {"["}
                and c.value not in names):
            names.append(c.value)
    return names

