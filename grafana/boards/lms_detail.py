"""The LMS detail board: one LMS in depth (checks, HTTP and TLS, cron, database, system).

Declares panels with ``panels`` and frames them with ``frame``; build_dashboards.py
writes the result to grafana/dashboards/vigil-lms-detail.json.
"""

from __future__ import annotations

from grafana.boards.a11y import a11y_row
from grafana.boards.frame import VAR_INSTANCE, VAR_LMS, dashboard, var_datasource
from grafana.boards.journey import journey_row
from grafana.boards.panels import (
    NONE_STEPS,
    SEL,
    STATUS_MAPPINGS,
    STATUS_STEPS,
    UP_MAPPINGS,
    UP_STEPS,
    WARN_AT_ONE,
    bars,
    q,
    row,
    stat,
    steps,
    table,
    ts,
)

# Panels whose data cannot exist on some healthy sites say so instead of "No data".
NO_REDIS = "No Redis: this site keeps its sessions and caches elsewhere"
NO_DB_SESSIONS = "Sessions are not in the database (Redis, files or memcached)"
NO_CANVAS = "No Canvas site here (kind = \"canvas\" with canvas_health / canvas_api)"
NO_OPENEDX = "No Open edX site here (kind = \"openedx\" with openedx_heartbeat / _pages)"
NO_CANVAS_API = "No canvas_api check (it needs an access token)"
NO_CELERY = "No extended heartbeat (openedx_heartbeat extended = false)"


