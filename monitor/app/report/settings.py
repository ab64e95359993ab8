"""``[report]``: the scheduled stakeholder report (monitor/app/report/schedule.py).

Validated at load time like every section; the references to LMS names and e-mail
receivers are checked with the other cross-field rules (monitor/app/config_rules.py
calls ``reference_problems``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from monitor.kernel.spec import PositiveDuration, StrictModel
from monitor.kernel.zones import Timezone

HOUR = 3600.0


class ReportSettings(StrictModel):
    """Every ``every`` (default weekly) a report per LMS of the period just ended.

    Periods end on multiples of ``every`` counted from Monday 1970-01-05 00:00 UTC, so a
    weekly report covers Monday to Monday and a daily one midnight to midnight (UTC).
    """

    every: PositiveDuration = 7 * 86400.0
    lms: list[str] | None = None  # None: every LMS of the config
    receivers: list[str] = Field(default_factory=list)  # names of e-mail receivers
    directory: Path | None = None  # also written here as <lms>-<end date>.<format>
    format: Literal["html", "pdf"] = "html"
    timezone: Timezone = "UTC"  # how times are shown in the report

    @field_validator("every")
    @classmethod
    def _at_least_an_hour(cls, value: float) -> float:
        if value < HOUR:
            raise ValueError("must be at least 1h: a report sums a period, it is no alert")
        return value

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"must be an absolute path, not {str(value)!r} (the daemon's "
                             "working directory is not the config's)")
        return value

    @model_validator(mode="after")
    def _goes_somewhere(self) -> ReportSettings:
        if not self.receivers and self.directory is None:
            raise ValueError("set receivers (e-mail receivers of [alerts]) or directory, "
                             "or both: a scheduled report must go somewhere")
        return self


def reference_problems(raw: dict[str, Any], lms_names: set[str]) -> list[str]:
    """``report.lms`` and ``report.receivers`` must name an LMS / an e-mail receiver."""
    report = raw.get("report")
    if not isinstance(report, dict):
        return []
    problems = []
    lms = report.get("lms")
    for i, name in enumerate(lms if isinstance(lms, list) else []):
        if isinstance(name, str) and name not in lms_names:
            problems.append(f"report.lms[{i}]: no LMS named {name!r}")
    alerts = raw.get("alerts")
    receivers = alerts.get("receivers") if isinstance(alerts, dict) else None
    kinds = {r.get("name"): r.get("type") for r in receivers or []
             if isinstance(r, dict)} if isinstance(receivers, list) else {}
    wanted = report.get("receivers")
    for i, name in enumerate(wanted if isinstance(wanted, list) else []):
        if not isinstance(name, str):
            continue
        if name not in kinds:
            problems.append(f"report.receivers[{i}]: no receiver named {name!r} in "
                            "[[alerts.receivers]]")
        elif kinds[name] != "email":
            problems.append(f"report.receivers[{i}]: receiver {name!r} is of type "
                            f"{kinds[name]!r}; the report is sent by e-mail receivers only")
    return problems
