"""The fleet overview board: every LMS at a glance (checks, alerts, SLO, patches, integrity).

Declares panels with ``panels`` and frames them with ``frame``; build_dashboards.py
writes the result to grafana/dashboards/vigil-fleet.json.
"""

from __future__ import annotations

from grafana.boards.frame import VAR_INSTANCE, VAR_LMS, dashboard, var_datasource
from grafana.boards.panels import (
    ISEL,
    NO_UPDATE_DATA,
    NONE_STEPS,
    OK_AT_ZERO,
    SEL,
    STATUS_MAPPINGS,
    STATUS_STEPS,
    UP_MAPPINGS,
    UP_STEPS,
    WARN_AT_ONE,
    bars,
    panel,
    q,
    row,
    stat,
    steps,
    table,
    ts,
)

# Both members of an HA pair watch the same sites (docs/scale.md): every per-site query
# drops the labels that tell instances apart, so a site is one series, not one per
# instance; the worse copy wins (max of statuses and counts, min of ratios).
INSTANCE_LABELS = "instance, ha_member"


def site(expr: str, agg: str = "max") -> str:
    return f"{agg} without ({INSTANCE_LABELS}) ({expr})"


def total(metric: str) -> str:
    """Per LMS, the sum over its checks (e.g. files changed in every tree)."""
    return f"sum by (lms) ({site(f'{metric}{{{SEL}}}')})"


def sev(status: int) -> str:
    """Firing alerts whose check is at this status (Vigil's severity: 1 warning, 2 critical)."""
    return (f"count by (lms) (({site(f'lms_alert_firing{{{SEL}}}')} == 1) "
            f"and on (lms, check) ({site(f'lms_check_status{{{SEL}}}')} == {status}))")


