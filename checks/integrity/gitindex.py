"""Read a git checkout's index and HEAD without running git (manifest.from_git uses it).

Format: gitformat-index(5) (Documentation/technical/index-format.txt in git/git): a
12-byte header "DIRC", version (2, 3 or 4), entry count; then entries of ctime, mtime,
dev, ino, mode, uid, gid, size (32-bit each), the object id, 16-bit flags (assume-valid,
extended, 2-bit stage, 12-bit name length), from version 3 16-bit extended flags when
the extended bit is set (skip-worktree 0x4000, intent-to-add 0x2000); the name ends with
NUL and, before version 4, NUL padding to a multiple of 8 bytes. Version 4 stores each
name as a varint count of bytes to drop from the previous name plus a NUL-ended suffix.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

GITLINK = 0o160000  # a submodule: its content is another repository
SKIP_WORKTREE = 0x4000


class IndexError_(Exception):  # noqa: N801 - "IndexError" is a builtin
    """The index cannot be read (the message names the cause)."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    path: str
    mode: int
    oid: str  # hex object id of the blob


def git_dir(checkout: Path) -> Path:
    """The .git directory (or the one a worktree's .git file points to)."""
    dot = checkout / ".git"
    if dot.is_file():
        text = dot.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text[len("gitdir:"):].strip())
            return target if target.is_absolute() else (checkout / target).resolve()
    if dot.is_dir():
        return dot
    raise IndexError_(f"{checkout} is not a git checkout (no .git)")


def object_hash_name(gitdir: Path) -> str:
    config = gitdir / "config"
    try:
        text = config.read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return "sha1"
    return "sha256" if "objectformat = sha256" in text.replace("\t", " ") else "sha1"


def blob_id(content: bytes, algorithm: str = "sha1") -> str:
    """The object id git gives a blob with this content."""
    digest = hashlib.new(algorithm)
    digest.update(b"blob %d\0" % len(content))
    digest.update(content)
    return digest.hexdigest()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (byte & 0x7F)
    return value, pos


def read_index(data: bytes, hash_len: int = 20) -> list[IndexEntry]:
    """Stage-0 entries of blobs and symlinks present in the work tree."""
    if len(data) < 12 or data[:4] != b"DIRC":
        raise IndexError_("not a git index (bad signature)")
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3, 4):
        raise IndexError_(f"unsupported git index version {version}")
    entries: list[IndexEntry] = []
    pos, previous = 12, b""
    try:
        for _ in range(count):
            start = pos
            mode = struct.unpack_from(">I", data, pos + 24)[0]
            oid = data[pos + 40:pos + 40 + hash_len].hex()
            pos += 40 + hash_len
            flags = struct.unpack_from(">H", data, pos)[0]
            pos += 2
            extended = 0
            if flags & 0x4000:
                extended = struct.unpack_from(">H", data, pos)[0]
                pos += 2
            if version == 4:
                drop, pos = _varint(data, pos)
                end = data.index(b"\0", pos)
                name = previous[:len(previous) - drop] + data[pos:end]
                pos = end + 1
            else:
                end = data.index(b"\0", pos)
                name = data[pos:end]
                pos = start + ((end - start + 8) & ~7)
            previous = name
            stage = (flags >> 12) & 0x3
            if stage or extended & SKIP_WORKTREE or mode == GITLINK or mode >> 12 == 0o04:
                continue
            entries.append(IndexEntry(os.fsdecode(name), mode, oid))
    except (struct.error, ValueError, IndexError) as exc:
        raise IndexError_(f"truncated or corrupt git index ({exc})") from None
    return entries


def head_commit(gitdir: Path) -> str | None:
    """The commit HEAD points to (a detached id, a loose ref or a packed ref)."""
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head[4:].strip()
    common = gitdir
    if (gitdir / "commondir").is_file():  # a linked worktree keeps refs in the main repo
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    for base in (gitdir, common):
        try:
            return (base / ref).read_text(encoding="utf-8").strip()
        except OSError:
            pass
    try:
        packed = (common / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in packed.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[1] == ref:
            return parts[0]
    return None
