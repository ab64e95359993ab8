"""The system check on the real machine (psutil), and its pure judging on made-up readings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from check_helpers import make_ctx

from checks.system import Filesystem, Snapshot, SystemCheck, SystemSpec, judge
from monitor.kernel.result import Status

QUIET = {"memory_available_warning": None, "memory_available_critical": None,
         "disk_free_warning": None, "disk_free_critical": None,
         "inodes_free_warning": None, "inodes_free_critical": None}


def names(result: Any) -> set[str]:
    return {s.name for s in result.samples}


async def test_system_reports_the_real_machine(probe: Any) -> None:
    check = SystemCheck(SystemSpec(type="system", **QUIET))
    result = await probe(check, make_ctx())
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("CPU ")
    assert {"lms_system_cpu_usage_ratio", "lms_system_load1", "lms_system_load5",
            "lms_system_load15", "lms_system_memory_available_bytes",
            "lms_system_memory_total_bytes", "lms_system_swap_used_ratio",
            "lms_system_filesystem_avail_bytes", "lms_system_filesystem_files"} <= names(result)
    mounts = {s.labels["mountpoint"] for s in result.samples
              if s.name == "lms_system_filesystem_size_bytes"}
    assert mounts  # at least one real filesystem
    cpu = next(s.value for s in result.samples if s.name == "lms_system_cpu_usage_ratio")
    assert 0.0 <= cpu <= 1.0
    again = await probe(check, make_ctx())  # second run: CPU since the first, no sleeping
    assert 0.0 <= next(s.value for s in again.samples
                       if s.name == "lms_system_cpu_usage_ratio") <= 1.0


async def test_system_warns_when_limits_are_tiny(probe: Any) -> None:
    spec = SystemSpec(type="system", load_per_core_warning=0.0, **QUIET)
    result = await probe(SystemCheck(spec), make_ctx())
    assert result.status is Status.WARNING
    assert "per core" in result.summary


async def test_system_is_critical_when_disk_free_is_below_the_limit(probe: Any) -> None:
    spec = SystemSpec(type="system", **{**QUIET, "disk_free_warning": 1.0,
                                        "disk_free_critical": "100%"})
    result = await probe(SystemCheck(spec), make_ctx())
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("disk /") and "free" in result.summary


async def test_system_reports_a_configured_mountpoint_that_is_not_mounted(
        probe: Any, tmp_path: Path) -> None:
    spec = SystemSpec(type="system", mountpoints=["/", str(tmp_path)], **QUIET)
    result = await probe(SystemCheck(spec), make_ctx())
    assert result.status is Status.CRITICAL
    assert result.summary == f"{tmp_path} not mounted"
    mounts = {s.labels["mountpoint"] for s in result.samples if "mountpoint" in s.labels}
    assert mounts == {"/"}


def snapshot(**changes: Any) -> Snapshot:
    base: dict[str, Any] = dict(
        cpu_busy=0.2, cpus=4, load=(1.0, 2.0, 3.0), mem_available=4e9, mem_total=8e9,
        swap_used=0.0, swap_total=2e9,
        filesystems=[Filesystem("/", 100e9, 50e9, 1e6, 5e5),
                     Filesystem("/var/moodledata", 100e9, 4e9, 1e6, 2e4)],
        disks={"vda": (1e6, 2e6, 3.5)}, nics={"eth0": (1, 2, 3, 4)})
    base.update(changes)
    return Snapshot(**base)


def test_system_judging_names_the_worst_readings() -> None:
    result = judge(SystemSpec(type="system"), snapshot())
    assert result.status is Status.CRITICAL
    assert result.summary == "disk /var/moodledata 4% free; inodes /var/moodledata 2% free"
    assert result.details["load_per_core"] == 0.5
    load = judge(SystemSpec(type="system", load_per_core_warning=0.4, load_per_core_critical=1),
                 snapshot(filesystems=[]))
    assert load.status is Status.WARNING and load.summary == "load5 0.50 per core"


def test_system_judging_covers_memory_swap_and_cpu() -> None:
    spec = SystemSpec(type="system", cpu_warning="90%", swap_used_warning=0.5,
                      swap_used_critical=0.8)
    result = judge(spec, snapshot(filesystems=[], cpu_busy=0.95, mem_available=0.3e9,
                                  swap_used=1.8e9))
    assert result.status is Status.CRITICAL
    assert result.summary == "memory 4% available; swap 90% used"
    assert "CPU 95% busy" in result.details["problems"]


def test_system_labels_are_only_mountpoints_and_devices() -> None:
    result = judge(SystemSpec(type="system"), snapshot())
    assert {key for s in result.samples for key in s.labels} == {"mountpoint", "device"}
    counters = {s.name: s.value for s in result.samples if s.labels.get("device") == "eth0"}
    assert counters["lms_system_network_transmit_drop_total"] == 4


@pytest.mark.parametrize(("fields", "message"), [
    ({"disk_free_warning": 1.5}, "disk_free_warning"),
    ({"cpu_warning": "ninety%"}, "is not a percentage"),
    ({"memory_available_warning": 0.05, "memory_available_critical": 0.1},
     "memory_available_critical (0.1) must be <= memory_available_warning (0.05)"),
    ({"device_exclude": "("}, "device_exclude"),
    ({"mountpoint": ["/"]}, "Extra inputs are not permitted"),
])
def test_system_spec_errors_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        SystemSpec.model_validate({"type": "system", **fields})
    assert message in str(error.value)


def test_system_reports_read_only_mounts_and_spares_the_expected_ones() -> None:
    snap = Snapshot(cpu_busy=0.1, cpus=2, load=(0.1, 0.1, 0.1), mem_available=8e9,
                    mem_total=16e9, swap_used=0, swap_total=0,
                    filesystems=[Filesystem("/", 100e9, 50e9, 1e6, 5e5),
                                 Filesystem("/var/moodledata", 100e9, 50e9, 1e6, 5e5,
                                            read_only=True),
                                 Filesystem("/boot", 1e9, 5e8, 1e5, 5e4, read_only=True)])
    result = judge(SystemSpec(type="system", read_only_expected=("/boot",)), snap)
    assert result.status == Status.CRITICAL
    assert result.summary == "/var/moodledata mounted read-only"
    assert result.details["read_only_mounts"] == ["/var/moodledata", "/boot"]


async def test_system_sees_a_real_read_only_mount(probe: Any, tmp_path: Path) -> None:
    where = tmp_path / "ro"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root (the test command runs as root, as CI does): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    try:
        spec = SystemSpec(type="system", mountpoints=["/", str(where)], **QUIET)
        result = await probe(SystemCheck(spec), make_ctx())
    finally:
        subprocess.run(["umount", str(where)], check=True)
    assert result.status is Status.CRITICAL
    assert result.summary == f"{where} mounted read-only"
