"""Helpers for the integrity tests: a Moodle-shaped code tree, contexts, archives, git index.

Imported by basename (pytest puts tests/integrity on sys.path), hence the unique name.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from checks.base import CheckContext
from checks.moodle.site import MoodleSite
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result
from monitor.kernel.target import Target
from tests.moodle_double.sitedir import FakeSite, make_site

EXTRA_CODE = {  # generated files on top of make_site's tree (a few of each kind)
    "lib/weblib.php": "<?php\nfunction format_text($t) { return $t; }\n",
    "lib/moodlelib.php": "<?php\nfunction get_string($s) { return $s; }\n",
    "lib/javascript-static.js": "M.util = {};\n",
    "theme/boost/style/moodle.css": "body { margin: 0 }\n",
    "theme/boost/pix/logo.png": "\x89PNG fake image bytes",
    "mod/quiz/lib.php": "<?php\nfunction quiz_add_instance() {}\n",
    "mod/quiz/templates/attempt.mustache": "<div>{{name}}</div>\n",
    "README.txt": "Moodle\n",
}


class Clock:
    """Wall time that moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def code_site(tmp_path: Path, layout: str = "4.5") -> FakeSite:
    site = make_site(tmp_path, layout)  # type: ignore[arg-type]
    write_tree(site.root, EXTRA_CODE)
    return site


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)


def context(site: FakeSite, state_dir: Path, clock: Clock, *, timeout: float = 120.0,
            kind: str = "moodle") -> CheckContext:
    return CheckContext(target=Target("moodle-test", kind, "https://moodle.example.test"),
                        timeout=timeout, now=clock, run_blocking=asyncio.to_thread,
                        site=MoodleSite(site.moodle_settings(cli=False)), state_dir=state_dir)


def assert_catalogued(result: Result) -> Result:
    for sample in result.samples:
        assert sample.name in CATALOGUE, f"{sample.name} is not catalogued"
        assert set(sample.labels) == set(CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def sample(result: Result, name: str, **labels: str) -> float | None:
    for s in result.samples:
        if s.name == name and dict(s.labels) == labels:
            return s.value
    return None


def failing_opener(fail: Callable[[str], BaseException | None]) -> Callable[[str], int]:
    """An opener that raises what ``fail(path)`` returns (None: open normally)."""
    from checks.integrity.hashing import default_opener

    def opener(path: str) -> int:
        exc = fail(path)
        if exc is not None:
            raise exc
        return default_opener(path)
    return opener


# -- release archives -------------------------------------------------------------------
def tree_files(root: Path, skip: Iterable[str] = ()) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if not any(rel == s or rel.startswith(s + "/") for s in skip):
                out[rel] = path.read_bytes()
    return out


def make_tgz(path: Path, files: Mapping[str, bytes], top: str = "moodle",
             symlinks: Mapping[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for rel, target in (symlinks or {}).items():
            info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def make_zip(path: Path, files: Mapping[str, bytes], top: str = "moodle") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in sorted(files.items()):
            archive.writestr(f"{top}/{rel}", data)
    return path


# -- a git index as git writes it (gitformat-index(5)), to test the reader without git ---
def _varint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        value -= 1
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


def write_git_index(checkout: Path, files: Mapping[str, bytes], version: int = 2,
                    head: str = "ref: refs/heads/MOODLE_405_STABLE") -> None:
    """A .git with HEAD, a loose ref and an index listing ``files`` (blob ids of their
    content, as committed)."""
    git = checkout / ".git"
    (git / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (git / "HEAD").write_text(head + "\n")
    (git / "refs" / "heads" / "MOODLE_405_STABLE").write_text("ab" * 20 + "\n")
    body = bytearray(b"DIRC" + struct.pack(">II", version, len(files)))
    previous = b""
    for rel in sorted(files, key=lambda p: p.encode()):
        name, data = rel.encode(), files[rel]
        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        start = len(body)
        body += struct.pack(">10I", 0, 0, 0, 0, 0, 0, 0o100644, 0, 0, len(data))
        body += oid + struct.pack(">H", min(len(name), 0xFFF))
        if version == 4:
            common = 0
            while common < min(len(name), len(previous)) and name[common] == previous[common]:
                common += 1
            body += _varint(len(previous) - common) + name[common:] + b"\0"
        else:
            body += name + b"\0"
            while (len(body) - start) % 8:
                body += b"\0"
        previous = name
    body += hashlib.sha1(bytes(body)).digest()
    (git / "index").write_bytes(bytes(body))
