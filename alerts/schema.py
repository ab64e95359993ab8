"""The alerting domain's tables: alerts and their events, the outbox, routing state,
receiver health and the history that predictions and SLOs read. Run by the kernel's
``Database``; ``legacy`` names the single-file layout version of each step."""

from __future__ import annotations

from monitor.kernel.database import Migrations

MIGRATIONS = Migrations("alerting", (
    """
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY, lms TEXT NOT NULL, check_name TEXT NOT NULL,
        state TEXT NOT NULL, status INTEGER NOT NULL, summary TEXT NOT NULL,
        labels TEXT NOT NULL, started_at REAL, resolved_at REAL,
        transition INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE alert_transitions (
        id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, transition INTEGER NOT NULL,
        kind TEXT NOT NULL, at REAL NOT NULL, summary TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, dedup_key TEXT NOT NULL, receiver TEXT NOT NULL,
        payload TEXT NOT NULL, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT, sent_at REAL,
        UNIQUE (dedup_key, receiver)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    """,
    # Alert policy (alerts/engine.py, alerts/service.py): severity, flapping, holds and
    # acknowledgements on each alert; every event (firing, resolved, flapping, ...) is a
    # row of alert_transitions that waits for the router ('pending') with a snapshot of
    # the alert (payload); rows written before this migration were already queued.
    """
    ALTER TABLE alerts ADD COLUMN severity TEXT NOT NULL DEFAULT 'warning';
    ALTER TABLE alerts ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN held TEXT;
    ALTER TABLE alerts ADD COLUMN ack_by TEXT;
    ALTER TABLE alerts ADD COLUMN ack_comment TEXT;
    ALTER TABLE alerts ADD COLUMN ack_at REAL;
    ALTER TABLE alerts ADD COLUMN ack_sticky INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE alerts ADD COLUMN ack_expires_at REAL;
    ALTER TABLE alert_transitions ADD COLUMN dedup_key TEXT;
    ALTER TABLE alert_transitions ADD COLUMN severity TEXT;
    ALTER TABLE alert_transitions ADD COLUMN route_state TEXT NOT NULL DEFAULT 'routed';
    ALTER TABLE alert_transitions ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX alert_transitions_by_route_state ON alert_transitions (route_state, id);
    CREATE UNIQUE INDEX alert_transitions_by_dedup_key ON alert_transitions (dedup_key);
    CREATE INDEX alert_transitions_by_fingerprint ON alert_transitions (fingerprint, transition);
    CREATE INDEX alerts_by_held ON alerts (held);
    """,
    # Routing (alerts/router.py, alerts/router_store.py): notification groups waiting for
    # their group_wait or group_interval and the alerts in each (latest event, last event
    # sent); what each receiver was told about each alert (so a resolved goes only where
    # the firing went); escalation progress per firing alert; events held back by a
    # maintenance window (to notify when it ends); the health of each receiver.
    """
    CREATE TABLE notification_groups (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, route TEXT NOT NULL,
        labels TEXT NOT NULL, created_at REAL NOT NULL, last_flushed_at REAL,
        flushes INTEGER NOT NULL DEFAULT 0, reminders INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (group_key, receiver)
    );
    CREATE TABLE notification_group_alerts (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, fingerprint TEXT NOT NULL,
        instance INTEGER NOT NULL, event_id INTEGER NOT NULL, notified_event_id INTEGER,
        PRIMARY KEY (group_key, receiver, fingerprint, instance)
    );
    CREATE INDEX notification_group_alerts_by_alert ON notification_group_alerts (fingerprint);
    CREATE TABLE notification_log (
        fingerprint TEXT NOT NULL, receiver TEXT NOT NULL, fired_transition INTEGER NOT NULL,
        open INTEGER NOT NULL, last_kind TEXT NOT NULL, last_sent_at REAL NOT NULL,
        PRIMARY KEY (fingerprint, receiver)
    );
    CREATE TABLE notification_escalations (
        fingerprint TEXT PRIMARY KEY, transition INTEGER NOT NULL, event_id INTEGER NOT NULL,
        first_notified_at REAL NOT NULL, level INTEGER NOT NULL DEFAULT 0, escalated_at REAL
    );
    CREATE TABLE notification_suppressed (
        event_id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, transition INTEGER NOT NULL,
        reason TEXT NOT NULL, at REAL NOT NULL, until REAL, released_at REAL
    );
    CREATE TABLE receiver_health (
        receiver TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT, since REAL NOT NULL
    );
    """,
    # Predictions and SLOs (alerts/history.py, predict.py, slo.py): the history of the
    # gauges that predictive rules watch (labels: the sample's labels as sorted JSON),
    # and per LMS and minute the good/total availability probes that burn-rate windows sum.
    """
    CREATE TABLE sample_history (
        lms TEXT NOT NULL, check_name TEXT NOT NULL, metric TEXT NOT NULL,
        labels TEXT NOT NULL, at REAL NOT NULL, value REAL NOT NULL
    );
    CREATE INDEX sample_history_by_metric ON sample_history (lms, metric, at);
    CREATE INDEX sample_history_by_age ON sample_history (at);
    CREATE TABLE slo_minutes (
        lms TEXT NOT NULL, minute INTEGER NOT NULL, good INTEGER NOT NULL,
        total INTEGER NOT NULL,
        PRIMARY KEY (lms, minute)
    ) WITHOUT ROWID;
    """,
), legacy=(1, 3, 4, 6))
