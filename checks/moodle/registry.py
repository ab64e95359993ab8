"""Moodle check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning).

Each probe module adds one line here: "moodle_<probe>": (module, Spec, Check); the module
is imported when its type is first looked up (checks/lazy.py), and its METRICS join
MOODLE_METRICS, from which the shell builds the metric catalogue.
"""

from __future__ import annotations

from checks.lazy import CheckFamilies, LazyMetrics

_M = "checks.moodle."
MOODLE_CHECK_TYPES = CheckFamilies({
    "moodle_cron": (_M + "cron", "CronSpec", "CronCheck"),
    "moodle_scheduled_tasks": (_M + "tasks", "ScheduledTasksSpec", "ScheduledTasksCheck"),
    "moodle_adhoc_tasks": (_M + "adhoc", "AdhocTasksSpec", "AdhocTasksCheck"),
    "moodle_availability": (_M + "availability", "AvailabilitySpec", "AvailabilityCheck"),
    "moodle_mail": (_M + "mail", "MailSpec", "MailCheck"),
    "moodle_caches": (_M + "caches", "CachesSpec", "CachesCheck"),
    "moodle_security": (_M + "security", "SecuritySpec", "SecurityCheck"),
    "moodle_usage": (_M + "usage", "UsageSpec", "UsageCheck"),
    "moodle_exams": (_M + "exams", "ExamsSpec", "ExamsCheck"),
    "moodle_backups": (_M + "backups", "BackupsSpec", "BackupsCheck"),
    "moodle_check_api": (_M + "checkapi", "CheckApiSpec", "CheckApiCheck"),
    "moodle_upgrade": (_M + "upgrade", "UpgradeSpec", "UpgradeCheck"),
    "moodle_maintenance": (_M + "maintenance", "MaintenanceSpec", "MaintenanceCheck"),
    "moodle_dataroot": (_M + "dataroot", "DatarootSpec", "DatarootCheck"),
    "moodle_updates": (_M + "updates", "UpdatesSpec", "UpdatesCheck"),
    "moodle_branch_support": (_M + "branches", "BranchSupportSpec", "BranchSupportCheck"),
    "moodle_filestore": (_M + "filestore", "FilestoreSpec", "FilestoreCheck"),
    "moodle_config_drift": (_M + "config_drift", "ConfigDriftSpec", "ConfigDriftCheck"),
    "moodle_privileged_accounts": (_M + "privileged", "PrivilegedSpec", "PrivilegedCheck"),
})

# Samples the Moodle probes return, each declared once in its probe module.
MOODLE_METRICS = LazyMetrics(MOODLE_CHECK_TYPES.modules())


def default_moodle_checks() -> list[str]:
    """Every Moodle check type that works with its defaults: the set a Moodle site gets when
    its config lists no checks (and the set `vigil init` writes)."""
    names = []
    for name, (spec_cls, _) in MOODLE_CHECK_TYPES.items():
        try:
            spec_cls.model_validate({"type": name})
        except ValueError:
            continue  # a type that needs settings of its own is not a default
        names.append(name)
    return names
