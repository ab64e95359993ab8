"""Pure comparisons: the observed tree against its baseline, and against a release manifest.

baseline.py calls these after a scan; the code tree check and `vigil integrity diff` read
what they return. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.integrity.patterns import is_script_name
from checks.integrity.store import Record

PERMISSION_BITS = 0o7777


@dataclass(slots=True)
class TreeDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: dict[str, list[str]] = field(default_factory=dict)  # path -> attributes
    touched: list[str] = field(default_factory=list)  # only the mtime moved, same content
    unverified: list[str] = field(default_factory=list)  # stat changed, not hashed yet

    @property
    def changed(self) -> int:
        return len(self.added) + len(self.removed) + len(self.modified)


@dataclass(slots=True)
class ReleaseDiff:
    release: str | None  # the manifest's $release
    installed: str | None  # $release of version.php on disk now
    mismatch: list[str] = field(default_factory=list)  # content differs from the release
    missing: list[str] = field(default_factory=list)  # in the release, not on disk
    accepted: list[str] = field(default_factory=list)  # differs, but accepted explicitly
    extra: int = 0  # on disk, not in the release (config.php, add-on plugins...)
    unverified: int = 0  # in both, not hashed yet
    shipped: list[str] = field(default_factory=list)  # modified since baseline, core files

    @property
    def stale(self) -> bool:
        """The manifest is for another release than the one installed."""
        return bool(self.release and self.installed and self.release != self.installed)


def is_script(path: str, record: Record | None) -> bool:
    """A script by name (*.php, *.phtml...) or by a PHP open tag in its first bytes."""
    return is_script_name(path) or (record is not None and record.note == "script")


def changed_attributes(before: Record, after: Record) -> list[str]:
    """Which attributes differ: type, target, content, mode, owner, group, mtime; or
    ["unverified"] when the stat changed but one side has no hash yet."""
    b, a = before.stat, after.stat
    if a.kind != b.kind:
        return ["type"]
    attrs: list[str] = []
    if a.kind == "symlink":
        if a.link != b.link:
            attrs.append("target")
    elif a.size != b.size:
        attrs.append("content")
    elif before.sha256 and after.sha256:
        if before.sha256 != after.sha256:
            attrs.append("content")
    elif (a.mtime_ns, a.ctime_ns, a.ino) != (b.mtime_ns, b.ctime_ns, b.ino):
        attrs.append("unverified")
    if a.kind == "file" and (a.mode & PERMISSION_BITS) != (b.mode & PERMISSION_BITS):
        attrs.append("mode")
    if a.uid != b.uid:
        attrs.append("owner")
    if a.gid != b.gid:
        attrs.append("group")
    if a.mtime_ns != b.mtime_ns:
        attrs.append("mtime")
    return attrs


def compare(baseline: Mapping[str, Record], observed: Mapping[str, Record]) -> TreeDiff:
    diff = TreeDiff(added=sorted(observed.keys() - baseline.keys()),
                    removed=sorted(baseline.keys() - observed.keys()))
    for path in sorted(observed.keys() & baseline.keys()):
        before, after = baseline[path], observed[path]
        if before.stat == after.stat and (before.sha256 == after.sha256 or not before.sha256
                                          or not after.sha256):
            continue
        attrs = changed_attributes(before, after)
        if "unverified" in attrs:
            diff.unverified.append(path)
            attrs.remove("unverified")
        if attrs == ["mtime"]:
            diff.touched.append(path)
        elif attrs:
            diff.modified[path] = attrs
    return diff


def compare_release(release: Mapping[str, Record], observed: Mapping[str, Record],
                    baseline: Mapping[str, Record], *, release_name: str | None,
                    installed: str | None, modified: Iterable[str] = ()) -> ReleaseDiff:
    """Files whose content differs from the release. A difference the admin accepted
    (`vigil integrity accept`, same content as the accepted baseline row) is listed apart.
    ``modified`` (changed since the baseline) narrows to the core files in ``shipped``."""
    out = ReleaseDiff(release_name, installed)
    out.shipped = [p for p in modified if p in release]
    out.extra = len(observed.keys() - release.keys())
    for path in sorted(release):
        want, have = release[path], observed.get(path)
        if have is None:
            out.missing.append(path)
        elif want.stat.kind == "file" and have.stat.kind == "file" and have.sha256 is None:
            out.unverified += 1
        elif not same_content(want, have):
            accepted = baseline.get(path)
            if accepted is not None and accepted.accepted_by and same_content(accepted, have):
                out.accepted.append(path)
            else:
                out.mismatch.append(path)
    return out


def same_content(a: Record, b: Record) -> bool:
    """Same type and content: the same symlink target, or the same SHA-256."""
    if a.stat.kind != b.stat.kind:
        return False
    if a.stat.kind == "symlink":
        return a.stat.link == b.stat.link
    return a.sha256 is not None and a.sha256 == b.sha256
