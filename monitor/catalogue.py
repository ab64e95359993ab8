"""The metric catalogue: every metric Vigil exports, declared once.

The collector (monitor/metrics.py) refuses samples whose name is not here, and a
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
    MetricSpec("lms_system_cpu_count", "gauge", "Logical CPUs of the host."),
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
)

# Samples returned by the Moodle probes (checks/moodle/). Probe modules add theirs here.
MOODLE_METRICS = _catalogue(
)

# The daemon's own instruments (monitor/metrics.py creates them on an explicit registry).
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
)

CATALOGUE: dict[str, MetricSpec] = {
    **STATE_METRICS, **CHECK_METRICS, **MOODLE_METRICS, **DAEMON_METRICS,
}
