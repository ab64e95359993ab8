"""The shell's own metrics: what the exporter (monitor/app/metrics.py) produces itself.

The ``lms_check_*`` gauges the collector derives from every check's stored state, and
the daemon's ``vigil_*`` instruments. Declared here rather than in metrics.py because
the catalogue metrics.py reads (monitor/app/catalogue.py) is assembled from them.
"""

from __future__ import annotations

from monitor.kernel.metric import MetricSpec, declare

# Metrics the collector derives from every check's stored state.
STATE_METRICS = declare(
    MetricSpec("lms_check_status", "gauge",
               "Last status of the check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
    MetricSpec("lms_check_success", "gauge", "1 if the last result of the check was OK, else 0."),
    MetricSpec("lms_check_duration_seconds", "gauge", "How long the last run of the check took."),
    MetricSpec("lms_check_last_run_timestamp_seconds", "gauge",
               "When the check last finished, as a Unix time."),
    MetricSpec("lms_check_state_change_timestamp_seconds", "gauge",
               "When the check's status last changed, as a Unix time."),
    MetricSpec("lms_check_consecutive_failures", "gauge",
               "Consecutive non-OK results of the check (0 when OK)."),
    MetricSpec("lms_alert_firing", "gauge",
               "1 while Vigil has a firing alert for the check, else 0."),
)

# The daemon's own instruments (monitor/app/metrics.py creates them on an explicit registry).
DAEMON_METRICS = declare(
    MetricSpec("vigil_build_info", "info", "Vigil version.", ("version",)),
    MetricSpec("vigil_check_runs_total", "counter",
               "Check runs finished, by check type and resulting status.", ("type", "status")),
    MetricSpec("vigil_check_run_duration_seconds", "histogram",
               "Wall time of check runs, by check type.", ("type",)),
    MetricSpec("vigil_check_errors_total", "counter",
               "Check runs that raised or timed out instead of returning a result.",
               ("type", "reason")),
    MetricSpec("vigil_check_skipped_total", "counter",
               "Scheduled runs skipped because the previous run of the same check was still "
               "in flight.", ("type",)),
    MetricSpec("vigil_scheduler_lag_seconds", "histogram",
               "Delay between when a check run was due and when it started."),
    MetricSpec("vigil_scheduler_jobs", "gauge", "Check jobs currently scheduled."),
    MetricSpec("vigil_checks_in_flight", "gauge", "Check runs executing right now."),
    MetricSpec("vigil_config_reloads_total", "counter",
               "Config reloads attempted, by result.", ("result",)),
    MetricSpec("vigil_config_last_reload_success_timestamp_seconds", "gauge",
               "When the configuration was last loaded successfully, as a Unix time."),
    MetricSpec("vigil_outbox_notifications", "gauge",
               "Notifications in the durable outbox, by state (pending, sent, failed).",
               ("state",)),
    MetricSpec("vigil_notifications_total", "counter",
               "Notification delivery attempts, by receiver and outcome "
               "(sent, retry, failed).", ("receiver", "outcome")),
    MetricSpec("vigil_alerts_firing", "gauge", "Alerts Vigil currently has firing."),
    MetricSpec("vigil_state_write_failures_total", "counter",
               "Writes to the state file that failed (full disk, damaged page, lock timeout) "
               "since the daemon started."),
    MetricSpec("vigil_state_writes_failing", "gauge",
               "1 while the last write to the state file failed (results, alerts and "
               "notifications are not being saved), else 0."),
    MetricSpec("vigil_receiver_up", "gauge",
               "1 while the receiver delivers, 0 after a permanent delivery error (bad "
               "credentials, 4xx) until a delivery to it succeeds again.", ("receiver",)),
    MetricSpec("vigil_maintenance_active", "gauge",
               "1 while a maintenance window covers the LMS (or some of its checks), else 0; "
               "for shading Grafana panels.", ("lms",)),
)
