"""What the integrity store (store.py) hands out: a file's Record, a Run, the rolling
Cursor; and a record's conversions to and from table rows (every file of a tree, every
run: written for speed) and the saved scan hashes (one JSON value per tree, read when the
tree is unchanged: store.load_hashes)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from checks.integrity.scan import FileStat


class Record(NamedTuple):
    stat: FileStat
    sha256: str | None = None
    hashed_at: float | None = None
    note: str | None = None  # "unreadable", or what a data file was found to be
    accepted_at: float | None = None  # set by `vigil integrity accept` (and in windows)
    accepted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    kind: str  # "baseline" | "accept" | "manifest" | "verify"
    at: float
    actor: str
    files: int
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cursor:
    position: str | None = None  # last path the rolling re-hash reached
    cycle_started: float | None = None
    last_cycle_at: float | None = None  # when a full re-hash last completed
    last_cycle_seconds: float | None = None


def fs_text(blob: bytes | None) -> str | None:
    return None if blob is None else os.fsdecode(blob)


def rows_of(tree_id: int, source: str, records: Mapping[str, Record],
          ) -> Iterable[tuple[Any, ...]]:
    # Runs for every file of a tree at baseline time: os.fsencode() inlined.
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    for path, (st, *rest) in sorted(records.items()):
        link = st[8]
        yield (tree_id, source, path.encode(encoding, errors), *st[:8],
               None if link is None else link.encode(encoding, errors), *rest)


_SHA256, _NOTE = itemgetter(1), itemgetter(3)  # Record fields


def pack_hashes(observed: Mapping[str, Record]) -> bytes:
    """[sha256 of each path, note of each path], paths in ``str`` order (= key order for
    the ASCII paths it is kept for), as load_hashes reads them; JSON, so equal hashes give
    equal bytes (see save_scan) and reading it runs no code (~2 ms more than marshal)."""
    records = list(map(observed.__getitem__, sorted(observed)))
    return json.dumps([list(map(_SHA256, records)), list(map(_NOTE, records))],
                      separators=(",", ":")).encode()


def records_of(rows: Iterable[tuple[Any, ...]]) -> dict[str, Record]:
    # tuple.__new__ and a plain decode: this runs for every file of a tree on every run.
    new = tuple.__new__
    return {r[0].decode("utf-8", "surrogateescape"): new(Record, (
                new(FileStat, r[1:10] if r[9] is None else (*r[1:9], fs_text(r[9]))), *r[10:]))
            for r in rows}



def unpack_hashes(value: bytes, files: Mapping[str, FileStat], order: list[str],
                  ) -> dict[str, Record] | None:
    """The records pack_hashes saved, their stats from ``files`` (``order``: its paths
    sorted, the saved order); None if the value is damaged or of another tree."""
    try:  # json, not marshal: a damaged or planted value must fail, not crash
        shas, notes = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not (type(shas) is list and type(notes) is list and len(shas) == len(order)
            == len(notes)):
        return None
    # Built in C (zip, map, repeat).
    none = repeat(None)
    return dict(zip(order, map(tuple.__new__, repeat(Record), zip(
        map(files.__getitem__, order), shas, none, notes, none, none, strict=False)),
        strict=True))
