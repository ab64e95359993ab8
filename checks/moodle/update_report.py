"""Turns the update probe's findings into a Result: status, one summary line, samples,
details. Used by updates.py; pure (``now`` passed in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from checks.moodle.update_judge import Assessment, Pending
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from checks.moodle.update_installed import Installed
    from checks.moodle.updates import Answer, UpdatesSpec

METRICS = declare(
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
)
_LISTED = 10
Problem = tuple[Status, str]


def judge(spec: UpdatesSpec, now: float, installed: Installed, answer: Answer,
          assessment: Assessment | None, notes: list[str]) -> Result:
    problems: list[Problem] = []
    if assessment is None:
        # Nothing to judge because nothing was ever asked (feed off, nothing stored) is
        # the site's configuration; a feed or an answer that failed is a fault.
        never_asked = answer.source == "never_asked"
        status = Status[spec.no_data_status.upper()] if never_asked else Status.UNKNOWN
        what = "patch level not judged" if never_asked else "no update data"
        return Result(status, f"{what}: {answer.problem or 'no answer'}",
                      _samples(now, installed, answer, None),
                      _details(installed, answer, None, notes, now))
    if answer.problem:
        age = f" from {fmt_duration(now - answer.fetched_at)} ago" if answer.fetched_at else ""
        what = "Moodle's stored answer" if answer.source == "moodle" else "the cached answer"
        problems.append((Status.WARNING, f"{answer.problem}; using {what}{age}"))
    if answer.fetched_at is not None and now - answer.fetched_at > spec.stale_after:
        where = "Moodle's cron has not fetched updates" if answer.source == "moodle" \
            else "no fresh answer from the update feed"
        problems.append((Status.WARNING, f"update data is {fmt_duration(now - answer.fetched_at)}"
                                         f" old ({where} within {fmt_duration(spec.stale_after)})"))
    problems += _core_problems(spec, now, installed, assessment)
    problems += _plugin_problems(spec, now, assessment)
    status = Status.worst(s for s, _ in problems)
    texts = [t for _, t in sorted(problems, key=lambda p: -_rank(p[0]))]
    if assessment.core is None:
        texts.append(_up_to_date(installed, assessment))
    return Result(status, "; ".join(texts), _samples(now, installed, answer, assessment),
                  _details(installed, answer, assessment, notes, now))


def _core_problems(spec: UpdatesSpec, now: float, installed: Installed,
                   assessment: Assessment) -> list[Problem]:
    core = assessment.core
    if core is None:
        return []
    behind = (f", {assessment.releases_behind} release(s) behind"
              if assessment.releases_behind else "")
    published = f", built {_day(core.published)}" if core.published else ""
    text = (f"Moodle {core.release or core.version} available for "
            f"{fmt_duration(now - core.since)}{published} (site runs {installed.release}"
            f"{behind})")
    if core.security:
        return [(_security_status(spec, now, core), f"security update: {text}")]
    return [(Status[spec.update_status], text)]


def _plugin_problems(spec: UpdatesSpec, now: float, assessment: Assessment) -> list[Problem]:
    problems: list[Problem] = []
    security = [p for p in assessment.plugins if p.security]
    other = [p for p in assessment.plugins if not p.security]
    if security:
        worst = min(security, key=lambda p: p.since)
        problems.append((Status.worst(_security_status(spec, now, p) for p in security),
                         f"{len(security)} plugin security update(s) pending: "
                         f"{_names(security)} (oldest {fmt_duration(now - worst.since)})"))
    if other:
        problems.append((Status[spec.update_status],
                         f"{len(other)} plugin update(s) available: {_names(other)}"))
    return problems


def _security_status(spec: UpdatesSpec, now: float, pending: Pending) -> Status:
    return Status.CRITICAL if now - pending.since > spec.security_critical_after \
        else Status.WARNING


def _up_to_date(installed: Installed, assessment: Assessment) -> str:
    newest = assessment.newest_in_branch
    text = f"Moodle {installed.release} is the newest {assessment.branch} release"
    if newest and newest["version"] > installed.version:
        text = (f"Moodle {installed.release}: only newer weekly builds of {assessment.branch} "
                f"({newest['release']})")
    if assessment.newest_branch and assessment.newest_branch != assessment.branch:
        text += f"; newest branch {assessment.newest_branch}"
    return text


def _samples(now: float, installed: Installed, answer: Answer,
             assessment: Assessment | None) -> tuple[Sample, ...]:
    samples = []
    if answer.fetched_at is not None:
        samples.append(Sample("lms_moodle_update_feed_last_success_timestamp_seconds",
                              answer.fetched_at))
    if assessment is None:
        return tuple(samples)
    core = assessment.core
    plugins = assessment.plugins
    samples += [
        Sample("lms_moodle_update_releases_behind", float(assessment.releases_behind)),
        Sample("lms_moodle_update_available", float(core is not None), {"kind": "core"}),
        Sample("lms_moodle_update_available", float(len(plugins)), {"kind": "plugin"}),
        Sample("lms_moodle_update_security_pending", float(len(assessment.security))),
        Sample("lms_moodle_update_age_seconds", max(0.0, now - core.since) if core else 0.0,
               {"kind": "core"}),
        Sample("lms_moodle_update_age_seconds",
               max((max(0.0, now - p.since) for p in plugins), default=0.0), {"kind": "plugin"}),
    ]
    return tuple(samples)


def _details(installed: Installed, answer: Answer, assessment: Assessment | None,
             notes: list[str], now: float) -> dict[str, Any]:
    details: dict[str, Any] = {
        "installed": {"version": installed.version, "release": installed.release,
                      "branch": installed.branch, "from": installed.source,
                      **({"database": installed.database} if installed.database else {})},
        "source": answer.source,
        "fetched_at": answer.fetched_at,
    }
    if answer.problem:
        details["feed_problem"] = answer.problem
    if assessment is not None:
        details.update(
            releases_behind=assessment.releases_behind,
            newest_in_branch=assessment.newest_in_branch, newest_branch=assessment.newest_branch,
            plugins_checked=assessment.plugins_checked,
            plugin_updates=[_pending(p, now) for p in assessment.plugins[:_LISTED]],
            security_rule="the feed has no security flag; see update_judge.py")
        if assessment.core is not None:
            details["core_update"] = _pending(assessment.core, now)
    problems = installed.problems + notes
    if problems:
        details["problems"] = problems[:_LISTED]
    return details


def _pending(pending: Pending, now: float) -> dict[str, Any]:
    return {"component": pending.component, "version": pending.version,
            "release": pending.release, "security": pending.security,
            "available_since": pending.since, "age_days": round((now - pending.since) / 86400, 1)}


def _names(pending: list[Pending]) -> str:
    names = [p.component for p in pending]
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y")


def _rank(status: Status) -> int:
    return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[status]
