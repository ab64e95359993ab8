"""The `system` check: CPU, load, memory, swap, filesystems, disk and network counters.

Data flow: scheduler -> SystemCheck.run(ctx) -> one psutil snapshot in a worker thread
(ctx.run_blocking) -> thresholds judge it -> Result with lms_system_* samples -> state
store. Only meaningful when Vigil runs on the LMS host (the systemd deployment).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, Literal

import psutil
from pydantic import model_validator

from checks.base import CheckContext
from checks.common import Ratio, check_order
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec

# node_exporter's default diskstats exclusion: RAM/loop/floppy devices and partitions
# (counting sda and sda1 twice would double the I/O totals).
DEFAULT_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
# Virtual interfaces come and go with containers: as labels they would be unbounded.
DEFAULT_INTERFACE_EXCLUDE = r"^(lo|veth.*|docker.*|br-.*|virbr.*|cali.*|flannel.*|cni.*|ifb\d+)$"


class SystemSpec(CheckSpec):
    type: Literal["system"]
    # Empty: every real filesystem (psutil.disk_partitions(all=False)) not in fs_types_exclude.
    # A configured mountpoint that is not mounted (e.g. an NFS moodledata) is CRITICAL.
    mountpoints: tuple[str, ...] = ()
    # Read-only images are always 100% full: never worth an alert.
    fs_types_exclude: tuple[str, ...] = ("squashfs", "iso9660", "udf")
    # A filesystem mounted read-only that should be writable (ext4's errors=remount-ro, an
    # NFS export turned ro) stops uploads, sessions and logs: CRITICAL, unless listed here.
    read_only_expected: tuple[str, ...] = ()
    device_exclude: Pattern[str] = re.compile(DEFAULT_DEVICE_EXCLUDE)
    interface_exclude: Pattern[str] = re.compile(DEFAULT_INTERFACE_EXCLUDE)
    cpu_warning: Ratio | None = None  # busy ratio since the previous run; spiky, so off by default
    cpu_critical: Ratio | None = None
    load_per_core_warning: float | None = None  # judged on the 5-minute load average per core
    load_per_core_critical: float | None = None
    memory_available_warning: Ratio | None = 0.10
    memory_available_critical: Ratio | None = 0.05
    swap_used_warning: Ratio | None = None
    swap_used_critical: Ratio | None = None
    disk_free_warning: Ratio | None = 0.10
    disk_free_critical: Ratio | None = 0.05
    inodes_free_warning: Ratio | None = 0.10
    inodes_free_critical: Ratio | None = 0.05

    @model_validator(mode="after")
    def _orders(self) -> SystemSpec:
        for name, worse_high in (("cpu", True), ("load_per_core", True),
                                 ("memory_available", False), ("swap_used", True),
                                 ("disk_free", False), ("inodes_free", False)):
            check_order(self, f"{name}_warning", f"{name}_critical", higher_is_worse=worse_high)
        return self


@dataclass(slots=True)
class Filesystem:
    mountpoint: str
    size: float
    avail: float
    files: float
    files_free: float
    read_only: bool = False  # statvfs ST_RDONLY


@dataclass(slots=True)
class Snapshot:
    """One reading of the host, taken in a worker thread."""

    cpu_busy: float  # ratio since the previous reading
    cpus: int
    load: tuple[float, float, float]
    mem_available: float
    mem_total: float
    swap_used: float
    swap_total: float
    filesystems: list[Filesystem] = field(default_factory=list)
    unmounted: list[str] = field(default_factory=list)
    disks: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    nics: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


class SystemCheck:
    """Keeps the previous CPU times so each run reports CPU use since the last run."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self._cpu_before: Any = None

    async def run(self, ctx: CheckContext) -> Result:
        snap = await ctx.run_blocking(self._snapshot)
        return judge(self.spec, snap)

    def _snapshot(self) -> Snapshot:
        """Blocking: psutil reads /proc and calls statvfs; runs in ctx.run_blocking."""
        before = self._cpu_before
        if before is None:  # first run: a short window of our own, in the worker thread
            before = psutil.cpu_times()
            time.sleep(0.2)
        after = psutil.cpu_times()
        self._cpu_before = after
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        snap = Snapshot(cpu_busy=_busy_ratio(before, after), cpus=psutil.cpu_count() or 1,
                        load=psutil.getloadavg(), mem_available=vm.available,
                        mem_total=vm.total, swap_used=sw.used, swap_total=sw.total)
        for mountpoint in self._mountpoints():
            if self.spec.mountpoints and not os.path.ismount(mountpoint):
                snap.unmounted.append(mountpoint)
                continue
            st = os.statvfs(mountpoint)
            snap.filesystems.append(Filesystem(mountpoint, st.f_blocks * st.f_frsize,
                                               st.f_bavail * st.f_frsize, st.f_files, st.f_ffree,
                                               bool(st.f_flag & os.ST_RDONLY)))
        for name, io in (psutil.disk_io_counters(perdisk=True) or {}).items():
            if not self.spec.device_exclude.search(name):
                busy_ms = getattr(io, "busy_time", 0)  # Linux and FreeBSD only
                snap.disks[name] = (io.read_bytes, io.write_bytes, busy_ms / 1000)
        for name, nic in psutil.net_io_counters(pernic=True).items():
            if not self.spec.interface_exclude.search(name):
                snap.nics[name] = (nic.errin, nic.errout, nic.dropin, nic.dropout)
        return snap

    def _mountpoints(self) -> list[str]:
        if self.spec.mountpoints:
            return list(self.spec.mountpoints)
        excluded = set(self.spec.fs_types_exclude)
        mounts = [p.mountpoint for p in psutil.disk_partitions(all=False)
                  if p.fstype not in excluded]
        return list(dict.fromkeys(mounts))  # bind mounts can list a mountpoint twice


