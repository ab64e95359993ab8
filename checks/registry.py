"""Which check types exist, and what they measure: the explicit tables the shell reads.

config (monitor/app/config.py validates each check table with its type's spec) ->
build_check(spec) -> a Check the scheduler runs. An explicit dict literal, no scanning,
like blackbox_exporter's ``Probers`` map. Each entry names the module that implements the
type, which is imported only when the type is first looked up (checks/lazy.py): a daemon
watching a web site never loads the Moodle, integrity or DNS code. CHECK_METRICS is the
``METRICS`` each generic check module declares; the shell's catalogue
(monitor/app/catalogue.py) is built from it and from MOODLE_METRICS.
"""

from __future__ import annotations

from checks.base import Check
from checks.canvas.registry import CANVAS_CHECK_TYPES
from checks.journey.registry import JOURNEY_CHECK_TYPES
from checks.lazy import CheckFamilies, LazyMetrics
from checks.moodle.registry import MOODLE_CHECK_TYPES
from checks.openedx.registry import OPENEDX_CHECK_TYPES
from monitor.kernel.spec import CheckSpec

GENERIC_CHECK_TYPES = CheckFamilies({
    "http": ("checks.http", "HttpSpec", "HttpCheck"),
    "tls": ("checks.tls", "TlsSpec", "TlsCheck"),
    "tcp": ("checks.tcp", "TcpSpec", "TcpCheck"),
    "dns": ("checks.dns", "DnsSpec", "DnsCheck"),
    "system": ("checks.system", "SystemSpec", "SystemCheck"),
    "process": ("checks.process", "ProcessSpec", "ProcessCheck"),
    "os_updates": ("checks.os_updates", "OsUpdatesSpec", "OsUpdatesCheck"),
    "code_integrity": ("checks.integrity.codetree", "CodeIntegritySpec", "CodeIntegrityCheck"),
    "dataroot_scripts": ("checks.integrity.datascripts", "DatarootScriptsSpec",
                         "DatarootScriptsCheck"),
    "a11y": ("checks.a11y.check", "A11ySpec", "A11yCheck"),
})

CHECK_TYPES = CheckFamilies(GENERIC_CHECK_TYPES, MOODLE_CHECK_TYPES, CANVAS_CHECK_TYPES,
                            OPENEDX_CHECK_TYPES, JOURNEY_CHECK_TYPES)

# Samples the generic checks return (Result.samples); a new check module adds its METRICS.
CHECK_METRICS = LazyMetrics(GENERIC_CHECK_TYPES.modules() + CANVAS_CHECK_TYPES.modules()
                            + OPENEDX_CHECK_TYPES.modules() + JOURNEY_CHECK_TYPES.modules())


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
