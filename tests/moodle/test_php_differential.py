"""Vigil's config.php reader against the real PHP interpreter, case by case.

Each case of tests/moodle/php_corpus/ (expressions.txt: one expression per line, run
as ``$CFG->v = EXPR;``; configs.txt: whole config.php and version.php shapes) is
written as a config.php next to an empty lib/setup.php, then
  - read by Vigil (parse_php), and
  - run by ``php -n`` with php_corpus/dump.php appended, which writes every top-level
    variable and define()d constant as type-tagged JSON (floats as IEEE bits, strings
    as hex bytes).
Both sides are turned into the same tagged form here, by code independent of the
reader, and must agree. Where they do not, Vigil must have refused: raised a
PhpSyntaxError/PhpLimitError naming the line, given an Unresolved whose reason names
the line, or warned about a skipped block that sets the setting. If PHP itself fails
(an exception, a parse error, memory exhausted), Vigil must refuse something too.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from checks.moodle.config_php import PhpObject, PhpSyntaxError, Unresolved, parse_php

PHP = shutil.which("php")
pytestmark = pytest.mark.needs("php")  # the differential test needs the real interpreter

CORPUS = Path(__file__).parent / "php_corpus"
_LINE = re.compile(r"line \d+")


def load_cases() -> list[tuple[str, str]]:
    """(name, config.php source) for every case of the corpus."""
    cases = []
    for number, line in enumerate((CORPUS / "expressions.txt").read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            source = f"<?php\n$CFG = new stdClass();\n$CFG->v = {line};\n"
            cases.append((f"expressions.txt:{number}: {line[:60]}", source))
    text = (CORPUS / "configs.txt").read_text()
    for chunk in re.split(r"^=== ", text, flags=re.MULTILINE)[1:]:
        name, _, body = chunk.partition("\n")
        cases.append((f"configs.txt: {name}", body))
    return cases


CASES = load_cases()


def run_php(source: str, directory: Path) -> dict[str, Any] | None:
    """The tagged dump of what PHP's run left behind, or None when PHP failed."""
    (directory / "lib").mkdir(parents=True)
    (directory / "lib" / "setup.php").write_text("<?php\n")
    config = directory / "config.php"
    config.write_text(source)
    dump = directory / "dump.json"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VIGIL_DUMP": str(dump)}
    result = subprocess.run(
        [str(PHP), "-n", "-d", "error_reporting=-1", "-d", "display_errors=stderr",
         "-d", "memory_limit=128M", "-d", f"auto_append_file={CORPUS / 'dump.php'}",
         str(config)], env=env, capture_output=True, timeout=60, check=False)
    if result.returncode != 0 or not dump.exists():
        return None
    data = json.loads(dump.read_text())
    return {"vars": data["vars"] or {}, "constants": data["constants"] or {}}


