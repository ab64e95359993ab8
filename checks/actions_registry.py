"""Which LMS kinds a maintenance window can act on: the explicit table of checks/actions.py
implementations, kept outside the families so they stay independent of each other.

The shell (monitor/app/daemon.py, cli/maintenance_cmd.py, web/api_maintenance.py) hands
``MAINTENANCE_ACTIONS`` to maintenance (alerts/maintenance/), which imports only the
interface. A new LMS kind adds its entry here.
"""

from __future__ import annotations

from checks.actions import MaintenanceActions
from checks.integrity.window import IntegrityWindow
from checks.moodle.actions import MoodleActions

MAINTENANCE_ACTIONS = MaintenanceActions(
    lms={
        "moodle": MoodleActions(),
    },
    integrity=IntegrityWindow(),
)
