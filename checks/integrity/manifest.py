"""The expected manifest of a release: every file of an official archive (tar.gz or zip)
or of a git checkout of the release tag, with its SHA-256.

`vigil integrity manifest --from moodle-4.5.2.tgz` (cli.py) stores it as the "release"
rows of the site's code tree; verification (baseline.py) then reports files that differ
from the release itself, not only files changed since the last scan. Moodle's archives
hold one top-level "moodle/" directory, which is stripped (any single top directory is).
A git checkout is read without running git: tracked paths and blob ids come from
.git/index (gitformat-index(5), versions 2-4), and each file on disk must still hash to
its blob id, so a checkout with local edits cannot pass for the release.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from checks.integrity.gitindex import (
    IndexError_,
    blob_id,
    git_dir,
    head_commit,
    object_hash_name,
    read_index,
)
from checks.integrity.hashing import CHUNK
from checks.integrity.scan import FileStat
from checks.integrity.store import IntegrityStore, Record

_RELEASE = re.compile(rb"""\$release\s*=\s*(['"])(.*?)\1""")
VERSION_FILES = ("version.php", "public/version.php")  # Moodle 4.x, 5.1+


class ManifestError(Exception):
    """The archive or checkout cannot serve as a release manifest (the message says why)."""


@dataclass(slots=True)
class Manifest:
    files: dict[str, Record]
    source: str  # what it was built from, for the record
    release: str | None = None  # $release of the release's version.php
    archive_sha256: str | None = None
    commit: str | None = None
    skipped: list[str] = field(default_factory=list)  # unsafe names, special members


def release_of(text: bytes) -> str | None:
    match = _RELEASE.search(text)
    return match.group(2).decode("utf-8", "replace") if match else None


def installed_release(root: str) -> str | None:
    """$release from version.php on disk (None for a tree that is not Moodle's)."""
    for name in VERSION_FILES:
        try:
            with open(os.path.join(root, name), "rb") as fh:
                return release_of(fh.read(65536))
        except OSError:
            continue
    return None


def _clean(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        return None
    return "/".join(parts)


def _strip_top(names: list[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop() + "/"
    return ""


def _digest(stream: IO[bytes]) -> tuple[str, bytes, int]:
    sha = hashlib.sha256()
    head, size = b"", 0
    while chunk := stream.read(CHUNK):
        if not size:
            head = chunk[:4096]
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), head, size


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return _digest(fh)[0]


Member = tuple[str, Record | None, bytes]  # archive name, its record (None: skipped), head


def from_archive(path: Path) -> Manifest:
    """Hash every member of a release archive (streamed; nothing is extracted)."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such file")
    try:
        reader = _zip_members if zipfile.is_zipfile(path) else _tar_members
        members = list(reader(path))
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ManifestError(f"{path}: not a readable tar or zip archive ({exc})") from None
    good = [(name, rec, head) for raw, rec, head in members
            if rec is not None and (name := _clean(raw)) is not None]
    skipped = [raw for raw, rec, _ in members if rec is None or _clean(raw) is None]
    if not good:
        raise ManifestError(f"{path}: the archive holds no files")
    top = _strip_top([name for name, _, _ in good])
    files: dict[str, Record] = {}
    release = None
    for name, rec, head in good:
        rel = name[len(top):]
        files[rel] = rec
        if rel in VERSION_FILES and release is None:
            release = release_of(head)
    return Manifest(files, f"archive {path.name}", release, _file_sha256(path), None, skipped)


def _tar_members(path: Path) -> Iterator[Member]:
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            mtime = int(member.mtime) * 1_000_000_000
            if member.isdir():
                continue
            if member.issym():
                st = FileStat("symlink", len(member.linkname), member.mode | stat.S_IFLNK,
                              0, 0, mtime, 0, 0, member.linkname)
                yield member.name, Record(st), b""
                continue
            stream = tar.extractfile(member) if member.isfile() or member.islnk() else None
            if stream is None:  # devices, FIFOs: nothing a release ships
                yield member.name, None, b""
                continue
            sha, head, size = _digest(stream)
            st = FileStat("file", size, member.mode | stat.S_IFREG, 0, 0, mtime, 0, 0)
            yield member.name, Record(st, sha), head


def _zip_members(path: Path) -> Iterator[Member]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            with archive.open(info) as stream:
                sha, head, size = _digest(stream)
            if stat.S_ISLNK(mode):  # a symlink's content is its target
                target = head.decode("utf-8", "surrogateescape")
                st = FileStat("symlink", size, mode, 0, 0, 0, 0, 0, target)
                yield info.filename, Record(st), b""
            else:
                st = FileStat("file", size, (mode & 0o7777 or 0o644) | stat.S_IFREG,
                              0, 0, 0, 0, 0)
                yield info.filename, Record(st, sha), head


def from_git(checkout: Path, *, allow_dirty: bool = False) -> Manifest:
    """The tracked files of a git checkout of the release tag, each verified against its
    blob id (a file edited since the checkout makes this fail unless ``allow_dirty``)."""
    try:
        gitdir = git_dir(checkout)
        algorithm = object_hash_name(gitdir)
        entries = read_index((gitdir / "index").read_bytes(),
                             32 if algorithm == "sha256" else 20)
    except (IndexError_, OSError) as exc:
        raise ManifestError(f"{checkout}: {exc}") from None
    files: dict[str, Record] = {}
    dirty: list[str] = []
    for entry in entries:
        try:
            oid, rec = _checkout_file(checkout / entry.path, entry.mode, algorithm)
        except OSError:
            dirty.append(f"{entry.path} (missing)")
            continue
        if oid != entry.oid:
            dirty.append(entry.path)
        files[entry.path] = rec
    if dirty and not allow_dirty:
        raise ManifestError(
            f"{checkout}: {len(dirty)} tracked file(s) differ from the commit, so the "
            f"checkout is not the pristine release: {', '.join(dirty[:5])}")
    if not files:
        raise ManifestError(f"{checkout}: the git index lists no files")
    release = installed_release(str(checkout))
    return Manifest(files, f"git checkout {checkout}", release, None, head_commit(gitdir),
                    dirty)


def _checkout_file(path: Path, mode: int, algorithm: str) -> tuple[str, Record]:
    """The blob id and the manifest record of one work-tree file, read in one stream."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        return blob_id(os.fsencode(target), algorithm), Record(
            FileStat("symlink", st.st_size, st.st_mode, 0, 0, 0, 0, 0, target))
    blob = hashlib.new(algorithm)
    blob.update(b"blob %d\0" % st.st_size)
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            blob.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    oid = blob.hexdigest() if size == st.st_size else "changed-while-read"
    return oid, Record(FileStat("file", size, mode, 0, 0, 0, 0, 0), sha.hexdigest())


def save_manifest(store: IntegrityStore, site: str, root: str, manifest: Manifest,
                  now: float, actor: str) -> None:
    """Make ``manifest`` the site's expected release (replacing an older one)."""
    store.write(site, root, "release", manifest.files, replace=True)
    store.add_run(site, root, "manifest", now, actor, files=len(manifest.files),
                  detail={"release": manifest.release, "source": manifest.source,
                          "archive_sha256": manifest.archive_sha256,
                          "commit": manifest.commit, "skipped": manifest.skipped[:20]})
