"""Ignore patterns (gitignore-style), script names and PHP tags, printable paths."""

from __future__ import annotations

import pytest

from checks.integrity.patterns import PHP_TAG, PathRules, display_path, is_script_name


@pytest.mark.parametrize(("patterns", "path", "is_dir", "expected"), [
    (["*.log"], "a/b/error.log", False, True),
    (["*.log"], "a/b/error.log.txt", False, False),
    (["/config.php"], "config.php", False, True),
    (["/config.php"], "sub/config.php", False, False),
    (["config.php"], "sub/config.php", False, True),
    (["cache/"], "a/cache", True, True),
    (["cache/"], "a/cache", False, False),
    (["cache/"], "a/cache/x.php", False, True),
    (["/theme/**/*.css"], "theme/boost/style/moodle.css", False, True),
    (["/theme/**/*.css"], "theme/x.css", False, True),
    (["**/node_modules"], "a/b/node_modules", True, True),
    (["lib/*.js"], "lib/x.js", False, True),
    (["lib/*.js"], "lib/sub/x.js", False, False),
    (["f?.txt"], "f1.txt", False, True),
    (["[ab].txt"], "b.txt", False, True),
    (["[!ab].txt"], "b.txt", False, False),
    (["*.php", "!keep.php"], "x/keep.php", False, False),
    (["# comment", ""], "# comment", False, False),
    ([".git"], "local/plugin/.git", False, True),
])
def test_gitignore_style_patterns(patterns, path, is_dir, expected) -> None:
    assert PathRules(patterns).matches(path, is_dir) is expected


@pytest.mark.parametrize(("name", "expected"), [
    ("x.php", True), ("X.PHP", True), ("shell.php.jpg", True), ("a.phtml", True),
    ("a.phar", True), ("a.php5", True), ("a.php7", True), ("a.pht", True),
    ("lib/a.php/readme.txt", False), ("phpinfo", False), ("a.js", False),
    (".php", True),  # some handler configurations run it: better a finding than a miss
])
def test_script_names(name, expected) -> None:
    assert is_script_name(name) is expected


def has_php_tag(head: bytes) -> bool:
    return PHP_TAG.search(head) is not None


def test_php_open_tags_are_found_anywhere_in_the_head() -> None:
    assert has_php_tag(b"GIF89a;<?php eval($_POST[1]);")
    assert has_php_tag(b"<?= $x ?>") and has_php_tag(b"<?PHP ")
    assert not has_php_tag(b"<?xml version='1.0'?>")


def test_undecodable_bytes_are_shown_escaped() -> None:
    assert display_path(b"lib/bad\xff.php".decode("utf-8", "surrogateescape")) == \
        "lib/bad\\xff.php"
    assert display_path("lib/é.php") == "lib/é.php"
