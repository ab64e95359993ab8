"""The `moodle_branch_support` check: is the site's Moodle branch, and the PHP it runs on,
still supported, and does that branch support that PHP?

Data flow: scheduler -> BranchSupportCheck.run(ctx) -> the branch from version.php under
the code directory ($release, else $branch; codebase.py) or, without a code directory,
config release/branch in the database -> the PHP version from the spec or from
``php -r 'echo PHP_VERSION;'`` with the site's PHP binary (cli.py) -> the bundled tables in
branch_table.py (each row names its public source) -> Result.

Judgement: WARNING from ``warn_before`` (90 days) before the branch's or PHP's security
support ends, CRITICAL after it ended (no more security fixes); a PHP outside the branch's
supported range is CRITICAL (Moodle refuses to install or upgrade on it, and untested
combinations break). Upstream PHP dates are php.net's: distributions (Debian, Ubuntu, RHEL)
patch their PHP packages for longer, so `php_security_end` lets an admin put their vendor's
date instead. The CLI PHP can differ from the web server's PHP-FPM; set `php_version` when
it does.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from checks.base import CheckContext, CheckUnavailable
from checks.lazy import lazy_import
from checks.moodle.branch_table import (
    MOODLE_BRANCHES,
    PHP_BRANCHES,
    MoodleBranch,
    branch_from_code,
    major_version,
    moodle_branch,
    php_branch,
    timestamp,
    version_key,
)
from checks.moodle.cli import run_php
from checks.moodle.codebase import read_core_version, site_layout
from checks.moodle.config_php import PhpSyntaxError
from checks.moodle.schema import moodle_tables
from checks.moodle.site import moodle_site
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, Duration, PositiveDuration
from monitor.kernel.units import fmt_duration

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
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
)
_PHP_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_DAY = 86400.0
Problem = tuple[Status, str]


class BranchSupportSpec(CheckSpec):
    type: Literal["moodle_branch_support"]
    interval: PositiveDuration = 21600.0   # dates move slowly: every 6 h is plenty
    timeout: PositiveDuration = 30.0
    warn_before: Duration = 90 * _DAY
    # The PHP the web server runs, e.g. "8.3.14", when the CLI's differs; None: ask the CLI.
    php_version: str | None = Field(default=None, pattern=r"^\d+\.\d+(\.\d+)?")
    use_cli: bool = True
    # Your vendor's security support end for the PHP package (e.g. a distribution LTS).
    php_security_end: date | None = None
    # PHP minor versions to accept for the branch beyond the bundled table ("8.5").
    extra_php_versions: list[str] = Field(default_factory=list)


def judge_branch(branch: str, now: float, warn_before: float) -> tuple[list[Problem], str]:
    """Problems for the Moodle branch and a short description for the summary."""
    row = moodle_branch(branch)
    if row is None:
        oldest = MOODLE_BRANCHES[0]
        if version_key(branch) < version_key(oldest.name):
            return [(Status.CRITICAL, f"Moodle {branch} is older than every branch in Vigil's "
                                      f"table ({oldest.name}+): out of security support")], ""
        return [(Status.UNKNOWN, f"Moodle {branch} is not in Vigil's branch table (newest "
                                 f"{MOODLE_BRANCHES[-1].name}): update Vigil")], ""
    name = f"Moodle {row.name}{' LTS' if row.lts else ''}"
    left = timestamp(row.security_end) - now
    if left <= 0:
        return [(Status.CRITICAL, f"{name} security support ended {fmt_duration(-left)} ago "
                                  f"({row.security_end:%d %b %Y}): no more security fixes")], ""
    text = f"{name} security support until {row.security_end:%d %b %Y} ({fmt_duration(left)})"
    if left <= warn_before:
        return [(Status.WARNING, f"{name} security support ends in {fmt_duration(left)} "
                                 f"({row.security_end:%d %b %Y}): plan the upgrade")], ""
    if timestamp(row.general_end) <= now:
        text += ", bug fixes ended"
    return [], text


def judge_php(php: str, row: MoodleBranch | None, now: float, spec: BranchSupportSpec,
              ) -> tuple[list[Problem], str, bool | None]:
    """Problems for the PHP version (its own support, and the branch's range)."""
    match = _PHP_VERSION.match(php) or re.match(r"^(\d+)\.(\d+)", php)
    if not match:
        return [(Status.WARNING, f"cannot read the PHP version from {php[:40]!r}")], "", None
    minor = f"{match.group(1)}.{match.group(2)}"
    problems: list[Problem] = []
    supported: bool | None = None
    if row is not None:
        key = version_key(minor)
        supported = (version_key(row.php_min) <= key <= version_key(row.php_max)
                     or minor in spec.extra_php_versions)
        if not supported:
            problems.append((Status.CRITICAL, f"PHP {minor} is not supported by Moodle "
                                              f"{row.name} (PHP {row.php_min}-{row.php_max})"))
    end = spec.php_security_end or _php_end(minor)
    if end is None:
        return problems, f"PHP {minor} (support dates unknown to Vigil)", supported
    left = timestamp(end) - now
    if left <= 0:
        problems.append((Status.CRITICAL, f"PHP {minor} security support ended "
                                          f"{fmt_duration(-left)} ago ({end:%d %b %Y})"))
    elif left <= spec.warn_before:
        problems.append((Status.WARNING, f"PHP {minor} security support ends in "
                                         f"{fmt_duration(left)} ({end:%d %b %Y})"))
    return problems, f"PHP {minor} until {end:%d %b %Y}", supported


def _php_end(minor: str) -> date | None:
    row = php_branch(minor)
    if row is not None:
        return row.security_end
    if version_key(minor) < version_key(PHP_BRANCHES[0].name):
        return PHP_BRANCHES[0].security_end  # older than the table: ended before this
    return None


class BranchSupportCheck:
    def __init__(self, spec: BranchSupportSpec) -> None:
        self.spec = spec

    async def run(self, ctx: CheckContext) -> Result:
        branch, where = await self._branch(ctx)
        php, php_problem = await self._php(ctx)
        now = ctx.now()
        problems, branch_text = judge_branch(branch, now, self.spec.warn_before)
        row = moodle_branch(branch)
        php_text, supported = "", None
        if php is not None:
            php_problems, php_text, supported = judge_php(php, row, now, self.spec)
            problems += php_problems
        elif php_problem:
            problems.append((Status.WARNING, php_problem))
        status = Status.worst(s for s, _ in problems)
        texts = [t for _, t in sorted(problems, key=lambda p: -_rank(p[0]))]
        texts += [t for t in (branch_text, php_text) if t]
        if php is None and not php_problem:
            texts.append("PHP version unknown (set php_version or [lms.moodle.cli])")
        return Result(status, "; ".join(texts), _samples(row, php, supported, self.spec),
                      _details(branch, where, row, php, supported))

    async def _branch(self, ctx: CheckContext) -> tuple[str, str]:
        site = moodle_site(ctx)
        if site.dirroot is not None:
            dirroot = site.dirroot
            release, code = await ctx.run_blocking(lambda: _code_branch(dirroot))
            branch = major_version(release) or branch_from_code(code)
            if branch:
                return branch, "version.php"
        if site.database is None:
            raise CheckUnavailable("cannot tell the Moodle branch: set lms.moodle.dirroot or "
                                   "[lms.moodle.database]")
        db = site.database
        config = await db.run(ctx, lambda conn: _db_branch(conn, db.prefix))
        branch = major_version(config.get("release")) or branch_from_code(config.get("branch"))
        if not branch:
            raise CheckUnavailable(f"no config release/branch in {db.prefix}config: not an "
                                   "installed Moodle (wrong database or prefix?)")
        return branch, "database"

    async def _php(self, ctx: CheckContext) -> tuple[str | None, str | None]:
        """(version, problem): the spec's version, else the CLI's PHP_VERSION."""
        if self.spec.php_version:
            return self.spec.php_version, None
        if not self.spec.use_cli or moodle_site(ctx).settings.cli is None:
            return None, None
        try:
            run = await run_php(ctx, ["-r", "echo PHP_VERSION;"])
        except CheckUnavailable as exc:
            return None, f"cannot read the PHP version: {exc}"
        if run.exit_code != 0:
            return None, f"cannot read the PHP version: {run.failure()}"
        text = run.stdout.strip()
        if not _PHP_VERSION.match(text):
            return None, f"cannot read the PHP version: php printed {text[:40]!r}"
        return text, None


def _code_branch(dirroot: Path) -> tuple[str | None, str | None]:
    try:
        _version, release, branch = read_core_version(site_layout(dirroot))
    except (OSError, PhpSyntaxError):
        return None, None
    return release, branch


def _db_branch(conn: Connection, prefix: str) -> dict[str, str]:
    config = moodle_tables(prefix).config
    rows = conn.execute(sa.select(config.c.name, config.c.value)
                        .where(config.c.name.in_(("release", "branch")))).all()
    return {str(name): str(value) for name, value in rows}


def _samples(row: MoodleBranch | None, php: str | None, supported: bool | None,
             spec: BranchSupportSpec) -> tuple[Sample, ...]:
    samples: list[Sample] = []
    if row is not None:
        samples += [Sample("lms_moodle_branch_security_support_end_timestamp_seconds",
                           timestamp(row.security_end)),
                    Sample("lms_moodle_branch_general_support_end_timestamp_seconds",
                           timestamp(row.general_end))]
    match = _PHP_VERSION.match(php or "")
    if match:
        end = spec.php_security_end or _php_end(f"{match.group(1)}.{match.group(2)}")
        if end is not None:
            samples.append(Sample("lms_moodle_php_security_support_end_timestamp_seconds",
                                  timestamp(end)))
    if supported is not None:
        samples.append(Sample("lms_moodle_php_supported", float(supported)))
    return tuple(samples)


def _details(branch: str, where: str, row: MoodleBranch | None, php: str | None,
             supported: bool | None) -> dict[str, Any]:
    details: dict[str, Any] = {"branch": branch, "branch_from": where, "php": php}
    if row is not None:
        details.update(lts=row.lts, released=row.released.isoformat(),
                       general_support_end=row.general_end.isoformat(),
                       security_support_end=row.security_end.isoformat(),
                       php_supported_range=f"{row.php_min}-{row.php_max}",
                       source=row.source, provisional=row.provisional)
    if supported is not None:
        details["php_supported_by_branch"] = supported
    return details


def _rank(status: Status) -> int:
    return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[status]
