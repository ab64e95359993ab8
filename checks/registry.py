"""Which check types exist: the explicit table the config loader and the scheduler read.

config (monitor/app/config.py builds a discriminated union of the specs below) ->
build_check(spec) -> a Check the scheduler runs. An explicit dict literal, no scanning,
like blackbox_exporter's ``Probers`` map.
"""

from __future__ import annotations

from checks.base import Check
from checks.dns import DnsCheck, DnsSpec
from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.datascripts import DatarootScriptsCheck, DatarootScriptsSpec
from checks.moodle.registry import MOODLE_CHECK_TYPES
from checks.os_updates import OsUpdatesCheck, OsUpdatesSpec
from checks.process import ProcessCheck, ProcessSpec
from checks.system import SystemCheck, SystemSpec
from checks.tcp import TcpCheck, TcpSpec
from checks.tls import TlsCheck, TlsSpec
from monitor.kernel.spec import CheckSpec

CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
    "http": (HttpSpec, HttpCheck),
    "tls": (TlsSpec, TlsCheck),
    "tcp": (TcpSpec, TcpCheck),
    "dns": (DnsSpec, DnsCheck),
    "system": (SystemSpec, SystemCheck),
    "process": (ProcessSpec, ProcessCheck),
    "os_updates": (OsUpdatesSpec, OsUpdatesCheck),
    "code_integrity": (CodeIntegritySpec, CodeIntegrityCheck),
    "dataroot_scripts": (DatarootScriptsSpec, DatarootScriptsCheck),
    **MOODLE_CHECK_TYPES,
}


def build_check(spec: CheckSpec) -> Check:
    """The Check for a validated spec; each check type takes its own spec class."""
    try:
        spec_cls, check_cls = CHECK_TYPES[spec.type]
    except KeyError:
        raise ValueError(f"unknown check type {spec.type!r}") from None
    if not isinstance(spec, spec_cls):
        raise TypeError(
            f"a {spec.type!r} check needs a {spec_cls.__name__}, got {type(spec).__name__}")
    check: Check = check_cls(spec)
    return check
