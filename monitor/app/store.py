"""The daemon's state file: every domain's repository over one kernel ``Database``.

The shell opens the file once with each domain's migrations (check state, alerting,
maintenance, integrity) and hands the repositories to the domains; the metrics exporter
and the HTTP API read through them. ``StateStore`` is alerting's view (check states,
alerts, outbox) plus the ``database`` that maintenance and integrity wrap themselves.
"""

from __future__ import annotations

from pathlib import Path

from alerts.maintenance.store import MIGRATIONS as MAINTENANCE_MIGRATIONS
from alerts.schema import MIGRATIONS as ALERTING_MIGRATIONS
from alerts.store import AlertingState
from checks.integrity.tables import MIGRATIONS as INTEGRITY_MIGRATIONS
from monitor.app.audit import MIGRATIONS as AUDIT_MIGRATIONS
from monitor.kernel.database import Database
from monitor.state.store import MIGRATIONS as CHECK_STATE_MIGRATIONS

STATE_FILE = "vigil.sqlite3"  # under [state] dir
DOMAINS = (CHECK_STATE_MIGRATIONS, ALERTING_MIGRATIONS, MAINTENANCE_MIGRATIONS,
           INTEGRITY_MIGRATIONS, AUDIT_MIGRATIONS)


class StateStore(AlertingState):
    """The state file with every domain's tables created or upgraded in place."""

    def __init__(self, path: Path | str, *, history_limit: int = 500,
                 database: Database | None = None) -> None:
        super().__init__(database or Database(path, DOMAINS), history_limit=history_limit)
        self.path = self.database.path
        # Where a damaged state file was moved before this one was made (open_recovering).
        self.recovered_from: Path | None = None

    @classmethod
    def open_recovering(cls, path: Path, now: float, *, history_limit: int = 500
                        ) -> StateStore:
        """The daemon's way in: a damaged file is moved aside (``recovered_from``) and a
        new one made, instead of a traceback and a restart loop."""
        database, moved = Database.open_recovering(path, DOMAINS, now)
        store = cls(path, history_limit=history_limit, database=database)
        store.recovered_from = moved
        return store

    def is_writable(self) -> bool:
        """For /readyz: a write transaction can be taken."""
        return self.database.is_writable()

    def close(self) -> None:
        self.database.close()
