"""The os_updates check: recorded apt/dnf outputs through a fake runner and a fixture file
tree, the real command runner, and one real run of apt-get on this Debian host."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from checks.base import CheckContext, CheckUnavailable
from checks.os_updates import CommandOutput, OsUpdatesCheck, OsUpdatesSpec, run_command
from checks.os_updates_parse import (
    ParseError,
    parse_apt_simulation,
    parse_dnf_check_update,
    parse_dnf_security,
)
from monitor.kernel.result import Result, Status
from monitor.kernel.target import Target

NOW = 1_800_000_000.0
DAY = 86400.0
SIM = ("apt-get", "--simulate", "--quiet", "dist-upgrade")
HOLD = ("apt-mark", "showhold")
CHECK_UPDATE = ("dnf", "-q", "-C", "check-update")
UPDATEINFO = ("dnf", "-q", "-C", "updateinfo", "list", "--security")
NEEDS_RESTARTING = ("needs-restarting", "-r")

HEADER = """Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
"""
# Recorded on Debian 12 as an unprivileged user (LC_ALL=C apt-get --simulate --quiet
# dist-upgrade), trimmed.
DEBIAN = """NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
      Keep also in mind that locking is deactivated,
      so don't depend on the relevance to the real current situation!
""" + HEADER + """The following packages will be upgraded:
  base-files bash libgcrypt20 liblzma5 libssl3 openssl
