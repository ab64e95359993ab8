"""Which paths a scan skips (gitignore-style patterns) and which files are executable scripts.

Pure functions used by the walker (scan.py), the code tree check and the data directory
check. Paths are relative, '/'-separated ``str`` (undecodable bytes kept as surrogates).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# What a PHP-capable web server may execute. Apache's AddHandler runs "x.php.jpg" too, so
# every dotted part of a name counts, not only the last one.
SCRIPT_SUFFIXES = frozenset({
    "php", "phtml", "phar", "pht", "phps", "php3", "php4", "php5", "php7", "php8",
})
# An open tag anywhere in the first bytes: PHP starts executing there (polyglot images
# such as "GIF89a;<?php ..." included through a file-inclusion bug work this way).
PHP_TAG = re.compile(rb"<\?(?:php|=)", re.IGNORECASE)
SNIFF_BYTES = 4096


def is_script_name(name: str) -> bool:
    """True for names a web server could run as PHP (by any of their dotted suffixes)."""
    if name.endswith(".php"):  # most files of a code tree: no split (once per file)
        return True
    parts = name.rsplit("/", 1)[-1].lower().split(".")
    return any(part in SCRIPT_SUFFIXES for part in parts[1:])


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]  # the path itself or anything below it
    below: re.Pattern[str]  # strictly below it (what a directory-only pattern covers)
    negate: bool
    dir_only: bool


class PathRules:
    """A gitignore-style pattern list: ``*``, ``?``, ``[...]``, ``**``, a leading ``/``
    (anchored to the root), a trailing ``/`` (directories only) and ``!`` (re-include);
    the last matching pattern wins, and a skipped directory is not entered (as in git)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._rules = tuple(rule for p in self.patterns if (rule := _compile(p)) is not None)
        # Without "!" the order does not matter: one regex per entry kind (the walker asks
        # for every file of the tree).
        self._joined: tuple[re.Pattern[str], re.Pattern[str]] | None = None
        if self._rules and not any(rule.negate for rule in self._rules):
            dirs = "|".join(r.regex.pattern for r in self._rules)
            files = "|".join((r.below if r.dir_only else r.regex).pattern for r in self._rules)
            self._joined = re.compile(dirs, re.DOTALL), re.compile(files, re.DOTALL)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def matches(self, path: str, is_dir: bool = False) -> bool:
        if self._joined is not None:
            return self._joined[0 if is_dir else 1].match(path) is not None
        hit = False
        for rule in self._rules:
            regex = rule.below if rule.dir_only and not is_dir else rule.regex
            if regex.match(path):
                hit = not rule.negate
        return hit


def _compile(pattern: str) -> _Rule | None:
    text = pattern.strip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    text = text[1:] if negate else text
    dir_only = text.endswith("/")
    text = text.rstrip("/")
    anchored = "/" in text
    text = text.lstrip("/")
    if not text:
        return None
    body = _translate(text)
    # Unanchored patterns match a name at any depth; every pattern also matches what lies
    # below a matching directory (so "*.log" skips "a.log/x" like git does).
    prefix = "" if anchored else "(?:.*/)?"
    return _Rule(re.compile(f"^{prefix}{body}(?:/.*)?$", re.DOTALL),
                 re.compile(f"^{prefix}{body}/.+$", re.DOTALL), negate, dir_only)


def _translate(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 2)) != -1:
            inner = glob[i + 1:end]
            inner = "^" + inner[1:] if inner.startswith("!") else inner
            out.append(f"[{inner.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def display_path(path: str) -> str:
    """A path safe to print, log or put in JSON: undecodable bytes shown as \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
