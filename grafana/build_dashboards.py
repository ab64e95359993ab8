"""Generate Vigil's Grafana dashboards (grafana/dashboards/*.json).

Panels are declared as data below; ids and gridPos are computed here so that every
board is consistent: one datasource variable (``${datasource}``, no hard-coded
UIDs), units, thresholds and descriptions on every panel, an annotation for alert
transitions. Run ``python grafana/build_dashboards.py`` after editing and commit the
output; tests/grafana checks the committed JSON equals what this script generates.
Only metric names from monitor/app/catalogue.py (plus Prometheus' up and scrape_*) may be
used in queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

# Selectors reused by every query.
SEL = 'instance=~"$instance", lms=~"$lms"'
ISEL = 'instance=~"$instance"'

STATUS_MAPPINGS = [{
    "type": "value",
    "options": {
        "0": {"text": "OK", "color": "green", "index": 0},
        "1": {"text": "WARNING", "color": "yellow", "index": 1},
        "2": {"text": "CRITICAL", "color": "red", "index": 2},
        "3": {"text": "UNKNOWN", "color": "purple", "index": 3},
    },
}]
UP_MAPPINGS = [{
    "type": "value",
    "options": {"0": {"text": "DOWN", "color": "red", "index": 0},
                "1": {"text": "UP", "color": "green", "index": 1}},
}]


def steps(*pairs: tuple[float | None, str]) -> dict:
    """Absolute thresholds: steps((None, "green"), (1, "red"))."""
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in pairs]}


OK_AT_ZERO = steps((None, "green"), (1, "red"))
WARN_AT_ONE = steps((None, "green"), (1, "orange"))
STATUS_STEPS = steps((None, "green"), (1, "yellow"), (2, "red"), (3, "purple"))
UP_STEPS = steps((None, "red"), (1, "green"))
NONE_STEPS = steps((None, "green"))


def q(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> dict:
    target = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto",
              "range": not instant, "instant": instant, "format": fmt}
    return target


def panel(kind: str, title: str, description: str, targets: list[dict], *, unit: str = "short",
          thresholds: dict = NONE_STEPS, w: int = 8, h: int = 8, mappings: list | None = None,
          options: dict | None = None, custom: dict | None = None,
          decimals: int | None = None, **extra) -> dict:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds,
                                "mappings": mappings or [], "custom": custom or {}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "targets": targets, "w": w, "h": h,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {}, **extra,
    }


def stat(title, description, targets, **kw):
    kw.setdefault("w", 6)
    kw.setdefault("h", 4)
    kw.setdefault("options", {"colorMode": "background", "graphMode": "none",
                              "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                "values": False}})
    return panel("stat", title, description, targets, **kw)


def ts(title, description, targets, **kw):
    kw.setdefault("w", 12)
    kw.setdefault("custom", {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                             "showPoints": "never", "thresholdsStyle": {"mode": "off"}})
    kw.setdefault("options", {"legend": {"displayMode": "list", "placement": "bottom",
                                         "showLegend": True},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
    return panel("timeseries", title, description, targets, **kw)


def table(title, description, targets, **kw):
    kw.setdefault("w", 24)
    kw.setdefault("h", 9)
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    kw.setdefault("custom", {"align": "auto", "cellOptions": {"type": "color-background"}})
    kw.setdefault("transformations", [
        {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True,
                                                         "job": True}}}])
    return panel("table", title, description, targets, **kw)


def bars(title, description, targets, **kw):
    kw.setdefault("options", {"displayMode": "gradient", "orientation": "horizontal",
                              "showUnfilled": True,
                              "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                "values": False}})
    return panel("bargauge", title, description, targets, **kw)


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "w": GRID_WIDTH,
            "h": 1}


def layout(items: list[dict]) -> list[dict]:
    """Give panels ids and gridPos: left to right, wrapping at the grid width."""
    panels, x, y, line_h, next_id = [], 0, 0, 0, 1
    for item in items:
        item = dict(item)
        w, h = item.pop("w"), item.pop("h")
        if item["type"] == "row" or x + w > GRID_WIDTH:
            y, x, line_h = y + line_h, 0, 0
        item["id"] = next_id
        next_id += 1
        item["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        line_h = max(line_h, h)
        if item["type"] == "row":
            y, x, line_h = y + h, 0, 0
        panels.append(item)
    return panels


def var_datasource() -> dict:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
            "includeAll": False, "multi": False, "options": [], "skipUrlSync": False}


def var_query(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-query"},
            "refresh": 2, "regex": "", "sort": 1, "includeAll": True, "multi": True,
            "allValue": ".+", "current": {}, "hide": 0, "options": [], "skipUrlSync": False}


VAR_INSTANCE = var_query("instance", "Vigil instance", "label_values(vigil_build_info, instance)")
VAR_LMS = var_query("lms", "LMS", 'label_values(lms_check_status{instance=~"$instance"}, lms)')

ANNOTATIONS = [
    {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
     "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
     "type": "dashboard"},
    # Grafana turns consecutive samples of a Prometheus annotation query into one region,
    # so a window shades every time series panel from its start to its end.
    {"name": "Maintenance windows", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "rgba(128, 128, 128, 0.6)", "step": "60s",
     "expr": f"vigil_maintenance_active{{{SEL}}} == 1",
     "titleFormat": "Vigil maintenance window", "textFormat": "{{lms}}",
     "tagKeys": "lms", "useValueForTime": False},
    {"name": "Alert transitions", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "red", "step": "60s",
     "expr": f"changes(lms_alert_firing{{{SEL}}}[2m]) > 0",
     "titleFormat": "Vigil alert changed", "textFormat": "{{lms}} / {{check}}",
     "tagKeys": "lms,check", "useValueForTime": False},
    {"name": "Check status changes", "datasource": DS, "enable": False, "hide": False,
     "iconColor": "orange", "step": "60s",
     "expr": f"changes(lms_check_status{{{SEL}}}[2m]) > 0",
     "titleFormat": "Check status changed", "textFormat": "{{lms}} / {{check}}",
     "tagKeys": "lms,check", "useValueForTime": False},
    {"name": "Moodle maintenance mode", "datasource": DS, "enable": True, "hide": False,
     "iconColor": "blue", "step": "60s",
     "expr": f"lms_moodle_maintenance_enabled{{{SEL}}} == 1",
     "titleFormat": "Moodle maintenance mode on", "textFormat": "{{lms}} ({{mode}})",
     "tagKeys": "lms,mode", "useValueForTime": False},
]


def dashboard(uid: str, title: str, description: str, tags: list[str], items: list[dict],
              variables: list[dict]) -> dict:
    panels = layout(items)
    for p in panels:
        for i, target in enumerate(p.get("targets", [])):
            target["refId"] = chr(ord("A") + i)
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil", *tags],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "graphTooltip": 1, "timezone": "browser", "refresh": "1m", "liveNow": False,
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
        "fiscalYearStartMonth": 0, "weekStart": "",
        "annotations": {"list": ANNOTATIONS},
        "templating": {"list": variables},
        "links": [{"title": "Vigil", "type": "dashboards", "tags": ["vigil"],
                   "asDropdown": True, "includeVars": True, "keepTime": True}],
        "panels": panels,
    }


def sev(status: int) -> str:
    """Firing alerts whose check is at this status (Vigil's severity: 1 warning, 2 critical)."""
    return (f"sum by (lms) ((lms_alert_firing{{{SEL}}} == 1) "
            f"and on (instance, lms, check) (lms_check_status{{{SEL}}} == {status}))")


def fleet() -> dict:
    items = [
        row("Availability"),
        stat("Vigil scraped", "Prometheus' up for each Vigil instance: 0 means Prometheus "
             "cannot scrape Vigil and every other panel is stale.",
             [q(f"up{{{ISEL}}}", "{{instance}}")], mappings=UP_MAPPINGS, thresholds=UP_STEPS),
        stat("Checks OK", "Share of checks whose last result was OK, over the selected LMSs.",
             [q(f"avg(lms_check_success{{{SEL}}})", "ok")], unit="percentunit",
             thresholds=steps((None, "red"), (0.9, "orange"), (1, "green"))),
        stat("Alerts firing (Vigil)", "Alerts Vigil has firing now, per instance.",
             [q(f"sum(vigil_alerts_firing{{{ISEL}}})", "firing")], thresholds=OK_AT_ZERO),
        stat("Worst status", "Worst check status over the selected LMSs.",
             [q(f"max(lms_check_status{{{SEL}}})", "status")], mappings=STATUS_MAPPINGS,
             thresholds=STATUS_STEPS),
        bars("Checks by status per LMS", "Number of checks in each status per LMS "
             "(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).",
             [q(f"count by (lms) (lms_check_status{{{SEL}}} == {n})", f"{{{{lms}}}} {name}")
              for n, name in ((0, "OK"), (1, "WARNING"), (2, "CRITICAL"), (3, "UNKNOWN"))],
             w=12, h=8, thresholds=NONE_STEPS),
        bars("Firing alerts by severity", "Vigil's firing alerts per LMS, split by the "
             "status of the check (WARNING or CRITICAL).",
             [q(sev(1), "{{lms}} warning"), q(sev(2), "{{lms}} critical")],
             w=12, h=8, thresholds=OK_AT_ZERO),
        ts("Failing checks over time", "Checks not OK per LMS.",
           [q(f"count by (lms) (lms_check_success{{{SEL}}} == 0)", "{{lms}}")],
           w=24, thresholds=OK_AT_ZERO),
        row("SLO and error budget"),
        bars("Availability by window", "Share of the availability check's probes that were "
             "OK, per LMS, over each burn-rate window and the whole SLO period (minutes in "
             "a maintenance window excluded).",
             [q(f"lms_slo_availability_ratio{{{SEL}}}", "{{lms}} {{window}}")],
             unit="percentunit", w=12, decimals=3,
             thresholds=steps((None, "red"), (0.99, "orange"), (0.999, "green"))),
        stat("Error budget remaining", "Share of the SLO period's error budget left; below "
             "0 the SLO is missed.",
             [q(f"min by (lms) (lms_slo_error_budget_remaining_ratio{{{SEL}}})", "{{lms}}")],
             unit="percentunit", w=6, h=8,
             thresholds=steps((None, "red"), (0, "orange"), (0.25, "green"))),
        stat("Fastest burn rate", "Highest error budget burn rate over the windows: 1 spends "
             "the budget exactly in the SLO period, 14.4 spends 2 % of a 30-day budget in "
             "an hour (page).",
             [q(f"max by (lms) (lms_slo_burn_rate{{{SEL}}})", "{{lms}}")], unit="none", w=6,
             h=8, thresholds=steps((None, "green"), (1, "orange"), (14.4, "red"))),
        ts("Burn rate by window", "Error budget burn rate per LMS and window (multi-window, "
           "multi-burn-rate alerting: short and long windows both high means page).",
           [q(f"lms_slo_burn_rate{{{SEL}}}", "{{lms}} {{window}}")], unit="none",
           thresholds=steps((None, "green"), (1, "orange"), (14.4, "red"))),
        ts("Error budget remaining over time", "How the error budget was spent; shaded "
           "regions are maintenance windows.",
           [q(f"lms_slo_error_budget_remaining_ratio{{{SEL}}}", "{{lms}}")],
           unit="percentunit", thresholds=steps((None, "red"), (0, "orange"), (0.25, "green"))),
        panel("state-timeline", "Maintenance windows", "When a Vigil maintenance window "
              "covered each LMS (alerts quiet, SLO paused) and when Moodle's own maintenance "
              "mode was on.",
              [q(f"max by (lms) (vigil_maintenance_active{{{SEL}}})", "{{lms}} Vigil window"),
               q(f"max by (lms) (lms_moodle_maintenance_enabled{{{SEL}}})",
                 "{{lms}} Moodle maintenance mode")],
              w=24, h=6, thresholds=steps((None, "green"), (1, "blue")),
              mappings=[{"type": "value", "options": {
                  "0": {"text": "-", "color": "transparent", "index": 0},
                  "1": {"text": "MAINTENANCE", "color": "blue", "index": 1}}}],
              custom={"fillOpacity": 70, "lineWidth": 0},
              options={"mergeValues": True, "showValue": "never", "alignValue": "left",
                       "rowHeight": 0.8,
                       "legend": {"displayMode": "list", "placement": "bottom",
                                  "showLegend": False}}),
        row("Patch status"),
        stat("Core releases behind", "Point releases between the installed Moodle and the "
             "newest of its branch (max over the LMSs).",
             [q(f"max by (lms) (lms_moodle_update_releases_behind{{{SEL}}})", "{{lms}}")],
             thresholds=steps((None, "green"), (1, "orange"), (3, "red"))),
        stat("Moodle security updates", "Pending Moodle core and plugin updates counted as "
             "security updates.",
             [q(f"max by (lms) (lms_moodle_update_security_pending{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("OS security updates", "OS packages with a pending security update.",
             [q(f'max by (lms) (lms_os_updates_pending{{{SEL}, kind="security"}})', "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Reboot required", "1 if the host asks for a reboot to finish applying updates.",
             [q(f"max by (lms) (lms_os_reboot_required{{{SEL}}})", "{{lms}}")],
             thresholds=WARN_AT_ONE),
        table("Pending updates", "Pending Moodle (core, plugin) and OS (all, security) "
              "updates per LMS.",
              [q(f"lms_moodle_update_available{{{SEL}}}", instant=True, fmt="table"),
               q(f"lms_os_updates_pending{{{SEL}}}", instant=True, fmt="table")],
              h=7, thresholds=WARN_AT_ONE),
        ts("Oldest pending security update", "How long the oldest pending OS security update "
           "has been waiting; Vigil goes CRITICAL after 7 days.",
           [q(f"lms_os_security_update_oldest_seconds{{{SEL}}}", "{{lms}}")], unit="s",
           thresholds=steps((None, "green"), (86400, "orange"), (604800, "red"))),
        ts("Oldest pending Moodle update", "Age of the oldest pending Moodle update by kind.",
           [q(f"lms_moodle_update_age_seconds{{{SEL}}}", "{{lms}} {{kind}}")], unit="s",
           thresholds=steps((None, "green"), (604800, "orange"))),
        row("Integrity"),
        stat("Changed files", "Files changed in the code tree since the accepted baseline.",
             [q(f"sum by (lms) (lms_integrity_changed_files{{{SEL}}})", "{{lms}}")],
             thresholds=WARN_AT_ONE),
        stat("New scripts", "Executable scripts added to the code tree (CRITICAL).",
             [q(f"sum by (lms) (lms_integrity_new_scripts{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Scripts in data directory", "PHP scripts found in the data directory.",
             [q(f"sum by (lms) (lms_integrity_data_scripts{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Release mismatches", "Files differing from the release manifest.",
             [q(f"sum by (lms) (lms_integrity_release_mismatch_files{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Missing file blobs", "Contents the files table needs that are missing from "
             "the file pool (lost uploads).",
             [q(f"sum by (lms) (lms_moodle_filestore_missing_blobs{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Corrupt file blobs", "Blobs whose content hash differs from their name.",
             [q(f"sum by (lms) (lms_moodle_filestore_corrupt_blobs{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Orphan blob bytes", "Bytes of file pool blobs no files row references.",
             [q(f"sum by (lms) (lms_moodle_filestore_orphan_bytes{{{SEL}}})", "{{lms}}")],
             unit="bytes", thresholds=NONE_STEPS),
        stat("Silent changes", "Files whose content changed with unchanged size and times.",
             [q(f"sum by (lms) (lms_integrity_silent_changes{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO),
    ]
    return dashboard("vigil-fleet", "Vigil / Fleet overview",
                     "Every LMS Vigil watches: checks, alerts, patches and integrity.",
                     ["fleet"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])


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
             unit="s", w=12,
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
             mappings=UP_MAPPINGS, thresholds=UP_STEPS),
        ts("Redis ping", "Round trip of a PING to each Redis store.",
           [q(f"lms_moodle_redis_ping_seconds{{{SEL}}}", "{{lms}} {{store}}")], unit="s",
           w=9, thresholds=steps((None, "green"), (0.05, "orange"))),
        ts("Redis memory", "Memory used by each Redis store (maxmemory 0 means no limit).",
           [q(f"lms_moodle_redis_memory_used_bytes{{{SEL}}}", "{{lms}} {{store}} used"),
            q(f"lms_moodle_redis_memory_max_bytes{{{SEL}}} > 0", "{{lms}} {{store}} max")],
           unit="bytes", w=9),
        ts("Redis evictions", "Keys evicted per second by each Redis store.",
           [q(f"rate(lms_moodle_redis_evicted_keys_total{{{SEL}}}[$__rate_interval])",
              "{{lms}} {{store}}")], unit="ops", thresholds=steps((None, "green"), (1, "orange"))),
        ts("Sessions", "Rows and size of Moodle's sessions table (database sessions).",
           [q(f"lms_moodle_sessions{{{SEL}}}", "{{lms}} rows")],
           thresholds=NONE_STEPS),
        ts("Sessions table size", "Size of Moodle's sessions table with its indexes.",
           [q(f"lms_moodle_sessions_table_bytes{{{SEL}}}", "{{lms}}")], unit="bytes"),
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


def days_left(metric: str) -> str:
    return f"min by (lms) ({metric}{{{SEL}}} - time()) / 86400"


def patch_integrity() -> dict:
    support = steps((None, "red"), (30, "orange"), (90, "green"))
    items = [
        row("Updates"),
        stat("Core update available", "1 if a newer release of the site's Moodle branch is "
             "offered by the update feed.",
             [q(f'max by (lms) (lms_moodle_update_available{{{SEL}, kind="core"}})', "{{lms}}")],
             w=4, thresholds=WARN_AT_ONE),
        stat("Releases behind", "Point releases between the installed core and the newest "
             "of its branch.",
             [q(f"max by (lms) (lms_moodle_update_releases_behind{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=steps((None, "green"), (1, "orange"), (3, "red"))),
        stat("Plugin updates", "Additional plugins with a newer version offered.",
             [q(f'max by (lms) (lms_moodle_update_available{{{SEL}, kind="plugin"}})',
                "{{lms}}")], w=4, thresholds=WARN_AT_ONE),
        stat("Moodle security updates", "Pending core and plugin updates the check's rules "
             "count as security updates.",
             [q(f"max by (lms) (lms_moodle_update_security_pending{{{SEL}}})", "{{lms}}")],
             w=4, thresholds=OK_AT_ZERO),
        stat("OS security updates", "OS packages with a pending security update.",
             [q(f'max by (lms) (lms_os_updates_pending{{{SEL}, kind="security"}})', "{{lms}}")],
             w=4, thresholds=OK_AT_ZERO),
        stat("OS updates", "OS packages an upgrade would update now (all origins).",
             [q(f'max by (lms) (lms_os_updates_pending{{{SEL}, kind="all"}})', "{{lms}}")],
             w=4, thresholds=steps((None, "green"), (1, "orange"), (50, "red"))),
        stat("Upgrade pending", "1 if the code on disk is newer than the database: Moodle "
             "waits for admin/cli/upgrade.php.",
             [q(f"max by (lms) (lms_moodle_upgrade_pending{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=OK_AT_ZERO),
        stat("Reboot required", "1 if the host asks for a reboot to finish applying updates.",
             [q(f"max by (lms) (lms_os_reboot_required{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=WARN_AT_ONE),
        stat("OS packages held", "Packages held back from upgrades (apt-mark hold).",
             [q(f"max by (lms) (lms_os_updates_held{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=WARN_AT_ONE),
        stat("Update data age", "Age of the update data the Moodle check judged (Vigil's "
             "feed fetch or Moodle's own cron).",
             [q(f"time() - max by (lms) (lms_moodle_update_feed_last_success_timestamp_seconds"
                f"{{{SEL}}})", "{{lms}}")], unit="s", w=4,
             thresholds=steps((None, "green"), (2 * 86400, "orange"), (7 * 86400, "red"))),
        stat("Package lists age", "Age of the host's package lists (apt update / dnf "
             "makecache); old lists hide new security updates.",
             [q(f"max by (lms) (lms_os_package_lists_age_seconds{{{SEL}}})", "{{lms}}")],
             unit="s", w=4,
             thresholds=steps((None, "green"), (86400, "orange"), (7 * 86400, "red"))),
        stat("Site administrators", "Accounts listed in config siteadmins.",
             [q(f"max by (lms) (lms_moodle_site_admins{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=steps((None, "green"), (4, "orange"))),
        ts("Pending update age", "How long the oldest pending Moodle update (core, plugin) "
           "and OS security update have been waiting.",
           [q(f"lms_moodle_update_age_seconds{{{SEL}}}", "{{lms}} moodle {{kind}}"),
            q(f"lms_os_security_update_oldest_seconds{{{SEL}}}", "{{lms}} OS security")],
           unit="s", thresholds=steps((None, "green"), (86400, "orange"), (604800, "red"))),
        bars("Plugins by state", "Plugins on disk against the database: upgrade, new, "
             "downgrade, missing or delete need an admin.",
             [q(f"sum by (lms, state) (lms_moodle_plugins{{{SEL}}})", "{{lms}} {{state}}")],
             thresholds=NONE_STEPS),
        row("Support"),
        bars("Moodle security support left", "Days until security support of the site's "
             "Moodle branch ends (no more security fixes after it).",
             [q(days_left("lms_moodle_branch_security_support_end_timestamp_seconds"),
                "{{lms}}")], unit="d", w=8, thresholds=support),
        bars("Moodle general support left", "Days until general (bug fix) support of the "
             "site's Moodle branch ends.",
             [q(days_left("lms_moodle_branch_general_support_end_timestamp_seconds"),
                "{{lms}}")], unit="d", w=8, thresholds=support),
        bars("PHP security support left", "Days until security support of the site's PHP "
             "version ends.",
             [q(days_left("lms_moodle_php_security_support_end_timestamp_seconds"),
                "{{lms}}")], unit="d", w=8, thresholds=support),
        stat("PHP supported by Moodle", "1 if the site's Moodle branch supports its PHP "
             "version.",
             [q(f"min by (lms) (lms_moodle_php_supported{{{SEL}}})", "{{lms}}")], w=8,
             mappings=[{"type": "value", "options": {
                 "0": {"text": "NO", "color": "red", "index": 0},
                 "1": {"text": "yes", "color": "green", "index": 1}}}], thresholds=UP_STEPS),
        stat("Moodle version", "Moodle version number on disk (version.php) and in the "
             "database.",
             [q(f"max by (lms, source) (lms_moodle_core_version{{{SEL}}})",
                "{{lms}} {{source}}")], unit="none", w=8, decimals=2),
        stat("New security check problems", "Moodle security checks (Check API) that turned "
             "from OK to not OK since Vigil's baseline.",
             [q(f"max by (lms) (lms_moodle_check_api_new_security_problems{{{SEL}}})",
                "{{lms}}")], w=8, thresholds=OK_AT_ZERO),
        row("Code integrity"),
        bars("Code changes since baseline", "Files added, removed and modified in the code "
             "tree since the accepted baseline.",
             [q(f"sum by (lms, change) (lms_integrity_changed_files{{{SEL}}})",
                "{{lms}} {{change}}")], w=8, thresholds=WARN_AT_ONE),
        stat("New scripts", "Executable scripts added to the code tree since the baseline.",
             [q(f"sum by (lms) (lms_integrity_new_scripts{{{SEL}}})", "{{lms}}")], w=4,
             h=8, thresholds=OK_AT_ZERO),
        stat("Silent changes", "Files whose content changed with unchanged size and times.",
             [q(f"sum by (lms) (lms_integrity_silent_changes{{{SEL}}})", "{{lms}}")], w=4,
             h=8, thresholds=OK_AT_ZERO),
        stat("Release mismatches", "Files that differ from the release manifest and were "
             "not accepted.",
             [q(f"sum by (lms) (lms_integrity_release_mismatch_files{{{SEL}}})", "{{lms}}")],
             w=4, h=8, thresholds=OK_AT_ZERO),
        stat("Release files missing", "Files of the release manifest missing from the code "
             "tree.",
             [q(f"sum by (lms) (lms_integrity_release_missing_files{{{SEL}}})", "{{lms}}")],
             w=4, h=8, thresholds=WARN_AT_ONE),
        ts("Code tree files", "Files watched in the code tree.",
           [q(f"lms_integrity_files{{{SEL}}}", "{{lms}} {{check}}")], w=8),
        ts("Files not verified", "Files the last run skipped, by reason (deferred to a later "
           "run, too large, unreadable...).",
           [q(f"sum by (lms, reason) (lms_integrity_skipped_files{{{SEL}}})",
              "{{lms}} {{reason}}")], w=8, thresholds=steps((None, "green"), (1, "orange"))),
        stat("Since last full re-hash", "Time since the rolling re-hash last covered the "
             "whole code tree (silent changes are found within one period).",
             [q(f"time() - max by (lms) (lms_integrity_last_full_rehash_timestamp_seconds"
                f"{{{SEL}}})", "{{lms}}")], unit="s", w=4, h=8,
             thresholds=steps((None, "green"), (7 * 86400, "orange"))),
        stat("Baseline age", "Time since the code tree's baseline was accepted.",
             [q(f"time() - max by (lms) (lms_integrity_baseline_timestamp_seconds{{{SEL}}})",
                "{{lms}}")], unit="s", w=4, h=8),
        row("Data directory and file pool"),
        stat("Scripts in data directory", "Executable scripts found in the data directory "
             "(Moodle's own PHP files excepted): a web shell sign.",
             [q(f"sum by (lms) (lms_integrity_data_scripts{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=OK_AT_ZERO),
        stat("Missing blobs", "Contents the files table needs that are missing from the file "
             "pool: lost uploads.",
             [q(f"sum by (lms) (lms_moodle_filestore_missing_blobs{{{SEL}}})", "{{lms}}")],
             w=4, thresholds=OK_AT_ZERO),
        stat("Missing bytes", "Bytes of the contents missing from the file pool.",
             [q(f"sum by (lms) (lms_moodle_filestore_missing_bytes{{{SEL}}})", "{{lms}}")],
             unit="bytes", w=4, thresholds=OK_AT_ZERO),
        stat("Orphan blobs", "Blobs in the file pool that no files row references.",
             [q(f"sum by (lms) (lms_moodle_filestore_orphan_blobs{{{SEL}}})", "{{lms}}")],
             w=4, thresholds=steps((None, "green"), (1000, "orange"))),
        stat("Orphan bytes", "Bytes of the orphan blobs (space a cleanup would free).",
             [q(f"sum by (lms) (lms_moodle_filestore_orphan_bytes{{{SEL}}})", "{{lms}}")],
             unit="bytes", w=4, thresholds=NONE_STEPS),
        stat("Corrupt or mismatched blobs", "Blobs whose content hash differs from their "
             "name, or whose size differs from the files table.",
             [q(f"sum by (lms) (lms_moodle_filestore_corrupt_blobs{{{SEL}}})", "{{lms}} corrupt"),
              q(f"sum by (lms) (lms_moodle_filestore_size_mismatches{{{SEL}}})",
                "{{lms}} size")], w=4, thresholds=OK_AT_ZERO),
        ts("File pool", "Blobs in the file pool, and blobs the last verification slice "
           "could not read.",
           [q(f"lms_moodle_filestore_blobs{{{SEL}}}", "{{lms}} blobs"),
            q(f"lms_moodle_filestore_unreadable_blobs{{{SEL}}}", "{{lms}} unreadable")],
           w=8),
        ts("Verification rate", "Blobs whose content was re-hashed per second.",
           [q(f"rate(lms_moodle_filestore_blobs_verified_total{{{SEL}}}[$__rate_interval])",
              "{{lms}}")], unit="ops", w=8),
        stat("Since full verification", "Time since the verification last completed a pass "
             "over the whole file pool.",
             [q(f"time() - max by (lms) (lms_moodle_filestore_verify_pass_timestamp_seconds"
                f"{{{SEL}}})", "{{lms}}")], unit="s", w=8, h=8,
             thresholds=steps((None, "green"), (30 * 86400, "orange"))),
        row("Configuration and privileged accounts"),
        stat("Settings drifted", "Settings (config.php and watched database settings) that "
             "differ from the accepted baseline.",
             [q(f"max by (lms) (lms_moodle_config_settings_changed{{{SEL}}})", "{{lms}}")],
             w=6, thresholds=WARN_AT_ONE),
        stat("Privileged account changes", "Site administrators and watched system roles "
             "added or removed since the accepted baseline.",
             [q(f"max by (lms) (lms_moodle_privileged_account_changes{{{SEL}}})", "{{lms}}")],
             w=6, thresholds=OK_AT_ZERO),
        bars("Privileged accounts by role", "Accounts holding site administration or a "
             "watched system role (manager...).",
             [q(f"max by (lms, role) (lms_moodle_privileged_accounts{{{SEL}}})",
                "{{lms}} {{role}}")], w=6, h=4, thresholds=NONE_STEPS),
        bars("Settings watched", "Settings fingerprinted by source.",
             [q(f"max by (lms, source) (lms_moodle_config_settings_watched{{{SEL}}})",
                "{{lms}} {{source}}")], w=6, h=4, thresholds=NONE_STEPS),
        ts("Drift and account changes over time", "When configuration drift and privileged "
           "account changes appeared and were accepted.",
           [q(f"lms_moodle_config_settings_changed{{{SEL}}}", "{{lms}} settings"),
            q(f"lms_moodle_privileged_account_changes{{{SEL}}}", "{{lms}} accounts")],
           w=24, thresholds=WARN_AT_ONE),
    ]
    return dashboard("vigil-patch-integrity", "Vigil / Patch and integrity",
                     "Patch level and integrity of every LMS: Moodle core, plugin and OS "
                     "updates, support dates, code tree changes, data directory scripts, file "
                     "pool, configuration drift and privileged accounts.",
                     ["patch", "integrity"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])


def learning() -> dict:
    items = [
        row("Now"),
        stat("Online now", "Users active in the last 5 minutes.",
             [q(f'sum(lms_moodle_active_users{{{SEL}, window="5m"}})', "online")]),
        stat("Quiz attempts in progress", "Quiz attempts in progress (previews excluded).",
             [q(f"sum(lms_moodle_quiz_attempts_in_progress{{{SEL}}})", "attempts")]),
        stat("Exam in progress", "1 when an open quiz has enough active attempts to be "
             "treated as an exam (change freezes, careful maintenance).",
             [q(f"max(lms_moodle_exam_in_progress{{{SEL}}})", "exam")],
             thresholds=WARN_AT_ONE,
             mappings=[{"type": "value", "options": {
                 "0": {"text": "no", "color": "green", "index": 0},
                 "1": {"text": "EXAM", "color": "orange", "index": 1}}}]),
        stat("Quizzes closing soon", "Quizzes whose close time is within the horizon.",
             [q(f"sum(lms_moodle_quizzes_closing_soon{{{SEL}}})", "closing")]),
        row("Activity"),
        ts("Active users", "Users whose last access is within each window.",
           [q(f"lms_moodle_active_users{{{SEL}}}", "{{lms}} {{window}}")]),
        ts("Logins and failed logins", "Logins and failed logins in each check's window.",
           [q(f"lms_moodle_logins{{{SEL}}}", "{{lms}} logins"),
            q(f"lms_moodle_failed_logins{{{SEL}}}", "{{lms}} failed")]),
        ts("Completions and enrolments", "Course completions and new enrolments in the "
           "count window.",
           [q(f"lms_moodle_course_completions{{{SEL}}}", "{{lms}} completions"),
            q(f"lms_moodle_enrolments_created{{{SEL}}}", "{{lms}} enrolments")]),
        ts("Exam signal", "Active attempts on open quizzes and the quizzes they are on.",
           [q(f"lms_moodle_exam_attempts_in_progress{{{SEL}}}", "{{lms}} attempts"),
            q(f"lms_moodle_exam_quizzes_in_progress{{{SEL}}}", "{{lms}} quizzes")]),
        bars("Users by state", "User accounts by state (guest excluded).",
             [q(f"sum by (lms, state) (lms_moodle_users{{{SEL}}})", "{{lms}} {{state}}")],
             w=12),
        bars("Courses by state", "Courses by visibility (front page excluded).",
             [q(f"sum by (lms, state) (lms_moodle_courses{{{SEL}}})", "{{lms}} {{state}}")],
             w=12),
    ]
    return dashboard("vigil-learning", "Vigil / Learning analytics",
                     "For stakeholders: who is online, logins, completions, enrolments and "
                     "exams.", ["learning"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])


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


BOARDS = {"vigil-fleet.json": fleet, "vigil-lms-detail.json": lms_detail,
          "vigil-patch-integrity.json": patch_integrity,
          "vigil-learning.json": learning, "vigil-self.json": vigil_self}


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=False) + "\n"


def generate() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(build()) for name, build in BOARDS.items()}


def main(argv: list[str]) -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