def lms_detail() -> dict:
    items = [
        row("Checks"),
        table("Every check", "Last status of every check (0 OK, 1 WARNING, 2 CRITICAL, "
              "3 UNKNOWN).",
              [q(f"lms_check_status{{{SEL}}}", instant=True, fmt="table")],
              mappings=STATUS_MAPPINGS, thresholds=STATUS_STEPS),
        ts("Check durations", "How long the last run of each check took.",
           [q(f"lms_check_duration_seconds{{{SEL}}}", "{{lms}} {{check}}")], unit="s",
           thresholds=steps((None, "green"), (5, "orange"))),
        ts("Consecutive failures", "Consecutive non-OK results per check.",
           [q(f"lms_check_consecutive_failures{{{SEL}}} > 0", "{{lms}} {{check}}")],
           thresholds=WARN_AT_ONE),
        row("HTTP and TLS"),
        ts("HTTP phase timings", "Duration of each phase of the last HTTP probe.",
           [q(f"lms_http_duration_seconds{{{SEL}}}", "{{lms}} {{check}} {{phase}}")],
           unit="s", thresholds=steps((None, "green"), (2, "orange"), (5, "red")),
           custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 30,
                   "showPoints": "never", "stacking": {"mode": "normal", "group": "A"},
                   "thresholdsStyle": {"mode": "off"}}),
        ts("Moodle login page", "Time to fetch Moodle's login page; warn 2 s, crit 5 s.",
           [q(f"lms_moodle_login_page_seconds{{{SEL}}}", "{{lms}}")], unit="s",
           thresholds=steps((None, "green"), (2, "orange"), (5, "red"))),
        stat("TLS certificate expires in", "Time until the server certificate expires.",
             [q(f"min by (lms) (lms_tls_cert_expiry_seconds{{{SEL}}})", "{{lms}}")],
             unit="s", w=12, no_data="No TLS: the site is served over plain http",
             thresholds=steps((None, "red"), (604800, "orange"), (1814400, "green"))),
        stat("HTTP status", "HTTP status code of the final response.",
             [q(f"lms_http_status_code{{{SEL}}}", "{{lms}} {{check}}")], unit="none", w=12,
             thresholds=steps((None, "green"), (400, "orange"), (500, "red"))),
        row("Cron and tasks"),
        ts("Cron age", "Seconds since Moodle's cron last started; warn at 2 min, crit at "
           "15 min by default.",
           [q(f"lms_moodle_cron_age_seconds{{{SEL}}}", "{{lms}}")], unit="s",
           thresholds=steps((None, "green"), (120, "orange"), (900, "red"))),
        ts("Task failures", "Scheduled and adhoc tasks failing, dead or overdue.",
           [q(f"lms_moodle_scheduled_tasks_failing{{{SEL}}}", "{{lms}} scheduled failing"),
            q(f"lms_moodle_scheduled_tasks_overdue{{{SEL}}}", "{{lms}} scheduled overdue"),
            q(f"lms_moodle_adhoc_tasks_failing{{{SEL}}}", "{{lms}} adhoc failing"),
            q(f"lms_moodle_adhoc_tasks_dead{{{SEL}}}", "{{lms}} adhoc dead")],
           thresholds=WARN_AT_ONE),
        ts("Adhoc queue", "Adhoc tasks due and waiting for cron (the backlog).",
           [q(f"lms_moodle_adhoc_tasks_due{{{SEL}}}", "{{lms}}")],
           thresholds=steps((None, "green"), (1000, "orange"))),
        ts("Oldest due adhoc task", "How long the oldest due adhoc task has been waiting.",
           [q(f"lms_moodle_adhoc_oldest_due_age_seconds{{{SEL}}}", "{{lms}}")], unit="s",
           thresholds=steps((None, "green"), (3600, "orange"))),
        row("Database and cache"),
        stat("Redis up", "1 if the Redis store answered PING.",
             [q(f"lms_moodle_redis_up{{{SEL}}}", "{{lms}} {{store}}")],
             mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_REDIS),
        ts("Redis ping", "Round trip of a PING to each Redis store.",
           [q(f"lms_moodle_redis_ping_seconds{{{SEL}}}", "{{lms}} {{store}}")], unit="s",
           w=9, thresholds=steps((None, "green"), (0.05, "orange")), no_data=NO_REDIS),
        ts("Redis memory", "Memory used by each Redis store (maxmemory 0 means no limit).",
           [q(f"lms_moodle_redis_memory_used_bytes{{{SEL}}}", "{{lms}} {{store}} used"),
            q(f"lms_moodle_redis_memory_max_bytes{{{SEL}}} > 0", "{{lms}} {{store}} max")],
           unit="bytes", w=9, no_data=NO_REDIS),
        ts("Redis evictions", "Keys evicted per second by each Redis store.",
           [q(f"rate(lms_moodle_redis_evicted_keys_total{{{SEL}}}[$__rate_interval])",
              "{{lms}} {{store}}")], unit="ops", thresholds=steps((None, "green"), (1, "orange")),
           no_data=NO_REDIS),
        ts("Sessions", "Rows and size of Moodle's sessions table (database sessions).",
           [q(f"lms_moodle_sessions{{{SEL}}}", "{{lms}} rows")],
           thresholds=NONE_STEPS, no_data=NO_DB_SESSIONS),
        ts("Sessions table size", "Size of Moodle's sessions table with its indexes.",
           [q(f"lms_moodle_sessions_table_bytes{{{SEL}}}", "{{lms}}")], unit="bytes",
           no_data=NO_DB_SESSIONS),
        row("System resources"),
        ts("CPU busy", "Share of CPU time busy since the previous run.",
           [q(f"lms_system_cpu_usage_ratio{{{SEL}}}", "{{lms}}")], unit="percentunit",
           w=8, thresholds=steps((None, "green"), (0.8, "orange"), (0.95, "red"))),
        ts("Load per CPU", "1-minute load average divided by the CPU count.",
           [q(f"lms_system_load1{{{SEL}}} / on (instance, lms, check) "
              f"lms_system_cpus{{{SEL}}}", "{{lms}}")], w=8,
           thresholds=steps((None, "green"), (1, "orange"), (2, "red"))),
        ts("Memory available", "Share of memory available without swapping.",
           [q(f"lms_system_memory_available_bytes{{{SEL}}} / on (instance, lms, check) "
              f"lms_system_memory_total_bytes{{{SEL}}}", "{{lms}}")], unit="percentunit",
           w=8, thresholds=steps((None, "red"), (0.1, "orange"), (0.2, "green"))),
        bars("Filesystem used", "Share of each filesystem in use.",
             [q(f"1 - lms_system_filesystem_avail_bytes{{{SEL}}} / "
                f"lms_system_filesystem_size_bytes{{{SEL}}}", "{{lms}} {{mountpoint}}")],
             unit="percentunit", w=12,
             thresholds=steps((None, "green"), (0.8, "orange"), (0.9, "red"))),
        ts("Disk I/O", "Bytes read and written per second per disk.",
           [q(f"rate(lms_system_disk_read_bytes_total{{{SEL}}}[$__rate_interval])",
              "{{lms}} {{device}} read"),
            q(f"rate(lms_system_disk_written_bytes_total{{{SEL}}}[$__rate_interval])",
              "{{lms}} {{device}} written")], unit="Bps"),
        *canvas_row(),
        *openedx_row(),
        *journey_row(),
        *a11y_row(),
        row("Predictions"),
        bars("Time to threshold (Vigil forecasts)", "Vigil's forecasts: how long until each "
             "forecast rule's metric crosses its threshold at the current trend (disk full, "
             "certificate expiry, backlog...). Short times alert before the problem.",
             [q(f"min by (lms, rule) (lms_prediction_seconds_to_threshold{{{SEL}}})",
                "{{lms}} {{rule}}")], unit="s", w=12,
             thresholds=steps((None, "red"), (86400, "orange"), (604800, "green"))),
        ts("Forecasts over time", "Forecast time to threshold per rule; a falling line is a "
           "trend getting worse.",
           [q(f"lms_prediction_seconds_to_threshold{{{SEL}}}", "{{lms}} {{rule}}")], unit="s",
           thresholds=steps((None, "red"), (86400, "orange"), (604800, "green"))),
        ts("Filesystem free in 24 h (linear)", "Prometheus' own linear forecast of the free "
           "space of each filesystem 24 h ahead, from the last 6 h; below 0 means full.",
           [q(f"predict_linear(lms_system_filesystem_avail_bytes{{{SEL}}}[6h], 86400)",
              "{{lms}} {{mountpoint}}")], unit="bytes",
           thresholds=steps((None, "red"), (0, "green"))),
        ts("Adhoc backlog in 1 h (linear)", "Linear forecast of the adhoc task backlog one "
           "hour ahead, from the last hour.",
           [q(f"predict_linear(lms_moodle_adhoc_tasks_due{{{SEL}}}[1h], 3600)", "{{lms}}")],
           thresholds=steps((None, "green"), (1000, "orange"))),
    ]
    return dashboard("vigil-lms-detail", "Vigil / LMS detail",
                     "One LMS in depth: every check, HTTP and TLS, cron and tasks, database "
                     "and cache, system resources, predictions.",
                     ["lms"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])