def fleet() -> dict:
    items = [
        row("Availability"),
        stat("Vigil scraped", "Prometheus' up for each Vigil instance: 0 means Prometheus "
             "cannot scrape Vigil and every other panel is stale.",
             [q(f"up{{{ISEL}}}", "{{instance}}")], mappings=UP_MAPPINGS, thresholds=UP_STEPS),
        stat("Checks OK", "Share of checks whose last result was OK, over the selected LMSs.",
             [q(f"avg({site(f'lms_check_success{{{SEL}}}', 'min')})", "ok")], unit="percentunit",
             thresholds=steps((None, "red"), (0.9, "orange"), (1, "green"))),
        stat("Alerts firing (Vigil)", "Alerts Vigil has firing now over the selected LMSs "
             "(the two members of an HA pair count once).",
             [q(f"sum({site(f'lms_alert_firing{{{SEL}}}')})", "firing")],
             thresholds=OK_AT_ZERO),
        stat("Worst status", "Worst check status over the selected LMSs.",
             [q(f"max(lms_check_status{{{SEL}}})", "status")], mappings=STATUS_MAPPINGS,
             thresholds=STATUS_STEPS),
        bars("Checks by status per LMS", "Number of checks in each status per LMS "
             "(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).",
             [q(f"count by (lms) ({site(f'lms_check_status{{{SEL}}}')} == {n})",
                f"{{{{lms}}}} {name}")
              for n, name in ((0, "OK"), (1, "WARNING"), (2, "CRITICAL"), (3, "UNKNOWN"))],
             w=12, h=8, thresholds=NONE_STEPS),
        bars("Firing alerts by severity", "Vigil's firing alerts per LMS, split by the "
             "status of the check (WARNING or CRITICAL).",
             [q(sev(1), "{{lms}} warning"), q(sev(2), "{{lms}} critical")],
             w=12, h=8, thresholds=OK_AT_ZERO),
        ts("Failing checks over time", "Checks not OK per LMS.",
           [q(f"count by (lms) ({site(f'lms_check_success{{{SEL}}}', 'min')} == 0)", "{{lms}}")],
           w=24, thresholds=OK_AT_ZERO),
        row("SLO and error budget"),
        bars("Availability by window", "Share of the availability check's probes that were "
             "OK, per LMS, over each burn-rate window and the whole SLO period (minutes in "
             "a maintenance window excluded).",
             [q(site(f"lms_slo_availability_ratio{{{SEL}}}", "min"), "{{lms}} {{window}}")],
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
           [q(site(f"lms_slo_burn_rate{{{SEL}}}"), "{{lms}} {{window}}")], unit="none",
           thresholds=steps((None, "green"), (1, "orange"), (14.4, "red"))),
        ts("Error budget remaining over time", "How the error budget was spent; shaded "
           "regions are maintenance windows.",
           [q(site(f"lms_slo_error_budget_remaining_ratio{{{SEL}}}", "min"), "{{lms}}")],
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
             thresholds=steps((None, "green"), (1, "orange"), (3, "red")), no_data=NO_UPDATE_DATA),
        stat("Moodle security updates", "Pending Moodle core and plugin updates counted as "
             "security updates.",
             [q(f"max by (lms) (lms_moodle_update_security_pending{{{SEL}}})", "{{lms}}")],
             thresholds=OK_AT_ZERO, no_data=NO_UPDATE_DATA),
        stat("OS security updates", "OS packages with a pending security update.",
             [q(f'max by (lms) (lms_os_updates_pending{{{SEL}, kind="security"}})', "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Reboot required", "1 if the host asks for a reboot to finish applying updates.",
             [q(f"max by (lms) (lms_os_reboot_required{{{SEL}}})", "{{lms}}")],
             thresholds=WARN_AT_ONE),
        table("Pending updates", "Pending Moodle (core, plugin) and OS (all, security) "
              "updates per LMS.",
              [q(site(f"lms_moodle_update_available{{{SEL}}}"), instant=True, fmt="table"),
               q(site(f"lms_os_updates_pending{{{SEL}}}"), instant=True, fmt="table")],
              h=7, thresholds=WARN_AT_ONE),
        ts("Oldest pending security update", "How long the oldest pending OS security update "
           "has been waiting; Vigil goes CRITICAL after 7 days.",
           [q(site(f"lms_os_security_update_oldest_seconds{{{SEL}}}"), "{{lms}}")], unit="s",
           thresholds=steps((None, "green"), (86400, "orange"), (604800, "red"))),
        ts("Oldest pending Moodle update", "Age of the oldest pending Moodle update by kind.",
           [q(site(f"lms_moodle_update_age_seconds{{{SEL}}}"), "{{lms}} {{kind}}")], unit="s",
           thresholds=steps((None, "green"), (604800, "orange")), no_data=NO_UPDATE_DATA),
        row("Integrity"),
        stat("Changed files", "Files changed in the code tree since the accepted baseline.",
             [q(total("lms_integrity_changed_files"), "{{lms}}")],
             thresholds=WARN_AT_ONE),
        stat("New scripts", "Executable scripts added to the code tree (CRITICAL).",
             [q(total("lms_integrity_new_scripts"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Scripts in data directory", "PHP scripts found in the data directory.",
             [q(total("lms_integrity_data_scripts"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Release mismatches", "Files differing from the release manifest.",
             [q(total("lms_integrity_release_mismatch_files"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Missing file blobs", "Contents the files table needs that are missing from "
             "the file pool (lost uploads).",
             [q(total("lms_moodle_filestore_missing_blobs"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Corrupt file blobs", "Blobs whose content hash differs from their name.",
             [q(total("lms_moodle_filestore_corrupt_blobs"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
        stat("Orphan blob bytes", "Bytes of file pool blobs no files row references.",
             [q(total("lms_moodle_filestore_orphan_bytes"), "{{lms}}")],
             unit="bytes", thresholds=NONE_STEPS),
        stat("Silent changes", "Files whose content changed with unchanged size and times.",
             [q(total("lms_integrity_silent_changes"), "{{lms}}")],
             thresholds=OK_AT_ZERO),
    ]
    return dashboard("vigil-fleet", "Vigil / Fleet overview",
                     "Every LMS Vigil watches: checks, alerts, patches and integrity.",
                     ["fleet"], items, [var_datasource(), VAR_INSTANCE, VAR_LMS])

