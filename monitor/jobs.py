"""From a validated config to the set of check jobs the scheduler runs."""

from __future__ import annotations

from checks.base import Target
from checks.registry import build_check
from monitor.config import LmsConfig, VigilConfig
from monitor.runner import CheckJob


def target_of(site: LmsConfig) -> Target:
    return Target(name=site.name, kind=site.kind, url=site.url, labels=dict(site.labels))


def build_jobs(
    config: VigilConfig, *, lms: str | None = None, check: str | None = None
) -> dict[str, CheckJob]:
    """Every enabled (LMS x check) job, optionally narrowed to one LMS and/or check name."""
    jobs: dict[str, CheckJob] = {}
    for site in config.lms:
        if lms is not None and site.name != lms:
            continue
        target = target_of(site)
        for name, spec in site.checks.items():
            if not spec.enabled or (check is not None and name != check):
                continue
            job = CheckJob(target=target, name=name, spec=spec, check=build_check(spec))
            jobs[job.key] = job
    return jobs
