"""Moodle check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning).

Each probe module adds one line here: "moodle_<probe>": (Spec, Check), and its METRICS to
MOODLE_METRICS, from which the shell builds the metric catalogue.
"""

from __future__ import annotations

from checks.moodle import (
    adhoc,
    availability,
    backups,
    branches,
    caches,
    checkapi,
    config_drift,
    cron,
    dataroot,
    exams,
    filestore,
    mail,
    maintenance,
    privileged,
    security,
    tasks,
    updates,
    upgrade,
    usage,
)
from checks.moodle.adhoc import AdhocTasksCheck, AdhocTasksSpec
from checks.moodle.availability import AvailabilityCheck, AvailabilitySpec
from checks.moodle.backups import BackupsCheck, BackupsSpec
from checks.moodle.branches import BranchSupportCheck, BranchSupportSpec
from checks.moodle.caches import CachesCheck, CachesSpec
from checks.moodle.checkapi import CheckApiCheck, CheckApiSpec
from checks.moodle.config_drift import ConfigDriftCheck, ConfigDriftSpec
from checks.moodle.cron import CronCheck, CronSpec
from checks.moodle.dataroot import DatarootCheck, DatarootSpec
from checks.moodle.exams import ExamsCheck, ExamsSpec
from checks.moodle.filestore import FilestoreCheck, FilestoreSpec
from checks.moodle.mail import MailCheck, MailSpec
from checks.moodle.maintenance import MaintenanceCheck, MaintenanceSpec
from checks.moodle.privileged import PrivilegedCheck, PrivilegedSpec
from checks.moodle.security import SecurityCheck, SecuritySpec
from checks.moodle.tasks import ScheduledTasksCheck, ScheduledTasksSpec
from checks.moodle.updates import UpdatesCheck, UpdatesSpec
from checks.moodle.upgrade import UpgradeCheck, UpgradeSpec
from checks.moodle.usage import UsageCheck, UsageSpec
from monitor.kernel.metric import Metrics, merge
from monitor.kernel.spec import CheckSpec

MOODLE_CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
    "moodle_cron": (CronSpec, CronCheck),
    "moodle_scheduled_tasks": (ScheduledTasksSpec, ScheduledTasksCheck),
    "moodle_adhoc_tasks": (AdhocTasksSpec, AdhocTasksCheck),
    "moodle_availability": (AvailabilitySpec, AvailabilityCheck),
    "moodle_mail": (MailSpec, MailCheck),
    "moodle_caches": (CachesSpec, CachesCheck),
    "moodle_security": (SecuritySpec, SecurityCheck),
    "moodle_usage": (UsageSpec, UsageCheck),
    "moodle_exams": (ExamsSpec, ExamsCheck),
    "moodle_backups": (BackupsSpec, BackupsCheck),
    "moodle_check_api": (CheckApiSpec, CheckApiCheck),
    "moodle_upgrade": (UpgradeSpec, UpgradeCheck),
    "moodle_maintenance": (MaintenanceSpec, MaintenanceCheck),
    "moodle_dataroot": (DatarootSpec, DatarootCheck),
    "moodle_updates": (UpdatesSpec, UpdatesCheck),
    "moodle_branch_support": (BranchSupportSpec, BranchSupportCheck),
    "moodle_filestore": (FilestoreSpec, FilestoreCheck),
    "moodle_config_drift": (ConfigDriftSpec, ConfigDriftCheck),
    "moodle_privileged_accounts": (PrivilegedSpec, PrivilegedCheck),
}

# Samples the Moodle probes return, each declared once in its probe module.
MOODLE_METRICS: Metrics = merge(
    cron.METRICS, tasks.METRICS, adhoc.METRICS, availability.METRICS, mail.METRICS,
    caches.METRICS, security.METRICS, usage.METRICS, exams.METRICS, backups.METRICS,
    checkapi.METRICS, upgrade.METRICS, maintenance.METRICS, dataroot.METRICS, updates.METRICS,
    branches.METRICS, filestore.METRICS, config_drift.METRICS, privileged.METRICS,
)


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
