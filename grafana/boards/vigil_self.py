"""The self board: Vigil's own health (check durations, scheduler lag, outbox, scrapes).

Declares panels with ``panels`` and frames them with ``frame``; build_dashboards.py
writes the result to grafana/dashboards/vigil-self.json.
"""

from __future__ import annotations

from grafana.boards.frame import VAR_INSTANCE, VAR_LMS, dashboard, var_datasource
from grafana.boards.panels import (
    ISEL,
    UP_MAPPINGS,
    UP_STEPS,
    q,
    row,
    stat,
    steps,
    ts,
)


def vigil_self() -> dict:
    def quantile(metric: str, qtl: float, by: str) -> str:
        return (f"histogram_quantile({qtl}, sum by ({by}) "
                f"(rate({metric}_bucket{{{ISEL}}}[$__rate_interval])))")

    items = [
        row("Checks"),
        ts("Check run duration p50 / p99", "Wall time of check runs by check type.",
           [q(quantile("vigil_check_run_duration_seconds", 0.5, "le, type"), "p50 {{type}}"),
            q(quantile("vigil_check_run_duration_seconds", 0.99, "le, type"),
              "p99 {{type}}")], unit="s", thresholds=steps((None, "green"), (10, "orange"))),
        ts("Scheduler lag p99", "Delay between when a run was due and when it started.",
           [q(quantile("vigil_scheduler_lag_seconds", 0.99, "le, instance"), "{{instance}}"),
            q(f"sum by (instance) (rate(vigil_scheduler_lag_seconds_sum{{{ISEL}}}"
              f"[$__rate_interval])) / sum by (instance) (rate(vigil_scheduler_lag_seconds_count"
              f"{{{ISEL}}}[$__rate_interval]))", "mean {{instance}}")],
           unit="s", thresholds=steps((None, "green"), (1, "orange"), (5, "red"))),
        ts("Check runs by status", "Check runs finished per second, by resulting status.",
           [q(f"sum by (status) (rate(vigil_check_runs_total{{{ISEL}}}[$__rate_interval]))",
              "{{status}}")], unit="ops"),
        ts("Check errors and skips", "Runs that raised or timed out, and runs skipped because "
           "the previous run was still in flight.",
           [q(f"sum by (reason) (rate(vigil_check_errors_total{{{ISEL}}}[$__rate_interval]))",
              "error {{reason}}"),
            q(f"sum by (type) (rate(vigil_check_skipped_total{{{ISEL}}}[$__rate_interval]))",
              "skipped {{type}}")], unit="ops", thresholds=steps((None, "green"), (0.01, "red"))),
        row("Notifications"),
        ts("Outbox", "Notifications in the durable outbox by state; pending should drain.",
           [q(f"sum by (state) (vigil_outbox_notifications{{{ISEL}}})", "{{state}}")],
           thresholds=steps((None, "green"), (10, "orange"))),
        ts("Deliveries by outcome", "Notification delivery attempts per second by outcome.",
           [q(f"sum by (outcome) (rate(vigil_notifications_total{{{ISEL}}}"
              f"[$__rate_interval]))", "{{outcome}}")], unit="ops"),
        stat("Receivers up", "1 while Vigil can deliver to the receiver (its last delivery "
             "did not fail, or it answered a probe); 0 while notifications to it queue.",
             [q(f"vigil_receiver_up{{{ISEL}}}", "{{receiver}}")], w=24,
             mappings=UP_MAPPINGS, thresholds=UP_STEPS),
        row("Scrape cost"),
        stat("Scraped", "Prometheus' up for each Vigil instance.",
             [q(f"up{{{ISEL}}}", "{{instance}}")], mappings=UP_MAPPINGS, thresholds=UP_STEPS),
        stat("Checks scheduled", "Check jobs currently scheduled.",
             [q(f"sum(vigil_scheduler_jobs{{{ISEL}}})", "jobs")]),
        stat("Checks in flight", "Check runs executing right now.",
             [q(f"sum(vigil_checks_in_flight{{{ISEL}}})", "in flight")]),
        stat("Blocking workers hung", "Blocking calls (file system, database, CLI) still "
             "running after their check timed out, by family; /readyz fails once a family's "
             "whole pool hangs (a dead NFS mount, a FIFO where a file should be).",
             [q(f"sum by (family) (vigil_blocking_workers_hung{{{ISEL}}})", "{{family}}")],
             thresholds=steps((None, "green"), (1, "orange"), (4, "red"))),
        stat("Last config reload", "Time since the configuration was last loaded.",
             [q(f"time() - max(vigil_config_last_reload_success_timestamp_seconds"
                f"{{{ISEL}}})", "age")], unit="s"),
        ts("Scrape duration", "How long Prometheus takes to scrape each Vigil instance.",
           [q(f"scrape_duration_seconds{{{ISEL}}}", "{{job}} {{instance}}")], unit="s",
           thresholds=steps((None, "green"), (1, "orange"), (5, "red"))),
        ts("Samples per scrape", "Samples each scrape returns (the cost of Vigil's /metrics).",
           [q(f"scrape_samples_scraped{{{ISEL}}}", "{{job}} {{instance}}")],
           thresholds=steps((None, "green"), (10000, "orange"))),
    ]
    return dashboard("vigil-self", "Vigil / Self",
                     "Vigil's own health: check durations, scheduler lag, outbox and "
                     "deliveries, scrape cost.", ["self"], items,
                     [var_datasource(), VAR_INSTANCE, VAR_LMS])

