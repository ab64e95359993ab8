"""The `moodle_security` check: failed logins, brute-force spikes, lockouts, site admin changes.

Data flow: scheduler -> SecurityCheck.run(ctx) -> one read-only round on the site's database
(site_database(ctx).run, in a worker thread) -> failed logins of the last ``window`` by reason
from logstore_standard_log, window-sized buckets of the preceding ``baseline`` (cached in the
Check and topped up incrementally, so only the first run scans a whole day), locked accounts
and the site administrators -> judged by the spec -> Result with lms_moodle_* samples.

The log and lockout reads are in checks/moodle/security_queries.py, each bounded by an
index; admins use the primary key of ``user``, admin-change history config_log's
"timemodified" index.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from checks.base import CheckContext
from checks.common import check_order
from checks.moodle.accounts import admin_ids, siteadmins_log, usernames, who
from checks.moodle.held_change import Hold
from checks.moodle.logstore import standard_log_enabled
from checks.moodle.schema import MoodleTables, moodle_tables
from checks.moodle.security_queries import (
    Observed,
    bucket_counts,
    failed_window,
    locked_accounts,
    read_config,
)
from checks.moodle.site import site_database
from checks.moodle.tasks import fmt_duration
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_REASON_TEXT = {"nouser": "unknown username", "failed": "wrong password",
                "suspended": "suspended account", "lockout": "locked account",
                "unauthorised": "unauthorised", "failed_recaptcha": "failed reCAPTCHA",
                "other": "unparsed reason"}
METRICS = declare(
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
)
_MAX_PARSED = 20_000  # rows whose `other` we decode per run; more only scales the counts
_DETAIL_CAP = 10
_RANK = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}  # as worst()


class SecuritySpec(CheckSpec):
    type: Literal["moodle_security"]
    # Failed logins are counted over the last `window`; the spike compares that count with
    # the median of window-sized buckets over the preceding `baseline`.
    window: Annotated[Duration, Field(ge=60)] = 300.0  # log times are whole seconds
    baseline: PositiveDuration = 86400.0
    spike_min_count: Annotated[int, Field(ge=1)] = 20
    spike_warning_factor: Annotated[float, Field(gt=1)] = 5.0
    spike_critical_factor: Annotated[float, Field(gt=1)] = 20.0
    # Optional absolute limits on failed logins per window and on locked accounts.
    failed_warning: Annotated[int, Field(ge=1)] | None = None
    failed_critical: Annotated[int, Field(ge=1)] | None = None
    locked_warning: Annotated[int, Field(ge=1)] | None = None
    locked_critical: Annotated[int, Field(ge=1)] | None = None
    # A change of the site administrators stays CRITICAL this long, then becomes the norm.
    admin_change_hold: Annotated[Duration, Field(ge=0)] = 86400.0

    @model_validator(mode="after")
    def _consistent(self) -> SecuritySpec:
        if self.spike_critical_factor < self.spike_warning_factor:
            raise ValueError("spike_critical_factor must be >= spike_warning_factor")
        if self.baseline < 2 * self.window:
            raise ValueError("baseline must cover at least two windows")
        check_order(self, "failed_warning", "failed_critical", higher_is_worse=True)
        check_order(self, "locked_warning", "locked_critical", higher_is_worse=True)
        return self


@dataclass(frozen=True, slots=True)
class AdminChange:
    added: tuple[int, ...]
    removed: tuple[int, ...]
    since: float
    by: tuple[int, ...]  # config_log.userid of the recorded changes; empty if none recorded


# ------------------------------------------------------------------ the check
class SecurityCheck:
    """Keeps the failed-login buckets of the baseline and the accepted set of site admins
    between runs (a run reads only what is new), so state is per site and per process.
    Admin changes follow the shared hold rule of checks/moodle/held_change.py."""

    def __init__(self, spec: SecuritySpec) -> None:
        self.spec = spec
        self._buckets: dict[int, int] = {}
        self._fetched_until: int | None = None  # buckets below this index are cached
        self._admins: Hold[frozenset[int]] | None = None
        self._change_by: tuple[int, ...] = ()
        self._last_run: float | None = None

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        tables, now = moodle_tables(db.prefix), ctx.now()
        observed = await db.run(ctx, lambda conn: self._measure(conn, tables, now))
        change = self._track_admins(observed, now)
        self._last_run = now
        return self._judge(observed, change)

    # -- measuring (runs in the worker thread)
    def _measure(self, conn: Connection, t: MoodleTables, now: float) -> Observed:
        config = read_config(conn, t, ["siteadmins", "lockoutthreshold", "lockoutduration"])
        failed, buckets = -1, {}  # -1: the standard log store is not writing
        by_reason: dict[str, int] = {}
        top: list[dict[str, Any]] = []
        if standard_log_enabled(conn, t):
            failed, by_reason, top = failed_window(
                conn, t, int(now - self.spec.window), int(now))
            buckets = self._baseline_buckets(conn, t, now)
        current = admin_ids(config.get("siteadmins"))
        history: list[tuple[int, int, str, str]] = []
        accepted = self._admins.accepted if self._admins is not None else frozenset()
        if self._admins is None or current != accepted:
            history = siteadmins_log(conn, t, now - self.spec.admin_change_hold)
        named = current | accepted | {row[1] for row in history}
        for _at, _uid, old, new in history:
            named |= admin_ids(old) | admin_ids(new)
        return Observed(failed, by_reason, top, buckets, locked_accounts(conn, t, now, config),
                        current, usernames(conn, t, named), history)

    def _baseline_buckets(self, conn: Connection, t: MoodleTables, now: float
                          ) -> dict[int, int]:
        """Window-sized buckets before the one the current window overlaps; only buckets
        not cached yet are read, plus the newest cached one again (log rows land late)."""
        width = int(self.spec.window)
        stop = int(now) // width - 1
        first = stop - int(self.spec.baseline // width)
        cached = self._fetched_until
        start = first if cached is None or not first <= cached <= stop else max(first, cached - 1)
        if start == first:
            self._buckets = {}
        if start < stop:
            self._buckets.update(bucket_counts(conn, t, width, start, stop))
        self._buckets = {b: n for b, n in self._buckets.items() if first <= b < stop}
        self._fetched_until = stop
        return {b: self._buckets.get(b, 0) for b in range(first, stop)}

    # -- judging
    def _track_admins(self, observed: Observed, now: float) -> AdminChange | None:
        current, history = frozenset(observed.admins), observed.admin_log
        if self._admins is None:
            self._admins = Hold(current)
            if history:  # changed within the hold period, before this process watched
                first = float(history[0][0])
                self._admins = Hold(frozenset(admin_ids(history[0][2])), current, first, first)
                self._change_by = tuple(sorted({row[1] for row in history}))
        fresh = current not in (self._admins.accepted, self._admins.pending)
        since = self._admins.observe(current, now, self.spec.admin_change_hold)
        if since is None:
            self._change_by = ()
            return None
        if fresh:
            start = (self._last_run or now - self.spec.interval) - 60  # config_log lags a bit
            self._change_by = tuple(sorted(
                {*self._change_by, *(row[1] for row in history if row[0] >= start)}))
        accepted = self._admins.accepted
        return AdminChange(tuple(sorted(current - accepted)), tuple(sorted(accepted - current)),
                           since, self._change_by)

    def _judge(self, obs: Observed, change: AdminChange | None) -> Result:
        spec, window = self.spec, fmt_duration(self.spec.window)
        parts: list[tuple[Status, str]] = []
        samples = [Sample("lms_moodle_site_admins", len(obs.admins))]
        details: dict[str, Any] = {
            "site_admins": [{"id": i, "username": obs.names.get(i, "?")}
                            for i in sorted(obs.admins)][:_DETAIL_CAP],
            "locked_accounts": obs.locked, "lockout_enabled": obs.locked is not None}
        if obs.locked is not None:
            samples.append(Sample("lms_moodle_locked_accounts", obs.locked))
            level = threshold_status(obs.locked, spec.locked_warning, spec.locked_critical)
            parts.append((level, f"{_plural(obs.locked, 'account')} locked out"))
        if change is not None:
            parts.append((Status.CRITICAL, self._describe_change(change, obs.names)))
            details["admin_change"] = {
                "added": [{"id": i, "username": obs.names.get(i, "?")} for i in change.added],
                "removed": [{"id": i, "username": obs.names.get(i, "?")}
                            for i in change.removed],
                "since": change.since, "by": [{"id": i, "username": obs.names.get(i, "?")}
                                              for i in change.by]}
        if obs.failed < 0:
            parts.append((Status.UNKNOWN, "the standard log store is disabled (tool_log | "
                                          "enabled_stores): failed logins cannot be counted"))
        else:
            median = statistics.median(obs.buckets.values()) if obs.buckets else 0.0
            samples += [Sample("lms_moodle_failed_logins", obs.failed),
                        Sample("lms_moodle_failed_logins_baseline", median),
                        *(Sample("lms_moodle_failed_logins_by_reason", n, {"reason": r})
                          for r, n in obs.by_reason.items())]
            details.update(failed_logins=obs.failed, window_seconds=spec.window,
                           by_reason=obs.by_reason, baseline_median=median,
                           top_sources=obs.top_sources)
            parts.append(self._judge_failed(obs, median, window))
        status = Status.worst(level for level, _ in parts)
        ordered = sorted(parts, key=lambda part: -_RANK[part[0]])
        shown = [text for level, text in ordered if level != Status.OK] or [
            text for _, text in parts]
        if status == Status.OK:
            shown.append(_plural(len(obs.admins), "site admin"))
        return Result(status, "; ".join(shown), tuple(samples), details)

    def _judge_failed(self, obs: Observed, median: float, window: str) -> tuple[Status, str]:
        spec = self.spec
        factor = obs.failed / max(median, 1.0)
        spike = Status.OK
        if obs.failed >= spec.spike_min_count:
            spike = threshold_status(factor, spec.spike_warning_factor,
                                     spec.spike_critical_factor)
        level = Status.worst([spike, threshold_status(obs.failed, spec.failed_warning,
                                                      spec.failed_critical)])
        text = (f"{obs.failed} failed logins in the last {window} "
                f"(baseline median {median:g} per {window})")
        if level == Status.OK:
            return level, text
        main = max(obs.by_reason.items(), key=lambda item: item[1])
        cause = f"mostly {_REASON_TEXT[main[0]]}: {main[1]}" if main[1] else "reasons unknown"
        if spike != Status.OK:
            text = (f"possible brute-force attack: {obs.failed} failed logins in the last "
                    f"{window}, {factor:.0f}x the baseline median of {median:g}")
        return level, f"{text} ({cause})"

    @staticmethod
    def _describe_change(change: AdminChange, names: dict[int, str]) -> str:
        parts = [f"added {who(change.added, names)}" if change.added else "",
                 f"removed {who(change.removed, names)}" if change.removed else ""]
        text = "site administrators changed: " + "; ".join(p for p in parts if p)
        if change.by:
            return f"{text}; by {who(change.by, names)} (config_log)"
        return f"{text}; no config_log entry: changed outside Moodle's admin pages?"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
