"""Find executable scripts in a data directory: web shells and other dropped code.

Called by the `dataroot_scripts` check (datascripts.py). A data directory holds uploads
and caches, never code Vigil expects to run, so any script found is a finding:
- by name (*.php, *.phtml, *.phar, *.php5, x.php.jpg...) everywhere, including the blob
  stores, whose names are read without a stat (``names_only``: Moodle's filedir and
  trashdir hold user uploads named by their SHA-1; Moodle never executes them, so their
  content is not sniffed, only a name that is not a hash and looks like a script counts);
- by content everywhere else: a PHP open tag (<?php, <?=) in the first 4 KiB. Each file is
  sniffed once per (size, mtime, ctime, inode), newest first, within the byte budget; the
  verdicts are kept as "data" rows in the state DB.
Moodle writes a few PHP files into its dataroot itself (generated.py): such a file passes
only when its place, name and content shape are what Moodle writes (a read of its ends,
within the byte budget, once per stat change); a misshapen one is a finding like any
script. ``DataRules.allowed`` are plain path exceptions a user configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from checks.integrity.generated import (
    HEAD_BYTES,
    TAIL_BYTES,
    WHOLE_BYTES,
    Generated,
    recognise,
    sniff_cost,
)
from checks.integrity.hashing import Deadline, Opener, default_opener, read_ends, sniff
from checks.integrity.patterns import SNIFF_BYTES, PathRules, is_script_name
from checks.integrity.scan import FileStat, names, scan
from checks.integrity.store import IntegrityStore, Record

# Blob stores: names only. filedir/aa/bb/<sha1> and trashdir/aa/bb/<sha1>
# (lib/filestorage/file_system_filedir.php); restored backups unpack their files the same
# way under temp/backup/<id>/files (backup/util/helper/restore_*).
DEFAULT_NAMES_ONLY = ("/filedir/", "/trashdir/", "/temp/backup/*/files/")
DATA = "data"
# Verdicts kept per file: a sniffed file is "clean" or "script"; a file with a generated
# name is "generated" (Moodle's shape) or "forged" (not). A verdict of the other kind (the
# rules changed since) is not reused, nor is a "forged" one (see find_scripts).
SNIFFED, SHAPED = frozenset({"clean", "script"}), frozenset({"generated", "forged"})


@dataclass(slots=True)
class DataFindings:
    scripts: list[str] = field(default_factory=list)  # by name or by content, not allowed
    files: int = 0  # looked at (names-only paths included)
    pending: int = 0  # waiting for a content sniff (budget or deadline)
    read_bytes: int = 0
    unreadable: list[str] = field(default_factory=list)
    special: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DataRules:
    allowed: PathRules  # plain path exceptions (configured)
    names_only: PathRules
    ignore: PathRules
    generated: tuple[Generated, ...] = ()  # Moodle's own files, checked by shape


def find_scripts(store: IntegrityStore, site: str, root: str, rules: DataRules, *,
                 budget: int | None, deadline: Deadline, now: float,
                 opener: Opener = default_opener) -> DataFindings:
    found = scan(root, rules.ignore, prune=rules.names_only)
    out = DataFindings(unreadable=list(found.unreadable), special=list(found.special))
    for directory in found.pruned:
        blobs, unreadable = names(root, directory)
        out.files += len(blobs)
        out.unreadable += unreadable
        out.scripts += [p for p in blobs if is_script_name(p) and not rules.allowed.matches(p)]
    known = store.load(site, root, DATA, brief=True)
    to_sniff: list[str] = []
    shaped: dict[str, tuple[Generated, re.Match[str]]] = {}
    for path, st in found.files.items():
        out.files += 1
        if st.kind != "file" or rules.allowed.matches(path):
            continue
        if (hit := recognise(path, rules.generated)) is not None:
            shaped[path] = hit
        elif is_script_name(path):
            out.scripts.append(path)
            continue
        old = known.get(path)
        # A "forged" verdict is judged again each run (files with one of Moodle's generated
        # names that failed their shape: rare, read within the budget): the shape rules
        # are the part that evolves, and a false alarm must end with the fix that removes
        # it, not last until Moodle rewrites the file (docs/real-moodle.md, problem 2).
        if old is not None and old.stat == st and old.note != "forged" and old.note in (
                SHAPED if path in shaped else SNIFFED):
            if old.note == "script":
                out.scripts.append(path)
            continue
        to_sniff.append(path)
    to_sniff.sort(key=lambda p: found.files[p].mtime_ns, reverse=True)  # fresh drops first
    verdicts = _sniff_all(root, found.files, to_sniff, shaped, budget, deadline, opener,
                          out)
    for path, rec in verdicts.items():
        if rec.note in ("script", "forged"):
            out.scripts.append(path)
        elif rec.note == "unreadable":
            out.unreadable.append(path)
    store.write(site, root, DATA, verdicts,
                delete=[p for p in known if p not in found.files])
    out.scripts.sort()
    return out


def _sniff_all(root: str, files: dict[str, FileStat], paths: list[str],
               shaped: dict[str, tuple[Generated, re.Match[str]]], budget: int | None,
               deadline: Deadline, opener: Opener, out: DataFindings) -> dict[str, Record]:
    verdicts: dict[str, Record] = {}
    prefix = root.rstrip("/") + "/"
    for index, path in enumerate(paths):
        size = files[path].size
        cost = (sniff_cost(size) if path in shaped else min(size, SNIFF_BYTES)) or 1
        if (budget is not None and out.read_bytes + cost > budget) or deadline.passed():
            out.pending = len(paths) - index
            break
        if path in shaped:
            entry, where = shaped[path]
            ends, got = read_ends(prefix + path, files[path].ino, whole_up_to=WHOLE_BYTES,
                                 head=HEAD_BYTES, tail=TAIL_BYTES, opener=opener)
            note = None if ends is None else (
                "generated" if entry.shape(ends, where) else "forged")
        else:
            got = sniff(prefix + path, files[path].ino, opener=opener)
            note = "script" if got.tagged else "clean"
        out.read_bytes += max(got.read, 1)
        if got.problem == "unreadable":
            verdicts[path] = Record(files[path], note="unreadable")
        elif got.problem is None and note is not None:
            verdicts[path] = Record(files[path], note=note)
    return verdicts
