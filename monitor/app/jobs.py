"""From a validated config to the set of check jobs the scheduler runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.registry import build_check
from monitor.app.config import LmsConfig, VigilConfig
from monitor.kernel.job import CheckJob
from monitor.kernel.target import Target


def target_of(site: LmsConfig, shard_label: dict[str, str] | None = None) -> Target:
    """``shard_label``: {"shard": "I"} on a sharded instance, so its alerts say which."""
    return Target(name=site.name, kind=site.kind, url=site.url,
                  labels={**site.labels, **(shard_label or {})})


def build_jobs(
    config: VigilConfig, *, lms: str | None = None, check: str | None = None,
    sites: Mapping[str, Any] | None = None,
) -> dict[str, CheckJob]:
    """Every enabled (LMS x check) job, optionally narrowed to one LMS and/or check name.

    ``sites`` maps LMS names to their open site access (monitor/app/sites.py). Only the
    sites of this instance's shard (``[fleet] shard``) get jobs."""
    jobs: dict[str, CheckJob] = {}
    for site in config.fleet.owned(config.lms):
        if lms is not None and site.name != lms:
            continue
        target = target_of(site, config.fleet.label())
        for name, spec in site.checks.items():
            if not spec.enabled or (check is not None and name != check):
                continue
            job = CheckJob(target=target, name=name, spec=spec, check=build_check(spec),
                           site=(sites or {}).get(site.name))
            jobs[job.key] = job
    return jobs
