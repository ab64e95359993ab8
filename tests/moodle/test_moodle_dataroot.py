"""The moodle_dataroot probe on real directories (fake site from tests/moodle_double)."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import CheckUnavailable
from checks.moodle import dataroot as MODULE
from checks.moodle.dataroot import DatarootCheck, DatarootSpec, web_user_can_write
from checks.moodle.registry import MOODLE_METRICS
from monitor.app.catalogue import CATALOGUE
from monitor.kernel.result import Result, Status
from tests.moodle_double.sitedir import FakeSite, make_site

NOBODY = "nobody"


def spec(**fields: object) -> DatarootSpec:
    return DatarootSpec.model_validate({"type": "moodle_dataroot", **fields})


@pytest.fixture
def site(tmp_path: Path) -> FakeSite:
    site = make_site(tmp_path, "5.1", files=(b"hello", b"world"))
    site.dataroot.chmod(0o2770)
    return site


async def run(site: FakeSite, **fields: object) -> Result:
    result = await DatarootCheck(spec(**fields)).run(site.context(cli=False))
    for sample in result.samples:
        assert sample.name in CATALOGUE and set(sample.labels) == set(
            CATALOGUE[sample.name].labels), sample
    assert "\n" not in result.summary
    return result


def sample(result: Result, name: str, directory: str | None = None) -> float:
    return next(s.value for s in result.samples if s.name == name
                and (directory is None or s.labels.get("directory") == directory))


async def test_a_writable_dataroot_with_space_is_ok(site: FakeSite) -> None:
    before = sorted(p for p in site.dataroot.rglob("*"))
    result = await run(site)
    assert result.status == Status.OK
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert result.summary.startswith(f"dataroot writable by {owner!r}; ")
    assert sample(result, "lms_moodle_dataroot_writable") == 1.0
    st = os.statvfs(site.dataroot)
    assert sample(result, "lms_moodle_dataroot_filesystem_size_bytes", "dataroot") == \
        st.f_blocks * st.f_frsize
    assert sample(result, "lms_moodle_dataroot_filesystem_files", "backuptemp") == st.f_files
    assert sorted(p for p in site.dataroot.rglob("*")) == before  # nothing written


async def test_a_missing_dataroot_is_critical(site: FakeSite) -> None:
    site.dataroot.rename(site.dataroot.with_name("gone"))
    result = await run(site)
    assert result.status == Status.CRITICAL
    assert result.summary == (f"dataroot {site.dataroot} does not exist: Moodle answers "
                              "every request with a fatal error")


async def test_a_dataroot_the_web_user_cannot_write_is_critical(site: FakeSite) -> None:
    site.dataroot.chmod(0o755)  # owned by the test user; nobody is "other"
    result = await run(site, web_user=NOBODY)
    assert result.status == Status.CRITICAL
    assert result.summary == (f"dataroot {site.dataroot} is not writable by the web user "
                              "'nobody': Moodle stops with a fatal error")
    assert sample(result, "lms_moodle_dataroot_writable") == 0.0
    site.dataroot.chmod(0o777)
    assert (await run(site, web_user=NOBODY)).status == Status.OK


def test_write_permission_is_judged_from_owner_group_and_other_bits(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    assert web_user_can_write(tmp_path, None)[0] is True
    assert web_user_can_write(tmp_path, NOBODY) == (False, NOBODY)
    tmp_path.chmod(0o703)
    assert web_user_can_write(tmp_path, NOBODY) == (True, NOBODY)
    with pytest.raises(CheckUnavailable, match="web user 'no-such-web-user' does not exist"):
        web_user_can_write(tmp_path, "no-such-web-user")


async def test_low_space_is_reported_per_filesystem_once(site: FakeSite) -> None:
    result = await run(site, disk_free_warning=1.0, disk_free_critical=None)
    assert result.status == Status.WARNING
    assert result.summary.startswith(f"dataroot filesystem ({site.dataroot}) has ")
    assert result.summary.count("filesystem") == 1  # temp and backuptemp share it


async def test_absolute_space_floors_and_inode_limits(site: FakeSite) -> None:
    huge = 1 << 60
    result = await run(site, disk_avail_warning=huge * 2, disk_avail_critical=huge)
    assert result.status == Status.CRITICAL
    result = await run(site, inodes_free_warning=1.0, inodes_free_critical=None)
    assert result.status == Status.WARNING
    assert "of its inodes free" in result.summary


async def test_temp_directories_come_from_config_php(site: FakeSite, tmp_path: Path) -> None:
    temp = tmp_path / "fasttemp"
    temp.mkdir()
    text = site.config_php.read_text().replace(
        "require_once", f"$CFG->tempdir = '{temp}';\nrequire_once")
    site.config_php.write_text(text)
    result = await run(site)
    assert result.details["filesystems"]["temp"]["path"] == str(temp)
    # backuptempdir defaults to <tempdir>/backup, measured on its nearest existing parent
    assert result.details["filesystems"]["backuptemp"]["path"] == str(temp)


async def test_configured_temp_directories_win(site: FakeSite, tmp_path: Path) -> None:
    result = await run(site, tempdir=str(tmp_path), backuptempdir=str(tmp_path / "b" / "c"))
    assert result.details["filesystems"]["temp"]["path"] == str(tmp_path)
    assert result.details["filesystems"]["backuptemp"]["path"] == str(tmp_path)


async def test_without_a_dataroot_setting_it_is_unavailable(site: FakeSite) -> None:
    ctx = site.context(cli=False)
    ctx.site.settings = ctx.site.settings.model_copy(update={"dataroot": None})
    with pytest.raises(CheckUnavailable, match="no data directory configured"):
        await DatarootCheck(spec()).run(ctx)


def test_a_critical_limit_milder_than_the_warning_is_rejected() -> None:
    with pytest.raises(ValidationError, match="disk_free_critical"):
        spec(disk_free_warning=0.05, disk_free_critical=0.10)


def test_every_sample_name_in_the_module_is_declared_and_catalogued() -> None:
    source = Path(MODULE.__file__ or "").read_text(encoding="utf-8")
    used = set(re.findall(r'"(lms_[a-z0-9_]+)"', source))
    assert used == set(MODULE.METRICS)
    assert all(name in MOODLE_METRICS for name in MODULE.METRICS)


@pytest.fixture
def read_only_dataroot(site: FakeSite) -> object:
    """The site's dataroot as a real tmpfs mounted read-only (mode bits still rwx)."""
    where = str(site.dataroot)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=2770", "tmpfs",
                              where], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root (the test command runs as root, as CI does): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    try:
        subprocess.run(["mount", "-o", "remount,ro", where], check=True)
        yield site
    finally:
        subprocess.run(["umount", where], check=True)


async def test_a_read_only_mounted_dataroot_is_critical(read_only_dataroot: FakeSite) -> None:
    site = read_only_dataroot
    assert web_user_can_write(site.dataroot, None)[0]  # the mode bits alone say writable
    result = await run(site)
    assert result.status == Status.CRITICAL
    assert "mounted read-only" in result.summary and "cannot write" in result.summary
    assert sample(result, "lms_moodle_dataroot_writable") == 0.0
    assert result.details["filesystems"]["dataroot"]["read_only"] is True