def canvas_row() -> list[dict]:
    """Canvas's own view of itself: /readiness and /deep components, endpoints, the API."""
    return [
        row("Canvas"),
        table("Canvas components", "Each component Canvas's /readiness and /deep report "
              "(readiness: its own parts; critical and secondary: its dependencies).",
              [q(f"lms_canvas_component_up{{{SEL}}}", instant=True, fmt="table")], w=8,
              mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_CANVAS),
        ts("Canvas component check time", "How long Canvas took to check each component "
           "(its own limit is 5 s).",
           [q(f"lms_canvas_component_response_seconds{{{SEL}}}",
              "{{lms}} {{group}} {{component}}")], unit="s", w=8,
           thresholds=steps((None, "green"), (5, "orange")), no_data=NO_CANVAS),
        ts("Canvas endpoints", "Time to the full answer of /health_check, /readiness, /deep "
           "and the REST API.",
           [q(f"lms_canvas_endpoint_duration_seconds{{{SEL}}}", "{{lms}} {{endpoint}}")],
           unit="s", w=5, thresholds=steps((None, "green"), (5, "orange")),
           no_data=NO_CANVAS),
        stat("Canvas API", "1 if the REST API accepted the token and answered.",
             [q(f"lms_canvas_api_up{{{SEL}}}", "{{lms}}")], w=3, h=8,
             mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_CANVAS_API),
    ]


def openedx_row() -> list[dict]:
    """Open edX's heartbeats (LMS and Studio, service by service) and its public pages."""
    return [
        row("Open edX"),
        table("Open edX services", "Each service the LMS and Studio heartbeats report "
              "(sql, modulestore, celery with ?extended).",
              [q(f"lms_openedx_service_up{{{SEL}}}", instant=True, fmt="table")], w=8,
              mappings=UP_MAPPINGS, thresholds=UP_STEPS, no_data=NO_OPENEDX),
        ts("Open edX endpoints", "Time to the full answer of the heartbeats, login pages and "
           "the public course list.",
           [q(f"lms_openedx_http_duration_seconds{{{SEL}}}", "{{lms}} {{app}} {{endpoint}}")],
           unit="s", w=8, thresholds=steps((None, "green"), (2, "orange"), (5, "red")),
           no_data=NO_OPENEDX),
        ts("Celery round trip", "The extended heartbeat's sample Celery task, queued to "
           "done (it gives up at 5 s).",
           [q(f"lms_openedx_celery_roundtrip_seconds{{{SEL}}}", "{{lms}} {{app}}")],
           unit="s", w=5, thresholds=steps((None, "green"), (2, "orange")),
           no_data=NO_CELERY),
        stat("Courses visible", "Courses the public course list shows an anonymous visitor.",
             [q(f"lms_openedx_courses_visible{{{SEL}}}", "{{lms}}")], w=3, h=8,
             thresholds=NONE_STEPS, no_data=NO_OPENEDX),
    ]
