"""Assignments and ``unset()`` through ``$var->a['b'][]`` chains, with PHP's value rules.

Part of the safe config.php reader: config_php.py finds the statements, php_eval.py
parses the target and evaluates the right-hand side, and ``store`` writes it here.
PHP arrays are values: each array on the path is copied before it changes, so another
variable that held the same array keeps its elements (``$o = $CFG->dboptions;
$o['x'] = 1;`` leaves $CFG alone). Objects are references and change in place. Where PHP
would throw (a string used as an array), that spot becomes Unresolved naming the line.
``assigned_variables`` finds what statements Vigil skips may assign, so that those
variables become Unresolved instead of keeping a value PHP would have changed.
"""

from __future__ import annotations

from typing import Any

from checks.moodle.php_limits import Budget
from checks.moodle.php_ops import combine
from checks.moodle.php_syntax import Token
from checks.moodle.php_values import (
    PhpArray,
    PhpObject,
    PhpTypeError,
    Unresolved,
    array_key,
    new_array,
    next_key,
    with_item,
)

Target = tuple[str, list[tuple[str, Any]]]  # variable name, steps ("prop"|"index"|"append", arg)
UNSET = "unset"  # the op that removes the target instead of assigning it


def store(variables: dict[str, Any], target: Target, op: str, value: Any, line: int,
          budget: Budget) -> None:
    """``target op value`` (op is "=", ".=", "??=", ... or UNSET)."""
    name, steps = target
    if not steps:
        if op == UNSET:
            variables.pop(name, None)
        else:
            variables[name] = combine(op, variables.get(name), value)
        return
    path: list[tuple[Any, Any]] = []  # (container, key), from the variable down
    current = variables.get(name)
    for kind, arg in steps:
        if current is None and op == UNSET:
            return  # unset() of something that is not there does nothing
        if isinstance(current, Unresolved):
            current = Unresolved(current.reason)  # a value written into the unknown
            break
        current = _container(current, kind, line)
        if isinstance(current, Unresolved):
            break
        key = _key(current, kind, arg, line)
        if isinstance(key, Unresolved):
            current = key
            break
        path.append((current, key))
        current = current.props.get(key) if isinstance(current, PhpObject) else current.get(key)
    else:
        if op == UNSET:
            _remove(path, variables, name, budget)
            return
        current = combine(op, current, value)
    variables[name] = _rebuild(path, current, budget)


def _container(current: Any, kind: str, line: int) -> Any:
    if kind == "prop":
        # A missing object is created, as Moodle's loader provides $CFG and $plugin.
        current = PhpObject() if current is None else current
        if not isinstance(current, PhpObject):
            return Unresolved(f"PHP would fail: a property of a non-object at line {line}")
        return current
    current = new_array() if current is None else current
    if not isinstance(current, dict):
        return Unresolved(f"PHP would fail: an element of a non-array at line {line}")
    return current


def _key(container: Any, kind: str, arg: Any, line: int) -> Any:
    if kind == "prop":
        return arg
    if kind == "append":
        return next_key(container)
    if isinstance(arg, Unresolved):
        return Unresolved(f"an array key is unknown at line {line}: {arg.reason}")
    try:
        return array_key(arg)
    except PhpTypeError as exc:
        return Unresolved(f"PHP would fail: {exc} at line {line}")


def _rebuild(path: list[tuple[Any, Any]], current: Any, budget: Budget) -> Any:
    for container, key in reversed(path):
        if isinstance(container, PhpObject):
            container.props[key] = current
            current = container
        else:
            current = with_item(container, key, current)
            budget.charge(4 * len(current))  # a copy PHP would share: time, not memory
    return current


def _remove(path: list[tuple[Any, Any]], variables: dict[str, Any], name: str,
            budget: Budget) -> None:
    container, key = path[-1]
    if isinstance(container, PhpObject):
        container.props.pop(key, None)
        return
    if key not in container:
        return
    smaller = new_array({k: v for k, v in container.items() if k != key})
    # PHP keeps counting keys from where it was: [1, 2], unset [1], then [] = 3 is key 2
    smaller.next_free = container.next_free if isinstance(container, PhpArray) \
        else next_key(container)
    budget.charge(4 * len(smaller))
    variables[name] = _rebuild(path[:-1], smaller, budget)


_WRITES = {"=", ".=", "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>=",
           "??=", "++", "--"}


def assigned_variables(tokens: list[Token]) -> list[str]:
    """Variables that tokens Vigil skips may assign: ``$x = ``, ``$x['k'] .= ``,
    ``$i++``, ``++$i``, ``foreach (... as $k => $v)``, ``[$a, $b] = `` and ``list()``."""
    names: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.kind == "var":
            after = _after_chain(tokens, i + 1)
            if _is_op(tokens, after, _WRITES) or _is_op(tokens, i - 1, {"++", "--"}):
                names.append(tok.value)
        elif tok.kind == "name" and tok.value.lower() == "as":
            names += [t.value for t in _until_close(tokens, i + 1) if t.kind == "var"]
        elif _is_op(tokens, i, {"="}) and _is_op(tokens, i - 1, {"]", ")"}):
            names += _destructured(tokens, i - 1)
    return list(dict.fromkeys(names))


def _is_op(tokens: list[Token], i: int, ops: set[str]) -> bool:
    return 0 <= i < len(tokens) and tokens[i].kind == "op" and tokens[i].value in ops


def _after_chain(tokens: list[Token], i: int) -> int:
    """Index just past ``->name`` and ``[...]`` steps starting at i."""
    while i < len(tokens):
        if _is_op(tokens, i, {"->", "?->"}) and i + 1 < len(tokens):
            i += 2
        elif _is_op(tokens, i, {"["}):
            depth = 0
            while i < len(tokens):
                depth += 1 if _is_op(tokens, i, {"["}) else -1 if _is_op(tokens, i, {"]"}) else 0
                i += 1
                if depth == 0:
                    break
        else:
            break
    return i


def _until_close(tokens: list[Token], i: int) -> list[Token]:
    end = i
    while end < len(tokens) and not _is_op(tokens, end, {")"}):
        end += 1
    return tokens[i:end]


def _destructured(tokens: list[Token], close: int) -> list[str]:
    """Variables inside ``[...] =`` or ``list(...) =`` ending at index ``close``."""
    depth, i = 0, close
    while i >= 0:
        depth += 1 if _is_op(tokens, i, {"]", ")"}) else -1 if _is_op(tokens, i, {"[", "("}) \
            else 0
        if depth == 0:
            break
        i -= 1
    before = tokens[i - 1] if i > 0 else None
    is_index = before is not None and (before.kind in ("var", "str") or (
        before.kind == "op" and before.value in ("]", "}", "->")))
    is_list = before is not None and before.kind == "name" and before.value.lower() == "list"
    if i < 0 or (tokens[i].value == "(" and not is_list) or (tokens[i].value == "[" and is_index):
        return []
    return [t.value for t in tokens[i:close] if t.kind == "var"]