def tag(value: Any) -> Any:
    """Vigil's value in dump.php's tagged form; Unresolved becomes ["?", reason]."""
    if isinstance(value, Unresolved):
        return ["?", value.reason]
    if value is None:
        return ["N"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["d", "NAN" if value != value else struct.pack(">d", value).hex()]
    if isinstance(value, str):
        return ["s", value.encode("utf-8", "surrogateescape").hex()]
    if isinstance(value, dict):
        return ["a", [[["i", str(k)] if isinstance(k, int) else
                       ["s", k.encode("utf-8").hex()], tag(v)] for k, v in value.items()]]
    if isinstance(value, PhpObject):
        return ["o", value.cls, [[["s", k.encode("utf-8").hex()], tag(v)]
                                 for k, v in value.props.items()]]
    return ["python", type(value).__name__]


@dataclass
class Outcome:
    refusals: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def compare(vigil: Any, php: Any, where: str, warnings: str, out: Outcome) -> None:
    if vigil[0] == "?":
        if _LINE.search(vigil[1]):
            out.refusals.append(f"{where}: {vigil[1]}")
        else:
            out.mismatches.append(f"{where}: refused without naming the line: {vigil[1]}")
        return
    if vigil[0] != php[0] or vigil[0] not in ("a", "o"):
        if vigil != php:
            out.mismatches.append(f"{where}: Vigil {vigil} but PHP {php}")
        return
    if vigil[0] == "o" and vigil[1] != php[1]:
        out.mismatches.append(f"{where}: class {vigil[1]} but PHP {php[1]}")
    mine, theirs = vigil[-1], php[-1]
    if [k for k, _ in mine] != [k for k, _ in theirs]:
        missing = [bytes.fromhex(k[1]).decode() for k, _ in theirs
                   if k not in [m for m, _ in mine] and k[0] == "s"]
        if missing and all(name in warnings for name in missing):
            out.refusals.append(f"{where}: {missing} set in a block Vigil skipped, "
                                f"with a warning")
        else:
            out.mismatches.append(f"{where}: keys {[k for k, _ in mine]} but PHP "
                                  f"{[k for k, _ in theirs]}")
    theirs_by_key = {json.dumps(k): v for k, v in theirs}
    for key, value in mine:
        if json.dumps(key) in theirs_by_key:
            shown = key[1] if key[0] == "i" else repr(bytes.fromhex(key[1]).decode())
            compare(value, theirs_by_key[json.dumps(key)], f"{where}[{shown}]", warnings, out)


def judge(source: str, directory: Path) -> tuple[str, Outcome]:
    """("agreed" | "refused" | "disagreed", details) for one case."""
    php = run_php(source, directory)
    out = Outcome()
    try:
        parsed = parse_php(source, directory / "config.php")
    except PhpSyntaxError as exc:
        if not _LINE.search(str(exc)):
            out.mismatches.append(f"error without a line: {exc}")
        out.refusals.append(f"error: {exc}")
        return ("refused" if not out.mismatches else "disagreed"), out
    warnings = " ".join(parsed.warnings)
    vigil = {"vars": {k: tag(v) for k, v in parsed.variables.items()},
             "constants": {k: tag(v) for k, v in parsed.constants.items()}}
    if php is None:
        if "?" not in json.dumps(vigil) and not warnings:
            out.mismatches.append(f"PHP fails on this file but Vigil read {vigil}")
        else:
            out.refusals.append("PHP fails; Vigil refused part of it")
        return ("refused" if not out.mismatches else "disagreed"), out
    for section in ("vars", "constants"):
        mine, theirs = vigil[section], php[section]
        for name in sorted(set(mine) | set(theirs)):
            if name not in theirs or name not in mine:
                out.mismatches.append(f"{section} {name}: only in "
                                      f"{'Vigil' if name in mine else 'PHP'}")
                continue
            compare(mine[name], theirs[name], f"{section} {name}", warnings, out)
    if out.mismatches:
        return "disagreed", out
    return ("refused" if out.refusals else "agreed"), out


_RESULTS: dict[str, str] = {}


@pytest.mark.parametrize(("name", "source"), CASES, ids=[name for name, _ in CASES])
def test_vigil_agrees_with_php_or_refuses_naming_the_line(name: str, source: str,
                                                          tmp_path: Path) -> None:
    verdict, out = judge(source, tmp_path.resolve())
    _RESULTS[name] = verdict
    assert verdict != "disagreed", f"{name}\n{source}\n" + "\n".join(out.mismatches)


_LITERALS = ["0", "1", "-1", "2", "7", "-7", "63", "64", "PHP_INT_MAX", "PHP_INT_MIN", "0.5",
             "-0.0", "1e20", "1.5", "'5'", "'1e3'", "' 7'", "'abc'", "''", "'0'", "null",
             "true", "false", "[]", "[1, 2]", "['a' => 1]", "'10'", "'9a'", "NAN", "INF",
             "0x10", "'1.0'", "1e15", "'-3'"]
_BINARY = ["+", "-", "*", "/", "%", "**", "<<", ">>", "&", "|", "^", ".", "==", "===", "!=",
           "<", ">", "<=", ">=", "<=>", "&&", "||", "??"]
_UNARY = ["-", "!", "~", "(int)", "(string)", "(float)", "(bool)", "(array)"]


def random_expression(rnd: random.Random, depth: int = 0) -> str:
    roll = rnd.random()
    if depth > 2 or roll < 0.3:
        return rnd.choice(_LITERALS)
    if roll < 0.45:
        return f"{rnd.choice(_UNARY)}({random_expression(rnd, depth + 1)})"
    return (f"({random_expression(rnd, depth + 1)} {rnd.choice(_BINARY)} "
            f"{random_expression(rnd, depth + 1)})")


def test_random_operator_mixes_agree_with_php_or_are_refused(tmp_path: Path) -> None:
    """A seeded mix of every operator, cast and awkward operand; the corpus above holds
    the cases a reader should recognise, this finds the combinations nobody wrote down."""
    rnd = random.Random(20261207)
    verdicts: dict[str, int] = {}
    disagreements = []
    for number in range(150):
        expression = random_expression(rnd)
        source = f"<?php\n$CFG = new stdClass();\n$CFG->v = {expression};\n"
        verdict, out = judge(source, (tmp_path / str(number)).resolve())
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        if verdict == "disagreed":
            disagreements.append(f"{expression}: {out.mismatches}")
    assert not disagreements, f"{verdicts}\n" + "\n".join(disagreements)


def test_the_corpus_is_large_and_mostly_agreed(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the cases (file order); prints the tally, and needs the corpus whole."""
    counts = {v: list(_RESULTS.values()).count(v) for v in ("agreed", "refused", "disagreed")}
    summary = (f"PHP differential: {len(CASES)} cases, {counts['agreed']} agreed with php, "
               f"{counts['refused']} refused by Vigil naming the line, "
               f"{counts['disagreed']} disagreed")
    with capsys.disabled():
        print(f"\n{summary}")
    assert len(CASES) >= 200, summary
    if len(_RESULTS) == len(CASES):  # the whole corpus ran (not a -k selection)
        assert counts["disagreed"] == 0, summary
        assert counts["agreed"] > counts["refused"], summary
