"""The metric catalogue: every metric Vigil exports, declared once.

The collector (monitor/app/metrics.py) refuses samples whose name is not here, and a
test checks that dashboards and rules use only these names. ``lms_*`` metrics are
facts about a watched LMS and always carry ``lms`` and ``check`` labels (added by the
collector); the ``labels`` listed here are the extra ones a check adds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    type: str  # "gauge" | "counter" | "histogram" | "info"
    help: str
    labels: tuple[str, ...] = ()


def _catalogue(*specs: MetricSpec) -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in specs}


# Metrics the collector derives from every check's stored state.
STATE_METRICS = _catalogue(
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

# Samples returned by checks (Result.samples). Check modules add theirs here.
CHECK_METRICS = _catalogue(
    # checks/http.py (names and semantics after blackbox_exporter's probe_http_*)
    MetricSpec("lms_http_duration_seconds", "gauge",
               "Duration of each phase of the last HTTP probe (resolve, connect, tls, "
               "processing, transfer), summed over redirects.", ("phase",)),
    MetricSpec("lms_http_response_time_seconds", "gauge",
               "Total time of the last HTTP probe, from lookup to the end of the body."),
    MetricSpec("lms_http_status_code", "gauge", "HTTP status code of the final response."),
    MetricSpec("lms_http_content_length_bytes", "gauge",
               "Content-Length announced by the final response, when it had one."),
    MetricSpec("lms_http_uncompressed_body_bytes", "gauge",
               "Body bytes read after decompression (stops past the body size limit)."),
    MetricSpec("lms_http_redirects", "gauge", "Redirects followed by the last HTTP probe."),
    MetricSpec("lms_http_ssl", "gauge", "1 if the final response came over TLS, else 0."),
    MetricSpec("lms_http_tls_cert_expiry_timestamp_seconds", "gauge",
               "Expiry of the certificate the HTTPS server presented, as a Unix time."),
    # checks/tls.py
    MetricSpec("lms_tls_handshake_seconds", "gauge", "Duration of the last TLS handshake."),
    MetricSpec("lms_tls_cert_verified", "gauge",
               "1 if the certificate chain and host name verified, else 0."),
    MetricSpec("lms_tls_cert_expiry_timestamp_seconds", "gauge",
               "Expiry (notAfter) of the server's certificate, as a Unix time."),
    MetricSpec("lms_tls_cert_expiry_seconds", "gauge",
               "Seconds until the server's certificate expires (negative once expired)."),
    # checks/tcp.py
    MetricSpec("lms_tcp_connect_seconds", "gauge", "Duration of the last TCP connect."),
    # checks/dns.py
    MetricSpec("lms_dns_lookup_seconds", "gauge",
               "Duration of the last DNS lookup, retries included."),
    MetricSpec("lms_dns_answers", "gauge", "Records in the answer of the last DNS lookup."),
    # checks/system.py (mountpoint and device labels are bounded by the host's own
    # configured or physical mounts, disks and interfaces)
    MetricSpec("lms_system_cpu_usage_ratio", "gauge",
               "Share of CPU time busy (not idle or iowait) since the previous run, 0..1."),
    MetricSpec("lms_system_cpus", "gauge", "Logical CPUs of the host."),
    MetricSpec("lms_system_load1", "gauge", "1-minute load average."),
    MetricSpec("lms_system_load5", "gauge", "5-minute load average."),
    MetricSpec("lms_system_load15", "gauge", "15-minute load average."),
    MetricSpec("lms_system_memory_available_bytes", "gauge",
               "Memory available for new work without swapping."),
    MetricSpec("lms_system_memory_total_bytes", "gauge", "Total physical memory."),
    MetricSpec("lms_system_swap_used_ratio", "gauge", "Share of swap in use, 0..1."),
    MetricSpec("lms_system_swap_total_bytes", "gauge", "Total swap space."),
    MetricSpec("lms_system_filesystem_avail_bytes", "gauge",
               "Filesystem space available to unprivileged users.", ("mountpoint",)),
    MetricSpec("lms_system_filesystem_size_bytes", "gauge", "Filesystem size.",
               ("mountpoint",)),
    MetricSpec("lms_system_filesystem_files_free", "gauge", "Free inodes of the filesystem.",
               ("mountpoint",)),
    MetricSpec("lms_system_filesystem_files", "gauge", "Total inodes of the filesystem.",
               ("mountpoint",)),
    MetricSpec("lms_system_disk_read_bytes_total", "counter", "Bytes read from the disk.",
               ("device",)),
    MetricSpec("lms_system_disk_written_bytes_total", "counter", "Bytes written to the disk.",
               ("device",)),
    MetricSpec("lms_system_disk_io_time_seconds_total", "counter",
               "Time the disk spent doing I/O (Linux and FreeBSD).", ("device",)),
    MetricSpec("lms_system_network_receive_errors_total", "counter",
               "Receive errors on the network interface.", ("device",)),
    MetricSpec("lms_system_network_transmit_errors_total", "counter",
               "Transmit errors on the network interface.", ("device",)),
    MetricSpec("lms_system_network_receive_drop_total", "counter",
               "Received packets dropped on the network interface.", ("device",)),
    MetricSpec("lms_system_network_transmit_drop_total", "counter",
               "Outgoing packets dropped on the network interface.", ("device",)),
    # checks/process.py (the process label is the configured name, bounded by the config)
    MetricSpec("lms_process_count", "gauge", "Running processes matching the expected process.",
               ("process",)),
    MetricSpec("lms_process_start_time_seconds", "gauge",
               "Start time of the oldest matching process, as a Unix time.", ("process",)),
    MetricSpec("lms_process_resident_memory_bytes", "gauge",
               "Resident memory of all matching processes.", ("process",)),
    MetricSpec("lms_process_cpu_seconds_total", "counter",
               "CPU time (user + system) of the matching processes now running.",
               ("process",)),
    # checks/os_updates.py (kind is "all" or "security"; counts as node_exporter's apt_info)
    MetricSpec("lms_os_updates_pending", "gauge",
               "OS packages an upgrade would update now; kind security counts those from "
               "a security origin (apt -security suites, dnf security advisories).", ("kind",)),
    MetricSpec("lms_os_updates_held", "gauge", "OS packages held back from upgrades (apt-mark)."),
    MetricSpec("lms_os_reboot_required", "gauge",
               "1 if the host asks for a reboot to finish applying updates, else 0."),
    MetricSpec("lms_os_package_lists_age_seconds", "gauge",
               "Age of the newest package lists (apt Release files, dnf repomd.xml)."),
    MetricSpec("lms_os_last_package_change_timestamp_seconds", "gauge",
               "When a package was last installed, upgraded or removed, as a Unix time."),
    MetricSpec("lms_os_security_update_oldest_seconds", "gauge",
               "Time since the oldest pending security update was first seen (0 when none)."),
    # checks/integrity/ (change, reason: the fixed words listed in the help)
    MetricSpec("lms_integrity_files", "gauge",
               "Regular files and symlinks in the watched code tree (ignored paths excluded)."),
    MetricSpec("lms_integrity_bytes", "gauge", "Bytes of the regular files in the code tree."),
    MetricSpec("lms_integrity_changed_files", "gauge",
               "Files changed since the accepted baseline, by change: added, removed, "
               "modified (content, type, mode or owner).", ("change",)),
    MetricSpec("lms_integrity_new_scripts", "gauge",
               "Executable scripts (*.php, *.phtml, *.phar... or a PHP open tag) added to "
               "the code tree since the baseline."),
    MetricSpec("lms_integrity_silent_changes", "gauge",
               "Files whose content changed while their size, mtime and ctime did not "
               "(found by the rolling re-hash)."),
    MetricSpec("lms_integrity_release_mismatch_files", "gauge",
               "Files whose content differs from the release manifest and that were not "
               "accepted (local hacks, injected code)."),
    MetricSpec("lms_integrity_release_missing_files", "gauge",
               "Files of the release manifest missing from the code tree."),
    MetricSpec("lms_integrity_skipped_files", "gauge",
               "Files not verified or not sniffed in the last run, by reason: unreadable, "
               "special (FIFO, socket, device), vanished, too_large (over one run's I/O "
               "budget), deferred (left for a later run).", ("reason",)),
    MetricSpec("lms_integrity_read_bytes", "gauge",
               "Bytes the last run read to hash or sniff files."),
    MetricSpec("lms_integrity_rehash_period_seconds", "gauge",
               "Time a full re-hash of the code tree takes at the configured I/O budget."),
    MetricSpec("lms_integrity_last_full_rehash_timestamp_seconds", "gauge",
               "When the rolling re-hash last covered the whole code tree, as a Unix time."),
    MetricSpec("lms_integrity_baseline_timestamp_seconds", "gauge",
               "When the code tree's baseline was created, as a Unix time."),
    MetricSpec("lms_integrity_data_scripts", "gauge",
               "Executable scripts (by name or PHP open tag) in the data directory, "
               "Moodle's own PHP files there excepted."),
    MetricSpec("lms_integrity_data_files", "gauge",
               "Files looked at in the data directory (blob stores by name only)."),
)

# Samples returned by the Moodle probes (checks/moodle/). Probe modules add theirs here.
MOODLE_METRICS = _catalogue(
    # checks/moodle/cron.py
    MetricSpec("lms_moodle_cron_last_start_timestamp_seconds", "gauge",
               "When Moodle's cron last started (tool_task lastcronstart), as a Unix time."),
    MetricSpec("lms_moodle_cron_age_seconds", "gauge",
               "Seconds since Moodle's cron last started."),
    MetricSpec("lms_moodle_cron_interval_seconds", "gauge",
               "Seconds between the last two cron starts (tool_task lastcroninterval)."),
    MetricSpec("lms_moodle_cron_enabled", "gauge",
               "1 if cron is enabled (config cron_enabled), 0 if an admin disabled it."),
    # checks/moodle/tasks.py
    MetricSpec("lms_moodle_scheduled_tasks_failing", "gauge",
               "Enabled scheduled tasks whose last run failed (faildelay > 0)."),
    MetricSpec("lms_moodle_scheduled_tasks_overdue", "gauge",
               "Enabled scheduled tasks due longer ago than the grace and not running."),
    MetricSpec("lms_moodle_scheduled_tasks_running", "gauge",
               "Scheduled tasks marked running (timestarted set)."),
    MetricSpec("lms_moodle_scheduled_tasks_stale", "gauge",
               "Scheduled tasks marked running by a process that no longer exists here."),
    MetricSpec("lms_moodle_scheduled_max_fail_delay_seconds", "gauge",
               "Largest fail delay among enabled scheduled tasks."),
    MetricSpec("lms_moodle_scheduled_longest_runtime_seconds", "gauge",
               "Runtime of the longest-running scheduled task, 0 if none runs."),
    # checks/moodle/adhoc.py
    MetricSpec("lms_moodle_adhoc_tasks_due", "gauge",
               "Adhoc tasks due and waiting for cron to pick them (the backlog), counted "
               "up to the check's backlog_count_limit."),
    MetricSpec("lms_moodle_adhoc_oldest_due_age_seconds", "gauge",
               "How long the oldest due adhoc task has been waiting, 0 if none."),
    MetricSpec("lms_moodle_adhoc_tasks_failing", "gauge",
               "Adhoc tasks that failed and will be retried (faildelay > 0, attempts left)."),
    MetricSpec("lms_moodle_adhoc_tasks_dead", "gauge",
               "Adhoc tasks with no attempts left, never retried (attemptsavailable = 0)."),
    MetricSpec("lms_moodle_adhoc_tasks_running", "gauge",
               "Adhoc tasks marked running (timestarted set)."),
    MetricSpec("lms_moodle_adhoc_tasks_stale", "gauge",
               "Adhoc tasks marked running by a process that no longer exists here."),
    MetricSpec("lms_moodle_adhoc_max_fail_delay_seconds", "gauge",
               "Largest fail delay among adhoc tasks that will be retried."),
    MetricSpec("lms_moodle_adhoc_longest_runtime_seconds", "gauge",
               "Runtime of the longest-running adhoc task, 0 if none runs."),
    # checks/moodle/availability.py
    MetricSpec("lms_moodle_login_page_seconds", "gauge",
               "Time to fetch Moodle's login page (login/index.php), redirects included."),
    MetricSpec("lms_moodle_http_status_code", "gauge",
               "HTTP status of the last answer of a Moodle endpoint (login, appsitecheck, "
               "public_config, site_info).", ("endpoint",)),
    MetricSpec("lms_moodle_http_duration_seconds", "gauge",
               "Time to the full answer of a Moodle endpoint.", ("endpoint",)),
    MetricSpec("lms_moodle_endpoint_ok", "gauge",
               "1 if the Moodle endpoint gave a healthy answer, else 0.", ("endpoint",)),
    MetricSpec("lms_moodle_developer_debug", "gauge",
               "1 if the login page's M.cfg shows developer debugging on, else 0."),
    MetricSpec("lms_moodle_site_version", "gauge",
               "Moodle version number from core_webservice_get_site_info (e.g. 2024100702)."),
    # checks/moodle/mail.py
    MetricSpec("lms_moodle_smtp_up", "gauge",
               "1 if the SMTP host from Moodle's smtphosts answered EHLO (and STARTTLS where "
               "Moodle would use it), else 0.", ("host",)),
    MetricSpec("lms_moodle_smtp_response_seconds", "gauge",
               "Time to connect, read the greeting and EHLO (plus STARTTLS) on an SMTP host.",
               ("host",)),
    MetricSpec("lms_moodle_smtp_starttls", "gauge",
               "1 if the SMTP host offers STARTTLS in its EHLO answer, else 0.", ("host",)),
    MetricSpec("lms_moodle_noemailever", "gauge",
               "1 if $CFG->noemailever is on (Moodle sends no e-mail at all), else 0."),
    MetricSpec("lms_moodle_email_failed_events", "gauge",
               "\\core\\event\\email_failed events in the check's window (standard log)."),
    # checks/moodle/caches.py
    MetricSpec("lms_moodle_session_handler", "gauge",
               "1 for the session handler Moodle uses (redis, database, file, memcached, "
               "other).", ("handler",)),
    MetricSpec("lms_moodle_redis_up", "gauge",
               "1 if the Redis server (the session store or a cache store) answered PING, "
               "else 0.", ("store",)),
    MetricSpec("lms_moodle_redis_ping_seconds", "gauge",
               "Round trip of a PING on an open connection to the Redis server.", ("store",)),
    MetricSpec("lms_moodle_redis_memory_used_bytes", "gauge",
               "Memory the Redis server uses (INFO memory used_memory).", ("store",)),
    MetricSpec("lms_moodle_redis_memory_max_bytes", "gauge",
               "The Redis server's maxmemory limit; 0 means no limit.", ("store",)),
    MetricSpec("lms_moodle_redis_evicted_keys_total", "counter",
               "Keys the Redis server evicted since it started (INFO stats evicted_keys).",
               ("store",)),
    MetricSpec("lms_moodle_redis_keys", "gauge",
               "Keys in the Redis database Moodle uses.", ("store",)),
    MetricSpec("lms_moodle_sessions", "gauge",
               "Rows in Moodle's sessions table (when sessions live in the database)."),
    MetricSpec("lms_moodle_sessions_table_bytes", "gauge",
               "Size of Moodle's sessions table with its indexes."),
    # checks/moodle/security.py
    MetricSpec("lms_moodle_failed_logins", "gauge",
               "Failed logins (\\core\\event\\user_login_failed) in the check's window "
               "(default the last 5 min)."),
    MetricSpec("lms_moodle_failed_logins_by_reason", "gauge",
               "Failed logins in the window by reason: the AUTH_LOGIN_* names of "
               "lib/authlib.php (nouser, suspended, failed, lockout, unauthorised, "
               "failed_recaptcha) or other.", ("reason",)),
    MetricSpec("lms_moodle_failed_logins_baseline", "gauge",
               "Median failed logins per window over the baseline span (default 24 h)."),
    MetricSpec("lms_moodle_site_admins", "gauge",
               "Site administrators (config siteadmins)."),
    MetricSpec("lms_moodle_locked_accounts", "gauge",
               "Accounts locked out now (user preference login_lockout within "
               "lockoutduration); absent when lockout is disabled."),
    # checks/moodle/usage.py
    MetricSpec("lms_moodle_active_users", "gauge",
               "Users (not deleted, not guest) whose lastaccess is within the window "
               "(5m, 1h, 24h).", ("window",)),
    MetricSpec("lms_moodle_logins", "gauge",
               "Logins (\\core\\event\\user_loggedin) in the check's count window "
               "(default the last hour)."),
    MetricSpec("lms_moodle_enrolments_created", "gauge",
               "New enrolments (\\core\\event\\user_enrolment_created) in the count window."),
    MetricSpec("lms_moodle_course_completions", "gauge",
               "Course completions (course_completions.timecompleted) in the count window."),
    MetricSpec("lms_moodle_quiz_attempts_in_progress", "gauge",
               "Quiz attempts in progress (state inprogress, previews excluded)."),
    MetricSpec("lms_moodle_quizzes_closing_soon", "gauge",
               "Quizzes whose close time falls within the check's horizon (default 24 h)."),
    MetricSpec("lms_moodle_users", "gauge",
               "User accounts by state: active, suspended, deleted (guest excluded).",
               ("state",)),
    MetricSpec("lms_moodle_users_by_auth", "gauge",
               "User accounts not deleted, by authentication method (the most used ones; "
               "the rest as other).", ("auth",)),
    MetricSpec("lms_moodle_courses", "gauge",
               "Courses by state: visible, hidden (front page excluded).", ("state",)),
    # checks/moodle/exams.py
    MetricSpec("lms_moodle_exam_in_progress", "gauge",
               "1 when an open quiz has at least min_attempts active attempts in progress."),
    MetricSpec("lms_moodle_exam_quizzes_in_progress", "gauge",
               "Open quizzes with at least min_attempts active attempts in progress."),
    MetricSpec("lms_moodle_exam_attempts_in_progress", "gauge",
               "Active attempts in progress (saved within active_within) on open quizzes."),
    MetricSpec("lms_moodle_exam_quizzes_closing", "gauge",
               "Quizzes closing within the check's horizon (default 6 h)."),
    # checks/moodle/backups.py
    MetricSpec("lms_moodle_backup_courses", "gauge",
               "Courses by the status of their last automated backup (backup_courses."
               "laststatus: error, ok, unfinished, skipped, warning, notyetrun, queued, "
               "unknown).", ("status",)),
    MetricSpec("lms_moodle_backup_last_success_timestamp_seconds", "gauge",
               "End of the newest automated course backup that produced a file (ok or "
               "warning), as a Unix time."),
    MetricSpec("lms_moodle_backup_auto_active", "gauge",
               "config backup | backup_auto_active: 0 disabled, 1 enabled, 2 manual."),
    MetricSpec("lms_moodle_backup_stuck", "gauge",
               "Course backups left unfinished for longer than unfinished_after."),
    # checks/moodle/checkapi.py
    MetricSpec("lms_moodle_check_api_status", "gauge",
               "Result of one Moodle Check API check (admin/cli/checks.php) as its NRPE code: "
               "0 ok/info/na, 1 warning, 2 error/critical, 3 unknown.", ("check_id", "type")),
    MetricSpec("lms_moodle_check_api_new_security_problems", "gauge",
               "Security checks that turned from OK to not OK since Vigil's baseline and "
               "are still not OK."),
    MetricSpec("lms_moodle_check_api_type_up", "gauge",
               "1 if admin/cli/checks.php --type=<type> ran and printed its results, 0 if "
               "it threw, died or printed something else (its checks then have no "
               "lms_moodle_check_api_status).", ("type",)),
    # checks/moodle/upgrade.py
    MetricSpec("lms_moodle_upgrade_pending", "gauge",
               "1 if code on disk is newer than the database (an upgrade is pending), else 0."),
    MetricSpec("lms_moodle_upgrade_running", "gauge",
               "1 while config upgraderunning is set (an upgrade runs or died), else 0."),
    MetricSpec("lms_moodle_core_version", "gauge",
               "Moodle core version number (YYYYMMDDRR.XX) on disk (version.php) and in the "
               "database (config version).", ("source",)),
    MetricSpec("lms_moodle_plugins", "gauge",
               "Plugins by status, disk vs database: uptodate, upgrade, new, downgrade, "
               "missing, delete.", ("state",)),
    # checks/moodle/maintenance.py
    MetricSpec("lms_moodle_maintenance_enabled", "gauge",
               "1 while Moodle's maintenance mode is on: cli (climaintenance.html) or web "
               "(config maintenance_enabled).", ("mode",)),
    MetricSpec("lms_moodle_maintenance_scheduled_timestamp_seconds", "gauge",
               "When scheduled CLI maintenance starts (config maintenance_later), as a "
               "Unix time."),
    MetricSpec("lms_moodle_maintenance_covered", "gauge",
               "1 if the current maintenance is inside a Vigil maintenance window, else 0."),
    # checks/moodle/dataroot.py
    MetricSpec("lms_moodle_dataroot_writable", "gauge",
               "1 if the web user may write the dataroot (judged from its mode bits), else 0."),
    MetricSpec("lms_moodle_dataroot_filesystem_avail_bytes", "gauge",
               "Bytes available to unprivileged users on the filesystem holding the "
               "directory (dataroot, temp, backuptemp).", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_size_bytes", "gauge",
               "Size of the filesystem holding the directory.", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_files", "gauge",
               "Inodes of the filesystem holding the directory.", ("directory",)),
    MetricSpec("lms_moodle_dataroot_filesystem_files_free", "gauge",
               "Free inodes of the filesystem holding the directory.", ("directory",)),
    # checks/moodle/updates.py (update_report.py)
    MetricSpec("lms_moodle_update_releases_behind", "gauge",
               "Point releases (x.y.z) between the installed core and the newest release of "
               "its branch in the update feed's answer."),
    MetricSpec("lms_moodle_update_available", "gauge",
               "Pending updates by kind: core (1 if a newer release of the site's branch is "
               "offered, else 0), plugin (additional plugins with a newer version offered).",
               ("kind",)),
    MetricSpec("lms_moodle_update_security_pending", "gauge",
               "Pending updates (core and plugins) counted as security updates by the check's "
               "security rules (the feed itself has no security flag)."),
    MetricSpec("lms_moodle_update_age_seconds", "gauge",
               "How long the oldest pending update of this kind (core, plugin) has been "
               "available: since its build date, else since Vigil first saw it; 0 if none.",
               ("kind",)),
    MetricSpec("lms_moodle_update_feed_last_success_timestamp_seconds", "gauge",
               "When the update data in use was fetched (by Vigil from the feed, or by "
               "Moodle's own cron), as a Unix time."),
    # checks/moodle/branches.py
    MetricSpec("lms_moodle_branch_security_support_end_timestamp_seconds", "gauge",
               "When security support of the site's Moodle branch ends (Vigil's bundled "
               "table), as a Unix time."),
    MetricSpec("lms_moodle_branch_general_support_end_timestamp_seconds", "gauge",
               "When general (bug fix) support of the site's Moodle branch ends, as a Unix "
               "time."),
    MetricSpec("lms_moodle_php_security_support_end_timestamp_seconds", "gauge",
               "When security support of the site's PHP version ends (php.net, or the "
               "check's php_security_end), as a Unix time."),
    MetricSpec("lms_moodle_php_supported", "gauge",
               "1 if the site's Moodle branch supports its PHP version, else 0."),
    # checks/moodle/filestore.py
    MetricSpec("lms_moodle_filestore_missing_blobs", "gauge",
               "Contents the files table needs that are missing from the file pool (filedir): "
               "lost uploads."),
    MetricSpec("lms_moodle_filestore_missing_bytes", "gauge",
               "Bytes of the contents missing from the file pool (files.filesize)."),
    MetricSpec("lms_moodle_filestore_orphan_blobs", "gauge",
               "Blobs in the file pool that no files row references, older than the "
               "check's orphan_min_age."),
    MetricSpec("lms_moodle_filestore_orphan_bytes", "gauge", "Bytes of the orphan blobs."),
    MetricSpec("lms_moodle_filestore_size_mismatches", "gauge",
               "Blobs whose size differs from files.filesize."),
    MetricSpec("lms_moodle_filestore_corrupt_blobs", "gauge",
               "Blobs whose content SHA-1 differs from their name, as found by the "
               "verification slices and not fixed since."),
    MetricSpec("lms_moodle_filestore_blobs_verified_total", "counter",
               "Blobs whose content the verification has hashed, across runs."),
    MetricSpec("lms_moodle_filestore_reconcile_seconds", "gauge",
               "Duration of the last reconcile pass (files table against the file pool)."),
    MetricSpec("lms_moodle_filestore_blobs", "gauge", "Blobs in the file pool."),
    MetricSpec("lms_moodle_filestore_unreadable_blobs", "gauge",
               "Blobs the last verification slice could not read (permissions)."),
    MetricSpec("lms_moodle_filestore_verify_pass_timestamp_seconds", "gauge",
               "When the verification last completed a pass over the whole pool, as a "
               "Unix time."),
    # checks/moodle/config_drift.py
    MetricSpec("lms_moodle_config_settings_watched", "gauge",
               "Settings fingerprinted, by source: config_php ($CFG in config.php) or "
               "database (config and config_plugins values on the check's list).",
               ("source",)),
    MetricSpec("lms_moodle_config_settings_changed", "gauge",
               "Settings that differ from the accepted baseline (added, removed or changed), "
               "during the check's hold."),
    # checks/moodle/privileged.py
    MetricSpec("lms_moodle_privileged_accounts", "gauge",
               "Privileged accounts by kind: siteadmin (config siteadmins) or the shortname "
               "of a watched role assigned at the system context (default manager).",
               ("role",)),
    MetricSpec("lms_moodle_privileged_account_changes", "gauge",
               "Privileged accounts added or removed since the accepted baseline, during "
               "the check's hold."),
)

# Samples of the synthetic checks that judge history (alerts/evaluator.py): predictive
# rules (check predict_<rule>; series names the watched sample, e.g.
# system{mountpoint=/var}) and the availability SLO (check slo_availability; window is
# one of 5m 30m 1h 2h 6h 1d 3d and the SLO period, e.g. 30d).
POLICY_METRICS = _catalogue(
    MetricSpec("lms_prediction_seconds_to_threshold", "gauge",
               "Seconds until the least-squares trend of a watched gauge reaches the rule's "
               "threshold (0 once past); absent while the trend does not head there.",
               ("rule", "series")),
    MetricSpec("lms_slo_objective_ratio", "gauge",
               "The availability objective of the LMS, 0..1 (e.g. 0.999)."),
    MetricSpec("lms_slo_availability_ratio", "gauge",
               "Share of the availability check's probes that were OK over the window.",
               ("window",)),
    MetricSpec("lms_slo_burn_rate", "gauge",
               "Error budget burn rate over the window: error rate / (1 - objective); 1 "
               "spends the budget exactly over the SLO period.", ("window",)),
    MetricSpec("lms_slo_error_budget_remaining_ratio", "gauge",
               "Share of the SLO period's error budget left (negative once overspent)."),
)

# The daemon's own instruments (monitor/app/metrics.py creates them on an explicit registry).
DAEMON_METRICS = _catalogue(
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
    MetricSpec("vigil_receiver_up", "gauge",
               "1 while the receiver delivers, 0 after a permanent delivery error (bad "
               "credentials, 4xx) until a delivery to it succeeds again.", ("receiver",)),
    MetricSpec("vigil_maintenance_active", "gauge",
               "1 while a maintenance window covers the LMS (or some of its checks), else 0; "
               "for shading Grafana panels.", ("lms",)),
)

CATALOGUE: dict[str, MetricSpec] = {
    **STATE_METRICS, **CHECK_METRICS, **MOODLE_METRICS, **POLICY_METRICS, **DAEMON_METRICS,
}