def _idle(times: Any) -> float:
    return float(times.idle + getattr(times, "iowait", 0.0))  # waiting on I/O is idle CPU


def _total(times: Any) -> float:
    # Linux counts guest time inside user time too; psutil's cpu_percent subtracts it.
    return float(sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0))


def _busy_ratio(before: Any, after: Any) -> float:
    total = _total(after) - _total(before)
    if total <= 0:
        return 0.0
    return min(max(1.0 - (_idle(after) - _idle(before)) / total, 0.0), 1.0)


def judge(spec: SystemSpec, snap: Snapshot) -> Result:
    """Pure: thresholds -> status and a summary naming the worst readings."""
    problems: list[tuple[Status, str]] = []

    def rate(value: float, name: str, text: str, *, higher_is_worse: bool) -> None:
        status = threshold_status(value, getattr(spec, f"{name}_warning"),
                                  getattr(spec, f"{name}_critical"),
                                  higher_is_worse=higher_is_worse)
        if status is not Status.OK:
            problems.append((status, text))

    mem_ratio = snap.mem_available / snap.mem_total if snap.mem_total else 1.0
    swap_ratio = snap.swap_used / snap.swap_total if snap.swap_total else 0.0
    load5_core = snap.load[1] / snap.cpus
    rate(snap.cpu_busy, "cpu", f"CPU {snap.cpu_busy:.0%} busy", higher_is_worse=True)
    rate(load5_core, "load_per_core", f"load5 {load5_core:.2f} per core", higher_is_worse=True)
    rate(mem_ratio, "memory_available", f"memory {mem_ratio:.0%} available",
         higher_is_worse=False)
    rate(swap_ratio, "swap_used", f"swap {swap_ratio:.0%} used", higher_is_worse=True)
    problems += [(Status.CRITICAL, f"{m} not mounted") for m in snap.unmounted]
    read_only = [fs.mountpoint for fs in snap.filesystems if fs.read_only]
    problems += [(Status.CRITICAL, f"{m} mounted read-only") for m in read_only
                 if m not in spec.read_only_expected]
    samples = [
        Sample("lms_system_cpu_usage_ratio", snap.cpu_busy),
        Sample("lms_system_cpus", snap.cpus),
        Sample("lms_system_load1", snap.load[0]),
        Sample("lms_system_load5", snap.load[1]),
        Sample("lms_system_load15", snap.load[2]),
        Sample("lms_system_memory_available_bytes", snap.mem_available),
        Sample("lms_system_memory_total_bytes", snap.mem_total),
        Sample("lms_system_swap_used_ratio", swap_ratio),
        Sample("lms_system_swap_total_bytes", snap.swap_total),
    ]
    # Labels: mountpoint and device are bounded by the host's own mounts and disks
    # (configured or physical only), not by anything users or the LMS create.
    lowest_free: tuple[float, str] | None = None
    for fs in snap.filesystems:
        mount = {"mountpoint": fs.mountpoint}
        samples += [Sample("lms_system_filesystem_avail_bytes", fs.avail, mount),
                    Sample("lms_system_filesystem_size_bytes", fs.size, mount),
                    Sample("lms_system_filesystem_files_free", fs.files_free, mount),
                    Sample("lms_system_filesystem_files", fs.files, mount)]
        if fs.size:
            free = fs.avail / fs.size
            rate(free, "disk_free", f"disk {fs.mountpoint} {free:.0%} free",
                 higher_is_worse=False)
            lowest_free = min(lowest_free or (free, fs.mountpoint), (free, fs.mountpoint))
        if fs.files:  # some filesystems (btrfs) report no inode limit
            inodes = fs.files_free / fs.files
            rate(inodes, "inodes_free", f"inodes {fs.mountpoint} {inodes:.0%} free",
                 higher_is_worse=False)
    for device, (read, written, busy) in snap.disks.items():
        dev = {"device": device}
        samples += [Sample("lms_system_disk_read_bytes_total", read, dev),
                    Sample("lms_system_disk_written_bytes_total", written, dev),
                    Sample("lms_system_disk_io_time_seconds_total", busy, dev)]
    for nic, counters in snap.nics.items():
        dev = {"device": nic}
        for metric, value in zip(_NIC_METRICS, counters, strict=True):
            samples.append(Sample(metric, value, dev))
    status = Status.worst(s for s, _ in problems)
    if problems:
        summary = "; ".join(text for s, text in problems if s is status)
    else:
        disk = f", disk {lowest_free[1]} {lowest_free[0]:.0%} free" if lowest_free else ""
        summary = (f"CPU {snap.cpu_busy:.0%}, load5 {load5_core:.2f}/core, "
                   f"memory {mem_ratio:.0%} available{disk}")
    details = {"cpu_busy": round(snap.cpu_busy, 3), "load_per_core": round(load5_core, 2),
               "memory_available": round(mem_ratio, 3), "swap_used": round(swap_ratio, 3),
               "read_only_mounts": read_only[:20],
               "problems": [text for _, text in problems][:10]}
    return Result(status, summary, tuple(samples), details)


