"""The patch and integrity board: updates, support dates, code tree, file pool, drift.

Declares panels with ``panels`` and frames them with ``frame``; build_dashboards.py
writes the result to grafana/dashboards/vigil-patch-integrity.json.
"""

from __future__ import annotations

from grafana.boards.frame import VAR_INSTANCE, VAR_LMS, dashboard, var_datasource
from grafana.boards.panels import (
    NO_UPDATE_DATA,
    NONE_STEPS,
    OK_AT_ZERO,
    SEL,
    UP_STEPS,
    WARN_AT_ONE,
    bars,
    q,
    row,
    stat,
    steps,
    ts,
)


def days_left(metric: str) -> str:
    return f"min by (lms) ({metric}{{{SEL}}} - time()) / 86400"


def patch_integrity() -> dict:
    support = steps((None, "red"), (30, "orange"), (90, "green"))
    items = [
        row("Updates"),
        stat("Core update available", "1 if a newer release of the site's Moodle branch is "
             "offered by the update feed.",
             [q(f'max by (lms) (lms_moodle_update_available{{{SEL}, kind="core"}})', "{{lms}}")],
             w=4, thresholds=WARN_AT_ONE, no_data=NO_UPDATE_DATA),
        stat("Releases behind", "Point releases between the installed core and the newest "
             "of its branch.",
             [q(f"max by (lms) (lms_moodle_update_releases_behind{{{SEL}}})", "{{lms}}")], w=4,
             thresholds=steps((None, "green"), (1, "orange"), (3, "red")), no_data=NO_UPDATE_DATA),
        stat("Plugin updates", "Additional plugins with a newer version offered.",
             [q(f'max by (lms) (lms_moodle_update_available{{{SEL}, kind="plugin"}})',
                "{{lms}}")], w=4, thresholds=WARN_AT_ONE, no_data=NO_UPDATE_DATA),
        stat("Moodle security updates", "Pending core and plugin updates the check's rules "
             "count as security updates.",
             [q(f"max by (lms) (lms_moodle_update_security_pending{{{SEL}}})", "{{lms}}")],
             w=4, thresholds=OK_AT_ZERO, no_data=NO_UPDATE_DATA),
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
             thresholds=steps((None, "green"), (2 * 86400, "orange"), (7 * 86400, "red")),
             no_data=NO_UPDATE_DATA),
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

