"""The `a11y` check: axe-core's WCAG violations on configured LMS pages, by impact.

Data flow: scheduler -> A11yCheck.run(ctx) -> finds Chromium and axe-core (UNKNOWN naming
the missing one) -> one worker thread (ctx.run_blocking) runs audit.audit_pages in a
fresh headless Chromium, bounded in time and memory -> judged here -> Result with
lms_a11y_* samples and, in details, each page's violated rules with their targets.

Counts are exported only when every page was audited: a page that could not be (a login
redirect, an HTTP error, a timeout) makes the check UNKNOWN naming it, and leaves the
counts out rather than exporting a sum that drops for a reason other than a fix.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from checks.a11y.audit import (
    AuditOutcome,
    AuditPlan,
    LoginPlan,
    PageAudit,
    audit_pages,
    plain_url,
)
from checks.a11y.spec import IMPACTS, A11ySpec, find_axe
from checks.base import CheckContext
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status

METRICS = declare(
    MetricSpec("lms_a11y_violations", "gauge",
               "axe-core rules the audited pages violate, summed over the pages, by the "
               "rule's impact (minor, moderate, serious, critical); only when every "
               "configured page was audited.", ("impact",)),
    MetricSpec("lms_a11y_violation_nodes", "gauge",
               "Page elements that violate an axe-core rule, summed over the pages, by the "
               "rule's impact.", ("impact",)),
    MetricSpec("lms_a11y_page_audited", "gauge",
               "1 if axe-core audited the configured page in the last run, 0 if it could "
               "not (login redirect, HTTP error, timeout).", ("page",)),
)
_RULES_IN_SUMMARY = 4


class A11yCheck:
    """Keeps the last run's serious findings in memory to name the new ones. ``which`` and
    ``scratch_dir`` (where profiles go) are injectable for tests."""

    def __init__(self, spec: A11ySpec, scratch_dir: Path | None = None) -> None:
        self.spec = spec
        self.scratch_dir = scratch_dir
        self._source: tuple[Path, float, str] | None = None
        self._seen: set[tuple[str, str]] | None = None

    async def run(self, ctx: CheckContext) -> Result:
        start = time.monotonic()
        pages = dict(self.spec.pages) or ({"home": ctx.target.url} if ctx.target.url else {})
        if not pages:
            return Result(Status.UNKNOWN, "no page to audit: set pages or the site's url")
        chromium = shutil.which(self.spec.chromium)
        if chromium is None:
            return Result(Status.UNKNOWN, f"Chromium not found: {self.spec.chromium!r} is not "
                          "an executable (install chromium or set chromium = \"/path\")")
        axe, looked = find_axe(self.spec.axe_core_path)
        if axe is None:
            where = ", ".join(str(p) for p in looked)
            return Result(Status.UNKNOWN, f"axe-core not found (looked at {where}); install "
                          "it: npm install --prefix /usr/local/share/vigil/axe-core "
                          "axe-core@4, or set axe_core_path")
        source = await ctx.run_blocking(lambda: self._axe_source(axe))
        # Room after the deadline for Chromium to close or be killed before the runner
        # gives up on this call.
        budget = ctx.timeout - min(15.0, ctx.timeout / 3)
        plan = AuditPlan(chromium, source, tuple(pages.items()), self.spec.tags,
                         start + budget, self.spec.memory_limit_mib << 20, self._login(),
                         {k: v.get_secret_value() for k, v in self.spec.cookies.items()},
                         self.scratch_dir, self.spec.sandbox, self.spec.jitless)
        outcome = await ctx.run_blocking(lambda: audit_pages(plan))
        return self._judge(outcome)

    def _login(self) -> LoginPlan | None:
        login = self.spec.login
        if login is None:
            return None
        return LoginPlan(login.url, login.username_field, login.password_field,
                         login.username, login.password.get_secret_value())

    def _axe_source(self, path: Path) -> str:
        mtime = path.stat().st_mtime
        if self._source is None or self._source[:2] != (path, mtime):
            self._source = (path, mtime, path.read_text(encoding="utf-8"))
        return self._source[2]

    def _judge(self, outcome: AuditOutcome) -> Result:
        audited = [p for p in outcome.pages if p.problem is None]
        samples = [Sample("lms_a11y_page_audited", 1.0 if p.problem is None else 0.0,
                          {"page": p.name}) for p in outcome.pages]
        details: dict[str, Any] = {"tags": list(self.spec.tags),
                                   "axe_version": outcome.axe_version,
                                   "browser_peak_mib": outcome.peak_memory >> 20,
                                   "pages": {p.name: _page_details(p) for p in outcome.pages}}
        if outcome.problem is not None:
            return Result(Status.UNKNOWN, f"a11y audit not run: {outcome.problem}",
                          tuple(samples), details)
        failed = [p for p in outcome.pages if p.problem is not None]
        if failed:
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            return Result(Status.UNKNOWN, f"{failed[0].problem}{more}", tuple(samples), details)
        rules = Counter(v.impact for p in audited for v in p.violations)
        nodes: Counter[str] = Counter()
        for page in audited:
            for v in page.violations:
                nodes[v.impact] += v.nodes
        samples += [Sample("lms_a11y_violations", float(rules[i]), {"impact": i})
                    for i in IMPACTS]
        samples += [Sample("lms_a11y_violation_nodes", float(nodes[i]), {"impact": i})
                    for i in IMPACTS]
        new = self._new_findings(audited)
        if new:
            details["new_violations"] = new
        accepted = set(self.spec.accepted_rules)
        judged = Counter(v.impact for p in audited for v in p.violations
                         if v.rule not in accepted)
        summary = _summary(audited, rules, new)
        seen_accepted = sorted({v.rule for p in audited for v in p.violations} & accepted)
        if seen_accepted:
            details["accepted_rules_failing"] = seen_accepted
            summary += f" ({', '.join(seen_accepted)} accepted)"
        return Result(self._status(judged), summary, tuple(samples), details)

    def _status(self, rules: Counter[str]) -> Status:
        def reached(floor: str | None) -> bool:
            return floor is not None and any(
                rules[i] for i in IMPACTS[IMPACTS.index(floor):])  # type: ignore[arg-type]
        if reached(self.spec.critical_impact):
            return Status.CRITICAL
        return Status.WARNING if reached(self.spec.warning_impact) else Status.OK

    def _new_findings(self, audited: list[PageAudit]) -> list[str]:
        """Serious and critical rules failing now on a page where they did not last run."""
        now = {(p.name, v.rule) for p in audited for v in p.violations
               if v.impact in ("serious", "critical")
               and v.rule not in self.spec.accepted_rules}
        before, self._seen = self._seen, now
        if before is None:
            return []
        return [f"{rule} on {page}" for page, rule in sorted(now - before)]


def _summary(audited: list[PageAudit], rules: Counter[str], new: list[str]) -> str:
    count = sum(rules.values())
    pages = f"{len(audited)} page{'s' if len(audited) != 1 else ''}"
    if not count:
        return f"no accessibility violations on {pages}"
    by_impact = ", ".join(f"{rules[i]} {i}" for i in reversed(IMPACTS) if rules[i])
    worst_first = sorted({(IMPACTS.index(v.impact), v.rule) for p in audited
                          for v in p.violations}, reverse=True)  # type: ignore[arg-type]
    names = [rule for _, rule in worst_first]
    shown = ", ".join(names[:_RULES_IN_SUMMARY])
    if len(names) > _RULES_IN_SUMMARY:
        shown += f" +{len(names) - _RULES_IN_SUMMARY} more"
    text = f"{count} accessibility violation{'s' if count != 1 else ''} on {pages}: " \
           f"{by_impact} ({shown})"
    return f"{text}; new: {', '.join(new[:3])}" if new else text


def _page_details(page: PageAudit) -> dict[str, Any]:
    if page.problem is not None:
        return {"url": plain_url(page.url), "problem": page.problem}
    return {"url": plain_url(page.url),
            "violations": [{"rule": v.rule, "impact": v.impact, "help": v.help,
                            "help_url": v.help_url, "nodes": v.nodes,
                            "targets": list(v.targets)} for v in page.violations]}