# Every metric this module emits, declared here once (checks/registry.py collects them).
# The mountpoint and device labels are bounded by the host's own configured or physical
# mounts, disks and interfaces.
METRICS = declare(
    MetricSpec("lms_system_cpu_usage_ratio", "gauge",
               "Share of CPU time busy (not idle or iowait) since the previous run, 0..1."),
    MetricSpec("lms_system_cpus", "gauge", "Logical CPUs of the host."),
    MetricSpec("lms_system_load1", "gauge", "1-minute load average."),
    MetricSpec("lms_system_load5", "gauge", "5-minute load average."),
    MetricSpec("lms_system_load15", "gauge", "15-minute load average."),
    MetricSpec("lms_system_memory_available_bytes", "gauge",
               "Memory available for new work without swapping."),
    MetricSpec("lms_system_memory_total_bytes", "gauge", "Total physical memory."),
    MetricSpec("lms_system_swap_used_ratio", "gauge", "Share of swap in use, 0..1."),
    MetricSpec("lms_system_swap_total_bytes", "gauge", "Total swap space."),
    MetricSpec("lms_system_filesystem_avail_bytes", "gauge",
               "Filesystem space available to unprivileged users.", ("mountpoint",)),
    MetricSpec("lms_system_filesystem_size_bytes", "gauge", "Filesystem size.",
               ("mountpoint",)),
    MetricSpec("lms_system_filesystem_files_free", "gauge", "Free inodes of the filesystem.",
               ("mountpoint",)),
    MetricSpec("lms_system_filesystem_files", "gauge", "Total inodes of the filesystem.",
               ("mountpoint",)),
    MetricSpec("lms_system_disk_read_bytes_total", "counter", "Bytes read from the disk.",
               ("device",)),
    MetricSpec("lms_system_disk_written_bytes_total", "counter", "Bytes written to the disk.",
               ("device",)),
    MetricSpec("lms_system_disk_io_time_seconds_total", "counter",
               "Time the disk spent doing I/O (Linux and FreeBSD).", ("device",)),
    MetricSpec("lms_system_network_receive_errors_total", "counter",
               "Receive errors on the network interface.", ("device",)),
    MetricSpec("lms_system_network_transmit_errors_total", "counter",
               "Transmit errors on the network interface.", ("device",)),
    MetricSpec("lms_system_network_receive_drop_total", "counter",
               "Received packets dropped on the network interface.", ("device",)),
    MetricSpec("lms_system_network_transmit_drop_total", "counter",
               "Outgoing packets dropped on the network interface.", ("device",)),
)
_NIC_METRICS = ("lms_system_network_receive_errors_total",
                "lms_system_network_transmit_errors_total",
                "lms_system_network_receive_drop_total",
                "lms_system_network_transmit_drop_total")