6 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, \
Debian-Security:12/oldstable-security [amd64])
Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst libssl3 [3.0.17-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security \
[amd64]) []
Inst openssl [3.0.17-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security \
[amd64])
Conf libssl3 (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
"""
NOTHING = HEADER + "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
# Ubuntu 22.04: -updates and -security both offer libc6; Ubuntu Pro (ESM) is a security
# origin too; a new kernel is a new package; a phased update is deferred (no Inst line).
UBUNTU = HEADER + """The following upgrades have been deferred due to phasing:
  ubuntu-advantage-tools
The following NEW packages will be installed:
  linux-image-5.15.0-105-generic
3 upgraded, 1 newly installed, 1 to remove and 1 not upgraded.
Remv linux-image-5.15.0-91-generic [5.15.0-91.101]
Inst libc6 [2.35-0ubuntu3.6] (2.35-0ubuntu3.8 Ubuntu:22.04/jammy-updates, \
Ubuntu:22.04/jammy-security [amd64]) []
Inst openssh-client [1:8.9p1-3ubuntu0.6] (1:8.9p1-3ubuntu0.10 Ubuntu:22.04/jammy-updates [amd64])
Inst python3-pil [9.0.1-1ubuntu0.1] (9.0.1-1ubuntu0.3 UbuntuESM:22.04/jammy-infra-security \
[amd64])
Inst linux-image-5.15.0-105-generic (5.15.0-105.115 Ubuntu:22.04/jammy-security [amd64])
"""
# dnf 4 on EL9: a long name wraps; the Obsoleting section is not pending updates.
DNF_CHECK_UPDATE = """
kernel.x86_64                      5.14.0-427.22.1.el9_4               baseos
openssl.x86_64                     1:3.0.7-27.el9                      baseos
openssl-libs.x86_64                1:3.0.7-27.el9                      baseos
python3-a-rather-long-package-name-for-wrapping.noarch
                                   2.1-3.el9                           appstream
Obsoleting Packages
grub2-tools.x86_64                 1:2.06-80.el9                       baseos
    grub2-tools.x86_64             1:2.06-77.el9                       @baseos
"""
DNF4_SECURITY = """RHSA-2024:3619 Important/Sec.  kernel-5.14.0-427.22.1.el9_4.x86_64
RHSA-2024:2679 Moderate/Sec.   openssl-1:3.0.7-27.el9.x86_64
RHSA-2024:2679 Moderate/Sec.   openssl-libs-1:3.0.7-27.el9.x86_64
RHSA-2024:9999 Moderate/Sec.   openssl-libs-1:3.0.7-27.el9.x86_64
"""
DNF5_SECURITY = """Name                   Type     Severity Package                    Issued
FEDORA-2024-8ac3d4f0ad security Moderate curl-8.6.0-8.fc40.x86_64   2024-05-20 01:02:07
FEDORA-2024-8ac3d4f0ad security Moderate libcurl-8.6.0-8.fc40.x86_64 2024-05-20 01:02:07
"""
NEEDS_REBOOT = """Core libraries or services have been updated since boot-up:
  * kernel
  * systemd

Reboot is required to fully utilize these updates.
"""


class FakeRunner:
    """Answers each command (keyed by program name and arguments) with a recorded output or
    raises a recorded exception; remembers what was run."""

    def __init__(self, answers: dict[tuple[str, ...], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[tuple[str, ...], float, bool]] = []

    def __call__(self, argv: Sequence[str], timeout: float, low_priority: bool) -> CommandOutput:
        key = (Path(argv[0]).name, *argv[1:])
        self.calls.append((key, timeout, low_priority))
        answer = self.answers[key]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            answer = (0, answer, "")
        code, out, err = answer
        return CommandOutput(tuple(argv), code, out, err)

    def ran(self) -> list[tuple[str, ...]]:
        return [key for key, _, _ in self.calls]


def which(*available: str) -> Any:
    return lambda name: f"/usr/bin/{name}" if name in available else None


def apt_host(root: Path, lists_age: float | None = 3600.0, reboot_age: float | None = None,
             reboot_pkgs: str = "", dpkg_log: str | None = None) -> Path:
    """A fixture tree shaped like the Debian paths the check stats."""
    lists = root / "var/lib/apt/lists"
    lists.mkdir(parents=True)
    if lists_age is not None:
        for name, age in (("deb.debian.org_debian_dists_bookworm_InRelease", lists_age + 90 * DAY),
                          ("deb.debian.org_debian-security_dists_bookworm-security_InRelease",
                           lists_age)):
            (lists / name).write_text("x")
            os.utime(lists / name, (NOW - age, NOW - age))
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("Package: x\n")
    os.utime(root / "var/lib/dpkg/status", (NOW - 5 * DAY, NOW - 5 * DAY))
    if dpkg_log is not None:
        (root / "var/log").mkdir(parents=True)
        (root / "var/log/dpkg.log").write_text(dpkg_log)
    if reboot_age is not None:
        (root / "run").mkdir()
        (root / "run/reboot-required").write_text("*** System restart required ***\n")
        os.utime(root / "run/reboot-required", (NOW - reboot_age, NOW - reboot_age))
        (root / "run/reboot-required.pkgs").write_text(reboot_pkgs)
    return root


def apt_update(root: Path) -> None:
    """What `apt-get update` leaves: a new package list (a new file, renamed into place)."""
    lists = root / "var/lib/apt/lists"
    fresh = lists / "fresh.tmp"
    fresh.write_text(f"x{len(list(lists.iterdir()))}")
    os.utime(fresh, (NOW - 60, NOW - 60))
    fresh.rename(lists / "deb.debian.org_debian-security_dists_bookworm-security_InRelease")


def dpkg_changed(root: Path) -> None:
    status = root / "var/lib/dpkg/status"
    status.write_text(status.read_text() + "Package: y\n")


def ctx(now: float = NOW, state_dir: Path | None = None, timeout: float = 60.0) -> CheckContext:
    return CheckContext(target=Target(name="lms1", kind="generic"), timeout=timeout,
                        now=lambda: now, run_blocking=lambda fn: asyncio.to_thread(fn),
                        state_dir=state_dir)


def spec(**fields: Any) -> OsUpdatesSpec:
    return OsUpdatesSpec(type="os_updates", **fields)


def apt_check(root: Path, sim: Any = DEBIAN, hold: Any = "", **fields: Any) -> OsUpdatesCheck:
    runner = FakeRunner({SIM: sim, HOLD: hold})
    return OsUpdatesCheck(spec(**fields), runner=runner, which=which("apt-get", "apt-mark"),
                          root=root)


def value(result: Result, name: str, **labels: str) -> float | None:
    return next((s.value for s in result.samples if s.name == name and s.labels == labels), None)


# --- parsing -------------------------------------------------------------------------------

def test_apt_simulation_counts_updates_and_security_by_origin() -> None:
    sim = parse_apt_simulation(DEBIAN)
    assert [u.name for u in sim.updates] == [
        "base-files", "bash", "libgcrypt20", "liblzma5", "libssl3", "openssl"]
    assert [u.name for u in sim.updates if u.security] == [
        "libgcrypt20", "liblzma5", "libssl3", "openssl"]
    gcrypt = sim.updates[2]
    assert gcrypt.old == "1.10.1-3" and gcrypt.new == "1.10.1-3+deb12u1"
    assert gcrypt.origins == ("Debian:12.15/oldstable", "Debian-Security:12/oldstable-security")
    assert gcrypt.arch == "amd64" and gcrypt.key == "libgcrypt20:amd64 1.10.1-3+deb12u1"


def test_ubuntu_security_and_esm_origins_count_and_new_packages_are_apart() -> None:
    sim = parse_apt_simulation(UBUNTU)
    assert [u.name for u in sim.updates if u.security] == ["libc6", "python3-pil"]
    assert [u.name for u in sim.updates] == ["libc6", "openssh-client", "python3-pil"]
    assert [u.name for u in sim.new_packages] == ["linux-image-5.15.0-105-generic"]
    assert (sim.removals, sim.kept_back) == (1, 1)


@pytest.mark.parametrize("text", [
    "", "Segmentation fault\n", HEADER,
    NOTHING + "Inst broken line without parentheses\n",
])
def test_apt_output_that_is_not_a_simulation_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_apt_simulation(text)


def test_dnf_check_update_joins_wrapped_rows_and_ignores_obsoletes() -> None:
    updates = parse_dnf_check_update(DNF_CHECK_UPDATE)
    assert [(u.name, u.arch, u.new) for u in updates] == [
        ("kernel", "x86_64", "5.14.0-427.22.1.el9_4"), ("openssl", "x86_64", "1:3.0.7-27.el9"),
        ("openssl-libs", "x86_64", "1:3.0.7-27.el9"),
        ("python3-a-rather-long-package-name-for-wrapping", "noarch", "2.1-3.el9")]


def test_dnf_security_lists_of_dnf4_and_dnf5_give_unique_packages() -> None:
    assert [(u.name, u.new) for u in parse_dnf_security(DNF4_SECURITY)] == [
        ("kernel", "5.14.0-427.22.1.el9_4"), ("openssl", "1:3.0.7-27.el9"),
        ("openssl-libs", "1:3.0.7-27.el9")]
    assert [u.name for u in parse_dnf_security(DNF5_SECURITY)] == ["curl", "libcurl"]
    with pytest.raises(ParseError):
        parse_dnf_security("<html>proxy error</html>\n")


# --- judging recorded apt output -----------------------------------------------------------

async def test_a_host_without_pending_updates_is_ok(tmp_path: Path, probe: Any) -> None:
    log = "2026-11-29 03:23:34 status installed libc-bin:amd64 2.36-9+deb12u14\n"
    result = await probe(apt_check(apt_host(tmp_path, dpkg_log=log), sim=NOTHING), ctx())
    assert result.status is Status.OK, result.summary
    assert result.summary == "0 updates pending, none security"
    assert value(result, "lms_os_updates_pending", kind="all") == 0
    assert value(result, "lms_os_updates_pending", kind="security") == 0
    assert value(result, "lms_os_security_update_oldest_seconds") == 0
    assert value(result, "lms_os_updates_held") == 0
    assert value(result, "lms_os_reboot_required") == 0
    assert value(result, "lms_os_package_lists_age_seconds") == 3600
    # dpkg writes its log in local time
    expected = datetime(2026, 11, 29, 3, 23, 34).timestamp()
    assert value(result, "lms_os_last_package_change_timestamp_seconds") == expected


async def test_pending_security_updates_warn_and_name_the_packages(tmp_path: Path,
                                                                   probe: Any) -> None:
    check = apt_check(apt_host(tmp_path))
    result = await probe(check, ctx())
    assert result.status is Status.WARNING
    assert result.summary == ("6 updates pending, 4 security "
                              "(libgcrypt20, liblzma5, libssl3 +1 more)")
    assert value(result, "lms_os_updates_pending", kind="all") == 6
    assert value(result, "lms_os_updates_pending", kind="security") == 4
    assert result.details["security_packages"][0] == "libgcrypt20 1.10.1-3+deb12u1"
    # no dpkg.log: the status file's mtime says when packages last changed
    assert value(result, "lms_os_last_package_change_timestamp_seconds") == NOW - 5 * DAY
    assert check._runner.calls[0][2] is True  # type: ignore[attr-defined]  # low priority


async def test_a_security_update_unapplied_for_more_than_a_week_is_critical(
        tmp_path: Path, probe: Any) -> None:
    root, state = apt_host(tmp_path / "host"), tmp_path / "state"
    first = await probe(apt_check(root), ctx(NOW - 8 * DAY, state))
    assert first.status is Status.WARNING
    # a new check object (daemon restart) reads the first-seen times back from the state dir
    later = await probe(apt_check(root), ctx(NOW, state))
    assert later.status is Status.CRITICAL
    assert later.summary == ("6 updates pending, 4 security (libgcrypt20, liblzma5, libssl3 "
                             "+1 more) unapplied for 8d (limit 7d)")
    assert value(later, "lms_os_security_update_oldest_seconds") == 8 * DAY
    stored = json.loads((state / "os_updates-lms1.json").read_text())
    assert stored["security"]["openssl:amd64 3.0.22-1~deb12u2"] == NOW - 8 * DAY


async def test_a_newer_fix_for_an_unapplied_package_keeps_the_older_first_seen(
        tmp_path: Path) -> None:
    root = apt_host(tmp_path)
    check = apt_check(root)
    await check.run(ctx(NOW - 3 * DAY))
    newer = DEBIAN.replace("3.0.22-1~deb12u2", "3.0.23-1~deb12u1")
    check._runner.answers[SIM] = newer  # type: ignore[attr-defined]
    apt_update(root)  # (the newer fix arrives with new package lists)
    result = await check.run(ctx(NOW))
    assert value(result, "lms_os_security_update_oldest_seconds") == 3 * DAY
    assert "oldest unapplied 3d" in result.summary


async def test_applied_updates_are_forgotten(tmp_path: Path) -> None:
    root = apt_host(tmp_path)
    check = apt_check(root)
    await check.run(ctx(NOW - 10 * DAY))
    check._runner.answers[SIM] = NOTHING  # type: ignore[attr-defined]
    dpkg_changed(root)  # (the upgrade was applied)
    assert (await check.run(ctx(NOW - DAY))).status is Status.OK
    check._runner.answers[SIM] = DEBIAN  # type: ignore[attr-defined]
    apt_update(root)
    result = await check.run(ctx(NOW))  # pending again: a fresh first-seen time
    assert result.status is Status.WARNING
    assert value(result, "lms_os_security_update_oldest_seconds") == 0


async def test_stale_package_lists_warn_that_the_security_count_may_be_low(
        tmp_path: Path, probe: Any) -> None:
    result = await probe(apt_check(apt_host(tmp_path, lists_age=12 * DAY), sim=NOTHING), ctx())
    assert result.status is Status.WARNING
    assert result.summary == ("0 updates pending, none security; package lists 12d old "
                              "(limit 7d): updates published since are not counted, so the "
                              "security count may be too low")
    assert value(result, "lms_os_package_lists_age_seconds") == 12 * DAY


async def test_missing_package_lists_are_reported_without_running_apt(
        tmp_path: Path, probe: Any) -> None:
    check = apt_check(apt_host(tmp_path, lists_age=None))
    result = await probe(check, ctx())
    assert result.status is Status.WARNING
    assert result.summary.startswith("no package lists in ")
    assert "pending updates unknown" in result.summary
    assert value(result, "lms_os_updates_pending", kind="all") is None
    assert value(result, "lms_os_package_lists_age_seconds") is None
    assert value(result, "lms_os_reboot_required") == 0
    assert check._runner.ran() == [HOLD]  # type: ignore[attr-defined]


async def test_a_pending_reboot_warns_then_turns_critical(tmp_path: Path, probe: Any) -> None:
    root = apt_host(tmp_path, reboot_age=2 * DAY, reboot_pkgs="linux-image-amd64\nlibc6\nlibc6\n")
    result = await probe(apt_check(root, sim=NOTHING), ctx())
    assert result.status is Status.WARNING
    assert result.summary.endswith("; reboot required for 2d (linux-image-amd64, libc6)")
    assert value(result, "lms_os_reboot_required") == 1
    assert result.details["reboot_packages"] == ["linux-image-amd64", "libc6"]
    late = await probe(apt_check(root, sim=NOTHING), ctx(NOW + 6 * DAY))
    assert late.status is Status.CRITICAL
    assert "reboot required for 8d (linux-image-amd64, libc6), limit 7d" in late.summary


async def test_held_packages_are_counted_and_can_warn(tmp_path: Path, probe: Any) -> None:
    root = apt_host(tmp_path)
    result = await probe(apt_check(root, sim=NOTHING, hold="moodle-php\nnginx\n"), ctx())
    assert result.status is Status.OK
    assert value(result, "lms_os_updates_held") == 2
    assert result.details["held_packages"] == ["moodle-php", "nginx"]
    warned = await probe(apt_check(root, sim=NOTHING, hold="nginx\n", held_warning=1), ctx())
    assert warned.status is Status.WARNING and "1 package held: nginx" in warned.summary


async def test_plain_updates_are_informational_unless_limits_are_set(tmp_path: Path) -> None:
    root = apt_host(tmp_path)
    quiet = spec(security_warning=None, security_critical_after=None)
    check = OsUpdatesCheck(quiet, runner=FakeRunner({SIM: DEBIAN, HOLD: ""}),
                           which=which("apt-get", "apt-mark"), root=root)
    assert (await check.run(ctx())).status is Status.OK
    result = await apt_check(root, updates_warning=3, updates_critical=6).run(ctx())
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("6 updates pending (limit 6), 4 security")


async def test_excluded_packages_are_left_out_of_the_counts(tmp_path: Path) -> None:
    result = await apt_check(apt_host(tmp_path), exclude=("libssl*", "openssl")).run(ctx())
    assert value(result, "lms_os_updates_pending", kind="all") == 4
    assert value(result, "lms_os_updates_pending", kind="security") == 2
    assert result.details["excluded"] == 2


async def test_a_corrupt_first_seen_store_starts_afresh(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "os_updates-lms1.json").write_text("{not json")
    result = await apt_check(apt_host(tmp_path / "host")).run(ctx(state_dir=state))
    assert result.status is Status.WARNING
    assert "unreadable, started afresh" in result.details["notes"][0]
    assert json.loads((state / "os_updates-lms1.json").read_text())["version"] == 1


async def test_an_unwritable_state_dir_keeps_first_seen_times_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where a directory should be")
    check = apt_check(apt_host(tmp_path / "host"))
    await check.run(ctx(NOW - 8 * DAY, state_dir=blocker))
    result = await check.run(ctx(NOW, state_dir=blocker))
    assert result.status is Status.CRITICAL
    assert "cannot save first-seen times" in result.details["notes"][0]


# --- bad inputs: UNKNOWN with the cause ----------------------------------------------------

async def test_no_package_manager_is_unknown_with_the_cause(tmp_path: Path) -> None:
    check = OsUpdatesCheck(spec(), runner=FakeRunner({}), which=which(), root=tmp_path)
    with pytest.raises(CheckUnavailable, match="no package manager found: apt-get or dnf"):
        await check.run(ctx())
    forced = OsUpdatesCheck(spec(package_manager="apt"), runner=FakeRunner({}),
                            which=which("dnf"), root=tmp_path)
    with pytest.raises(CheckUnavailable, match="apt-get is not on"):
        await forced.run(ctx())


@pytest.mark.parametrize(("answer", "message"), [
    ((100, "", "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to "
      "correct the problem.\n"),
     "apt-get --simulate --quiet dist-upgrade failed with exit code 100: E: dpkg was "
     "interrupted"),
    ("\x00\x01binary garbage\n",
     "apt-get --simulate --quiet dist-upgrade: no apt-get summary line in the output"),
    (NOTHING + "Inst ??? \n", r"unexpected apt-get line: Inst \?\?\?"),
    (subprocess.TimeoutExpired("apt-get", 5),
     r"apt-get --simulate --quiet dist-upgrade did not finish within \d+s"),
    (FileNotFoundError(2, "No such file or directory"),
     "cannot run apt-get --simulate --quiet dist-upgrade: No such file or directory"),
])
async def test_apt_failures_are_unknown_with_the_cause(tmp_path: Path, answer: Any,
                                                       message: str) -> None:
    with pytest.raises(CheckUnavailable, match=message):
        await apt_check(apt_host(tmp_path), sim=answer).run(ctx())


async def test_a_failing_apt_mark_only_loses_the_held_count(tmp_path: Path, probe: Any) -> None:
    result = await probe(apt_check(apt_host(tmp_path), hold=(1, "", "E: boom\n")), ctx())
    assert result.status is Status.WARNING
    assert value(result, "lms_os_updates_held") is None
    assert "held packages unknown: apt-mark showhold failed" in result.details["notes"][0]


# --- dnf -----------------------------------------------------------------------------------

def dnf_check(root: Path, answers: dict[tuple[str, ...], Any],
              tools: tuple[str, ...] = ("dnf", "needs-restarting"), **fields: Any
              ) -> OsUpdatesCheck:
    return OsUpdatesCheck(spec(**fields), runner=FakeRunner(answers), which=which(*tools),
                          root=root)


def dnf_host(root: Path, age: float = 2 * 3600) -> Path:
    repodata = root / "var/cache/dnf/baseos-abc/repodata"
    repodata.mkdir(parents=True)
    (repodata / "repomd.xml").write_text("<repomd/>")
    os.utime(repodata / "repomd.xml", (NOW - age, NOW - age))
    (root / "var/lib/rpm").mkdir(parents=True)
    (root / "var/lib/rpm/rpmdb.sqlite").write_text("")
    os.utime(root / "var/lib/rpm/rpmdb.sqlite", (NOW - DAY, NOW - DAY))
    return root


async def test_dnf_counts_updates_security_advisories_and_a_pending_reboot(
        tmp_path: Path, probe: Any) -> None:
    check = dnf_check(dnf_host(tmp_path), {
        CHECK_UPDATE: (100, DNF_CHECK_UPDATE, ""), UPDATEINFO: DNF4_SECURITY,
        NEEDS_RESTARTING: (1, NEEDS_REBOOT, "")})
    result = await probe(check, ctx())
    assert result.status is Status.WARNING
    assert result.summary == ("4 updates pending, 3 security (kernel, openssl, openssl-libs); "
                              "reboot required (kernel, systemd)")
    assert value(result, "lms_os_updates_pending", kind="security") == 3
    assert value(result, "lms_os_reboot_required") == 1
    assert value(result, "lms_os_package_lists_age_seconds") == 2 * 3600
    assert value(result, "lms_os_last_package_change_timestamp_seconds") == NOW - DAY
    assert value(result, "lms_os_updates_held") is None
    assert result.details["package_manager"] == "dnf"
    # the reboot has no flag file on dnf: the first-seen time counts
    later = await probe(check, ctx(NOW + 8 * DAY))
    assert later.status is Status.CRITICAL
    assert "reboot required for 8d (kernel, systemd), limit 7d" in later.summary


async def test_dnf_without_updates_or_needs_restarting_is_ok(tmp_path: Path, probe: Any) -> None:
    check = dnf_check(dnf_host(tmp_path), {CHECK_UPDATE: (0, "\n", ""), UPDATEINFO: ""},
                      tools=("dnf",))
    result = await probe(check, ctx())
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_os_reboot_required") is None
    assert "needs-restarting (dnf-utils) not installed" in result.details["notes"][0]


async def test_dnf_without_a_metadata_cache_reports_missing_lists(tmp_path: Path) -> None:
    error = "Error: Cache-only enabled but no cache for 'baseos'\n"
    check = dnf_check(tmp_path, {CHECK_UPDATE: (1, "", error), NEEDS_RESTARTING: (0, "", "")})
    result = await check.run(ctx())
    assert result.status is Status.WARNING
    assert result.summary.startswith("no dnf metadata cache")
    assert value(result, "lms_os_updates_pending", kind="all") is None


@pytest.mark.parametrize(("answers", "message"), [
    ({CHECK_UPDATE: (1, "", "Error: Failed to download metadata for repo 'baseos'\n")},
     "dnf -q -C check-update failed with exit code 1: Error: Failed to download metadata"),
    ({CHECK_UPDATE: (100, "<html>captive portal</html>\n", "")},
     "unexpected dnf check-update line"),
    ({CHECK_UPDATE: (0, "", ""), UPDATEINFO: (1, "", "Error: updateinfo broken\n")},
     "dnf -q -C updateinfo list --security failed with exit code 1"),
])
async def test_dnf_failures_are_unknown_with_the_cause(tmp_path: Path, answers: Any,
                                                      message: str) -> None:
    with pytest.raises(CheckUnavailable, match=message):
        await dnf_check(dnf_host(tmp_path), answers).run(ctx())


# --- spec ----------------------------------------------------------------------------------

def test_spec_defaults_and_limits() -> None:
    default = spec()
    assert (default.interval, default.timeout) == (3600.0, 120.0)
    assert default.security_critical_after == 7 * DAY and default.lists_max_age == 7 * DAY
    assert default.reboot_critical_after == 7 * DAY and default.updates_warning is None
    assert spec(lists_max_age="3d", security_critical_after="36h").security_critical_after \
        == 36 * 3600
    with pytest.raises(ValueError, match="updates_critical .* must be >= updates_warning"):
        spec(updates_warning=10, updates_critical=5)
    with pytest.raises(ValueError, match="package_manager"):
        spec(package_manager="yum")


# --- the real runner and a real run --------------------------------------------------------

def test_the_runner_uses_the_c_locale_and_none_of_the_daemons_environment() -> None:
    os.environ["VIGIL_TEST_SECRET"] = "s3cret"
    try:
        out = run_command(["/usr/bin/env"], 5.0)
    finally:
        del os.environ["VIGIL_TEST_SECRET"]
    assert out.returncode == 0
    assert "LC_ALL=C" in out.stdout.splitlines() and "s3cret" not in out.stdout


def test_the_runner_kills_a_command_past_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_command(["/bin/sh", "-c", "sleep 30 & sleep 30"], 0.3)
    assert time.monotonic() - started < 5


@pytest.mark.integration
@pytest.mark.needs("apt-get")  # a Debian/Ubuntu host
async def test_a_real_run_on_this_debian_host(tmp_path: Path, probe: Any) -> None:
    real_ctx = CheckContext(target=Target(name="host", kind="generic"), timeout=120.0,
                            now=time.time, run_blocking=lambda fn: asyncio.to_thread(fn),
                            state_dir=tmp_path)
    result = await probe(OsUpdatesCheck(spec()), real_ctx)
    assert result.status in (Status.OK, Status.WARNING, Status.CRITICAL), result.summary
    assert result.details["package_manager"] == "apt"
    if result.details["updates"] is None:  # no lists on this host: said, not failed
        assert "no package lists" in result.summary
    else:
        assert value(result, "lms_os_updates_pending", kind="all") == result.details["updates"]
        assert value(result, "lms_os_package_lists_age_seconds") is not None
    assert value(result, "lms_os_updates_held") is not None
    assert value(result, "lms_os_reboot_required") in (0, 1)
    print(result.summary)  # visible with -s: what this host really has pending


@pytest.mark.integration
@pytest.mark.needs("apt-get")  # a Debian/Ubuntu host
async def test_a_real_run_against_a_host_tree_without_lists_says_so(tmp_path: Path) -> None:
    result = await OsUpdatesCheck(spec(), root=tmp_path).run(ctx(time.time()))
    assert result.status is Status.WARNING
    assert result.summary.startswith(f"no package lists in {tmp_path}/var/lib/apt/lists")


# --- apt asked again only when what it reads changed (checks/os_updates_memo.py) ----------

def apt_runs(check: OsUpdatesCheck) -> int:
    return check._runner.ran().count(SIM)  # type: ignore[attr-defined]


async def test_apt_is_not_asked_again_while_nothing_it_reads_changed(tmp_path: Path) -> None:
    root = apt_host(tmp_path / "host")
    check = apt_check(root)
    first = await check.run(ctx(NOW - 2 * DAY))
    again = await check.run(ctx(NOW))
    assert apt_runs(check) == 1 and again.status is first.status is Status.WARNING
    # What is read from files and the clock is still current on a reused answer.
    assert value(again, "lms_os_security_update_oldest_seconds") == 2 * DAY
    assert "oldest unapplied 2d" in again.summary
    (root / "run").mkdir()
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    assert value(await check.run(ctx(NOW)), "lms_os_reboot_required") == 1
    assert apt_runs(check) == 1


@pytest.mark.parametrize("change", [
    apt_update, dpkg_changed,
    lambda root: (root / "var/lib/dpkg/arch").write_text("amd64\ni386\n"),
    lambda root: (root / "etc/apt/preferences.d").mkdir(parents=True),
    lambda root: (root / "var/lib/apt/extended_states").write_text("Package: x\nAuto: 1\n"),
], ids=["new lists", "dpkg status", "architectures", "apt configuration", "apt states"])
async def test_a_change_to_anything_apt_reads_asks_it_again(tmp_path: Path, change: Any) -> None:
    root = apt_host(tmp_path / "host")
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    check = apt_check(root)
    await check.run(ctx())
    check._runner.answers[SIM] = NOTHING  # type: ignore[attr-defined]
    change(root)
    result = await check.run(ctx())
    assert apt_runs(check) == 2 and result.status is Status.OK


async def test_a_reused_answer_expires_and_a_failed_one_is_not_kept(
        tmp_path: Path, monkeypatch: Any) -> None:
    import checks.os_updates_memo as memo

    root = apt_host(tmp_path / "host")
    check = apt_check(root, hold=(1, "", "E: dpkg status unreadable"))
    clock = [0.0]
    check._memo.clock = lambda: clock[0]
    await check.run(ctx())
    await check.run(ctx())  # apt-mark failed: not kept, both asked again
    assert apt_runs(check) == 2
    check._runner.answers[HOLD] = ""  # type: ignore[attr-defined]
    await check.run(ctx())
    clock[0] = memo.MAX_REUSE - 1
    await check.run(ctx())
    assert apt_runs(check) == 3
    clock[0] = memo.MAX_REUSE + 1
    await check.run(ctx())
    assert apt_runs(check) == 4
