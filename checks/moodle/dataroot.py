"""The `moodle_dataroot` check: the data directory exists and the web user can write it,
and the filesystems under it, temp and backup temp have space and inodes left.

Data flow: scheduler -> DatarootCheck.run(ctx) -> stat/statvfs in a worker thread (never a
write: Vigil runs as its own user, and a file it created would belong to the wrong owner,
architecture "Privilege") -> thresholds -> lms_moodle_dataroot_* samples.

Moodle facts (moodle/moodle): lib/setup.php aborts every request with "Fatal error:
$CFG->dataroot is not writable" when the directory is missing or not writable; temp
defaults to $CFG->dataroot/temp ($CFG->tempdir) and backup temp to $CFG->tempdir/backup
($CFG->backuptempdir), both settable only in config.php (config-dist.php), where this check
reads them when the code directory is configured. Temp directories are created on demand
(make_temp_directory), so a missing one is measured on its nearest existing parent.
Thresholds as the system check's disk and inode limits (free ratios 10 % / 5 %).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from checks.base import CheckContext, CheckUnavailable
from checks.common import ByteSize, Ratio, check_order
from checks.moodle.config_php import PhpSyntaxError, parse_config_php
from checks.moodle.site import moodle_site, site_dataroot
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec

METRICS = declare(
    MetricSpec("lms_moodle_dataroot_writable", "gauge",
               "1 if the web user may write the dataroot (judged from its mode bits), else 0."),
    MetricSpec("lms_moodle_dataroot_filesystem_avail_bytes", "gauge",
               "Bytes available to unprivileged users on the filesystem holding the "
               "directory (dataroot, temp, backuptemp).", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_size_bytes", "gauge",
               "Size of the filesystem holding the directory.", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_files", "gauge",
               "Inodes of the filesystem holding the directory.", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_files_free", "gauge",
               "Free inodes of the filesystem holding the directory.", ("directory",)),
)
Directory = Literal["dataroot", "temp", "backuptemp"]


class DatarootSpec(CheckSpec):
    type: Literal["moodle_dataroot"]
    # The user the web server (PHP) runs as; default: the owner of the dataroot.
    web_user: str | None = None
    tempdir: Path | None = None        # default: $CFG->tempdir from config.php, or dataroot/temp
    backuptempdir: Path | None = None  # default: $CFG->backuptempdir, or <tempdir>/backup
    disk_free_warning: Ratio | None = 0.10
    disk_free_critical: Ratio | None = 0.05
    inodes_free_warning: Ratio | None = 0.10
    inodes_free_critical: Ratio | None = 0.05
    # Absolute floors, e.g. "20GiB": a backup of a large course needs that much temp space.
    disk_avail_warning: ByteSize | None = None
    disk_avail_critical: ByteSize | None = None

    @model_validator(mode="after")
    def _orders(self) -> DatarootSpec:
        for name in ("disk_free", "inodes_free", "disk_avail"):
            check_order(self, f"{name}_warning", f"{name}_critical", higher_is_worse=False)
        return self


@dataclass(frozen=True, slots=True)
class FsReading:
    directory: Directory
    path: Path       # the directory measured (maybe a parent of the configured one)
    device: int
    size: float
    avail: float
    files: float
    files_free: float
    # Mounted read-only (statvfs ST_RDONLY): the mode bits may still say "writable", as
    # after ext4's errors=remount-ro or an NFS export switched to ro.
    read_only: bool = False


def web_user_can_write(path: Path, user: str | None) -> tuple[bool, str]:
    """Whether ``user`` (default: the owner) has write and search permission on ``path``,
    judged from the mode bits; returns (ok, who)."""
    st = path.stat()
    if user is None:
        try:
            user = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            user = str(st.st_uid)
    try:
        entry = pwd.getpwnam(user)
        uid, gids = entry.pw_uid, {entry.pw_gid} | {g.gr_gid for g in grp.getgrall()
                                                      if user in g.gr_mem}
    except KeyError:
        if not user.isdigit():
            raise CheckUnavailable(f"web user {user!r} does not exist on this host") from None
        uid, gids = int(user), set()
    if uid == 0:
        return True, user
    if st.st_uid == uid:
        bits = stat.S_IWUSR | stat.S_IXUSR
    elif st.st_gid in gids:
        bits = stat.S_IWGRP | stat.S_IXGRP
    else:
        bits = stat.S_IWOTH | stat.S_IXOTH
    return (st.st_mode & bits) == bits, user


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def measure(directory: Directory, path: Path) -> FsReading:
    where = _existing(path)
    st = os.statvfs(where)
    return FsReading(directory, where, os.stat(where).st_dev, st.f_blocks * st.f_frsize,
                     st.f_bavail * st.f_frsize, st.f_files, st.f_ffree,
                     bool(st.f_flag & os.ST_RDONLY))


class DatarootCheck:
    def __init__(self, spec: DatarootSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        dataroot = site_dataroot(ctx)
        dirroot = moodle_site(ctx).dirroot
        return await ctx.run_blocking(lambda: self._probe(dataroot, dirroot))

    def _probe(self, dataroot: Path, dirroot: Path | None) -> Result:
        try:
            return self._inspect(dataroot, dirroot)
        except PermissionError as exc:
            raise CheckUnavailable(f"cannot inspect {exc.filename or dataroot} as Vigil's "
                                   "user: give it read access (group membership)") from None

    def _inspect(self, dataroot: Path, dirroot: Path | None) -> Result:
        if not dataroot.exists():
            return Result(Status.CRITICAL, f"dataroot {dataroot} does not exist: Moodle "
                          "answers every request with a fatal error",
                          (Sample("lms_moodle_dataroot_writable", 0.0),))
        if not dataroot.is_dir():
            return Result(Status.CRITICAL, f"dataroot {dataroot} is not a directory",
                          (Sample("lms_moodle_dataroot_writable", 0.0),))
        writable, user = web_user_can_write(dataroot, self.spec.web_user)
        tempdir, backuptempdir = self._temp_dirs(dataroot, dirroot)
        readings = [measure("dataroot", dataroot), measure("temp", tempdir),
                    measure("backuptemp", backuptempdir)]
        return self._judge(dataroot, writable, user, readings)

    def _temp_dirs(self, dataroot: Path, dirroot: Path | None) -> tuple[Path, Path]:
        configured: dict[str, str] = {}
        if dirroot is not None and (self.spec.tempdir is None or self.spec.backuptempdir is None):
            configured = _config_dirs(dirroot)
        tempdir = self.spec.tempdir or Path(configured.get("tempdir") or dataroot / "temp")
        backup = self.spec.backuptempdir or Path(configured.get("backuptempdir")
                                                 or tempdir / "backup")
        return tempdir, backup

    def _judge(self, dataroot: Path, writable: bool, user: str,
               readings: list[FsReading]) -> Result:
        problems: list[tuple[Status, str]] = []
        if readings[0].read_only:
            writable = False
            problems.append((Status.CRITICAL, f"dataroot {dataroot} is on a filesystem mounted "
                             f"read-only ({readings[0].path}): Moodle cannot write sessions, "
                             "caches or uploads"))
        elif not writable:
            problems.append((Status.CRITICAL, f"dataroot {dataroot} is not writable by the web "
                                              f"user {user!r}: Moodle stops with a fatal error"))
        samples = [Sample("lms_moodle_dataroot_writable", float(writable))]
        seen: set[int] = {readings[0].device} if readings[0].read_only else set()
        for r in readings:
            if r.read_only and r.device not in seen:
                problems.append((Status.CRITICAL, f"{r.directory} directory {r.path} is on a "
                                 "filesystem mounted read-only"))
            samples += [Sample(name, value, {"directory": r.directory}) for name, value in (
                ("lms_moodle_dataroot_filesystem_avail_bytes", r.avail),
                ("lms_moodle_dataroot_filesystem_size_bytes", r.size),
                ("lms_moodle_dataroot_filesystem_files", r.files),
                ("lms_moodle_dataroot_filesystem_files_free", r.files_free))]
            if r.device not in seen:  # one filesystem, one complaint
                seen.add(r.device)
                problems += self._space(r)
        status = Status.worst(s for s, _ in problems)
        summary = "; ".join(t for _, t in problems) or (
            f"dataroot writable by {user!r}; {_pct(readings[0].avail, readings[0].size)} "
            "disk free")
        details = {"dataroot": str(dataroot), "web_user": user,
                   "filesystems": {r.directory: {"path": str(r.path), "avail_bytes": r.avail,
                                                 "size_bytes": r.size,
                                                 "inodes_free": r.files_free,
                                                 "read_only": r.read_only}
                                   for r in readings}}
        return Result(status, summary, tuple(samples), details)

    def _space(self, r: FsReading) -> list[tuple[Status, str]]:
        spec, found = self.spec, list[tuple[Status, str]]()
        if r.size > 0:
            ratio = r.avail / r.size
            status = Status.worst([
                threshold_status(ratio, spec.disk_free_warning, spec.disk_free_critical,
                                 higher_is_worse=False),
                threshold_status(r.avail, spec.disk_avail_warning, spec.disk_avail_critical,
                                 higher_is_worse=False)])
            if status != Status.OK:
                found.append((status, f"{r.directory} filesystem ({r.path}) has "
                                      f"{_bytes(r.avail)} free ({ratio:.0%})"))
        if r.files > 0:
            ratio = r.files_free / r.files
            status = threshold_status(ratio, spec.inodes_free_warning, spec.inodes_free_critical,
                                      higher_is_worse=False)
            if status != Status.OK:
                found.append((status, f"{r.directory} filesystem ({r.path}) has "
                                      f"{ratio:.0%} of its inodes free"))
        return found


def _config_dirs(dirroot: Path) -> dict[str, str]:
    """$CFG->tempdir / backuptempdir when config.php sets them to a known string."""
    try:
        config = parse_config_php(Path(dirroot) / "config.php")
    except (OSError, PhpSyntaxError):
        return {}
    values = {key: config.setting(key) for key in ("tempdir", "backuptempdir")}
    return {k: v for k, v in values.items() if isinstance(v, str) and v}


def _pct(avail: float, size: float) -> str:
    return f"{avail / size:.0%}" if size else "?"


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
