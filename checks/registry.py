"""Which check types exist, and what they measure: the explicit tables the shell reads.

config (monitor/app/config.py builds a discriminated union of the specs below) ->
build_check(spec) -> a Check the scheduler runs. An explicit dict literal, no scanning,
like blackbox_exporter's ``Probers`` map. CHECK_METRICS lists the metrics each generic
check module declares (its ``METRICS``); the shell's catalogue (monitor/app/catalogue.py)
is built from it and from MOODLE_METRICS.
"""

from __future__ import annotations

from checks import dns, http, os_updates, process, system, tcp, tls
from checks.a11y import check as a11y
from checks.a11y.check import A11yCheck
from checks.a11y.spec import A11ySpec
from checks.base import Check
from checks.canvas.registry import CANVAS_CHECK_TYPES, CANVAS_METRICS
from checks.dns import DnsCheck, DnsSpec
from checks.http import HttpCheck
from checks.http_spec import HttpSpec
from checks.integrity import codetree, datascripts
from checks.integrity.codetree import CodeIntegrityCheck, CodeIntegritySpec
from checks.integrity.datascripts import DatarootScriptsCheck, DatarootScriptsSpec
from checks.journey.registry import JOURNEY_CHECK_TYPES, JOURNEY_METRICS
from checks.moodle.registry import MOODLE_CHECK_TYPES
from checks.openedx.registry import OPENEDX_CHECK_TYPES, OPENEDX_METRICS
from checks.os_updates import OsUpdatesCheck, OsUpdatesSpec
from checks.process import ProcessCheck, ProcessSpec
from checks.system import SystemCheck, SystemSpec
from checks.tcp import TcpCheck, TcpSpec
from checks.tls import TlsCheck, TlsSpec
from monitor.kernel.metric import Metrics, merge
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
    "a11y": (A11ySpec, A11yCheck),
    **MOODLE_CHECK_TYPES,
    **CANVAS_CHECK_TYPES,
    **OPENEDX_CHECK_TYPES,
    **JOURNEY_CHECK_TYPES,
}

# Samples the generic checks return (Result.samples); a new check module adds its METRICS.
CHECK_METRICS: Metrics = merge(
    http.METRICS, tls.METRICS, tcp.METRICS, dns.METRICS, system.METRICS, process.METRICS,
    os_updates.METRICS, codetree.METRICS, datascripts.METRICS, CANVAS_METRICS, OPENEDX_METRICS,
    JOURNEY_METRICS,
    a11y.METRICS,
)


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
