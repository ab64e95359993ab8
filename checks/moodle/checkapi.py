"""The `moodle_check_api` check: every result of Moodle's Check API, via admin/cli/checks.php.

Data flow: scheduler -> CheckApiCheck.run(ctx) -> ``php admin/cli/checks.php -v --type=T``
for each configured type, run as the web user (cli.py) -> parse the NRPE header and the
verbose table -> one state per check ref in details, lms_moodle_check_api_status{check_id,
type} per check -> overall status (the worst, escalated for new security problems).

Output format copied from admin/cli/checks.php (moodle/moodle): line 1 is the NRPE header
"<OK|WARNING|CRITICAL|UNKNOWN>: <name> (<ref>)" or "OK: All '<type>' checks OK"; with -v a
table follows with one "<label>| <Name> (<ref>)" row per check (labels from
core_renderer_cli::render_check_result: NA, OK, INFO, UNKNOWN, WARNING, ERROR, CRITICAL,
wrapped in ANSI codes that cli.py strips) and indented summary rows. Exit codes follow
NRPE: na/ok/info 0, warning 1, error/critical 2, unknown 3 (the metric uses the same codes).
Without -v, checks.php lists only warning/error/critical rows, so Vigil always passes -v.

Each type is run and judged on its own: one check class can throw (on a real 5.1 site
`--type=security` died with 'Class "curl" not found') while the other types report real
problems. A type that throws, dies or prints no NRPE table is a finding of its own (UNKNOWN,
lms_moodle_check_api_type_up{type} 0, the exception's first line in the summary); the other
types' results still count, so a real ERROR (CRITICAL) is never hidden behind UNKNOWN. Only
when every type failed does the whole check raise CheckUnavailable.
An uncaught exception ends checks.php through lib/setuplib.php default_exception_handler():
"Default exception handler: <message> Debug: ..." on stderr (error_log), the CLI renderer's
"!!! <message> !!!" on stdout, exit 1; <message> of a non-Moodle exception is
"Exception - <getMessage()>" (lang/en/error.php generalexceptionmessage).
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from checks.base import CheckContext, CheckUnavailable
from checks.moodle.cli import CliResult, run_cli
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status
from monitor.kernel.spec import CheckSpec, PositiveDuration

METRICS = declare(
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
)
CheckType = Literal["status", "security", "performance"]
# Moodle result state -> (NRPE code as checks.php exits, Vigil status)
STATES: dict[str, tuple[int, Status]] = {
    "na": (0, Status.OK), "ok": (0, Status.OK), "info": (0, Status.OK),
    "warning": (1, Status.WARNING), "error": (2, Status.CRITICAL),
    "critical": (2, Status.CRITICAL), "unknown": (3, Status.UNKNOWN),
}
_HEADER = re.compile(r"^(OK|WARNING|CRITICAL|UNKNOWN): (.*)$")
_ROW = re.compile(r"^\s*(NA|OK|INFO|UNKNOWN|WARNING|ERROR|CRITICAL)\s*\| (.*) \(([^()\s]+)\)\s*$")
_TEXT_ROW = re.compile(r"^ {10}\|(.*)$")
_MAX_LISTED = 10
_MOODLE_FATAL = re.compile(r"^!!! (?:Exception - )?(.+?) !!!$")  # core_renderer_cli fatal_error
_PHP_FATAL = re.compile(r"PHP Fatal error:\s+(?:Uncaught [\w\\]+: )?(.+?)"
                        r"(?: in /\S+(?::\d+| on line \d+))?(?: Stack trace:.*)?$")
_CAUSE_CHARS = 160
_SEVERITY = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}


class CheckApiSpec(CheckSpec):
    type: Literal["moodle_check_api"]
    # Every run bootstraps Moodle once per type; security makes ~29 HTTP requests to the
    # site itself and performance compares the whole database schema: hourly is plenty.
    interval: PositiveDuration = 3600.0
    # Above [lms.moodle.cli] timeout (120 s) so a hung script is reported as such.
    timeout: PositiveDuration = 130.0
    types: tuple[CheckType, ...] = Field(default=("status", "security", "performance"),
                                         min_length=1)
    # Refs reported but never counted. By default Moodle's two review lists, WARNING on
    # every site that has teachers or the stock Manager role, so a healthy site would warn
    # for ever (lib/classes/check/access/riskxss_result.php: any user holding an XSS-risk
    # capability; riskbackup_result.php: any role allowed to back up user data). A list
    # given in the config replaces this one.
    ignore: tuple[str, ...] = ("core_riskxss", "core_riskbackup")
    # The status a security check turning from OK to not-OK raises the whole check to.
    new_security_problem: Literal["WARNING", "CRITICAL"] = "CRITICAL"


@dataclass(frozen=True, slots=True)
class CheckResult:
    ref: str
    name: str
    type: str
    state: str  # Moodle's: na ok info unknown warning error critical
    summary: str

    @property
    def status(self) -> Status:
        return STATES[self.state][1]

    @property
    def ok(self) -> bool:
        return STATES[self.state][0] == 0


def parse_checks_output(run: CliResult, kind: str) -> list[CheckResult]:
    """Results from ``checks.php -v``; CheckUnavailable when the output is not checks.php's."""
    if run.exit_code not in (0, 1, 2, 3):
        raise CheckUnavailable(run.failure())
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        raise CheckUnavailable(f"{run.script} printed no NRPE status line (exit "
                               f"{run.exit_code}): {run.first_line()!r}")
    results: list[CheckResult] = []
    summary: list[str] = []
    for line in lines[start + 1:]:
        row = _ROW.match(line)
        if row:
            _close(results, summary)
            results.append(CheckResult(row.group(3), row.group(2).strip(), kind,
                                       row.group(1).lower(), ""))
            summary = []
        elif results and (text := _TEXT_ROW.match(line)) and text.group(1).strip():
            summary.append(text.group(1).strip())
    _close(results, summary)
    header = _HEADER.match(lines[start])
    if not results and header and header.group(1) != "OK":
        raise CheckUnavailable(f"{run.script} reported {header.group(1)} but listed no check")
    return results


@dataclass(frozen=True, slots=True)
class TypeFailure:
    """One ``--type`` that gave no results: why, as one short line and in full."""

    type: str
    cause: str  # the exception's first line, for the summary
    detail: str  # the whole CheckUnavailable message


def failure_cause(run: CliResult) -> str:
    """The first line of the exception or fatal error a checks.php run died with, or ''."""
    for line in run.stdout.splitlines():
        if moodle := _MOODLE_FATAL.match(line.strip()):
            return html.unescape(moodle.group(1))  # get_exception_info() ran clean_text()
    for line in (run.stderr + "\n" + run.stdout).splitlines():
        if php := _PHP_FATAL.search(line.strip()):
            return php.group(1)
    return ""


def _close(results: list[CheckResult], summary: list[str]) -> None:
    if results and summary and not results[-1].summary:
        last = results[-1]
        results[-1] = CheckResult(last.ref, last.name, last.type, last.state, " ".join(summary))


class CheckApiCheck:
    """Keeps the previous run's security states to spot OK -> not-OK transitions.

    Why: on a real site some checks are never OK (core_riskxss), so the worst state alone
    stays WARNING for months and a *new* security problem would change nothing an alert
    engine can see. A security check that was OK (or na/info) on the previous run and is
    not OK now is a "new security problem": the check escalates to ``new_security_problem``
    (CRITICAL by default) and names it in the summary. The escalation latches while that
    check stays not-OK, so soft/hard alerting (N consecutive failures) sees it on every run;
    it clears when the check is OK again, or when an admin accepts it via ``ignore``.
    The baseline lives in this instance: after a daemon restart (or a reload that changes
    this check) the first run sets a new baseline and cannot see a change by itself.
    """

    def __init__(self, spec: CheckApiSpec) -> None:
        self.spec = spec
        self._security_before: dict[str, str] | None = None  # ref -> Moodle state
        self._new_problems: set[str] = set()

    async def run(self, ctx: CheckContext) -> Result:
        outcomes = await asyncio.gather(*(self._run_type(ctx, kind)
                                          for kind in self.spec.types))
        failed = {o.type: o for o in outcomes if isinstance(o, TypeFailure)}
        if len(failed) == len(self.spec.types):  # nothing measured: the check broke
            details = dict.fromkeys(f.detail for f in failed.values())
            raise CheckUnavailable("; ".join(details))
        results = [r for o in outcomes if not isinstance(o, TypeFailure) for r in o]
        new = [] if "security" in failed else self._track_security(
            [r for r in results if r.type == "security"])
        return self._judge(results, new, failed)

    async def _run_type(self, ctx: CheckContext, kind: str) -> list[CheckResult] | TypeFailure:
        try:
            run = await run_cli(ctx, "checks.php", ["-v", f"--type={kind}"])
        except CheckUnavailable as exc:  # could not start, or hung
            return TypeFailure(kind, str(exc)[:_CAUSE_CHARS], str(exc))
        try:
            return parse_checks_output(run, kind)
        except CheckUnavailable as exc:
            cause = failure_cause(run) or str(exc)
            return TypeFailure(kind, cause.replace("\n", " ")[:_CAUSE_CHARS], str(exc))

    def _track_security(self, security: list[CheckResult]) -> list[CheckResult]:
        if "security" not in self.spec.types:
            return []
        before = self._security_before
        now = {r.ref: r.state for r in security}
        if before is not None:
            for r in security:
                was_ok = r.ref in before and STATES[before[r.ref]][0] == 0
                if not r.ok and (was_ok or r.ref not in before):
                    self._new_problems.add(r.ref)
        self._new_problems &= {r.ref for r in security if not r.ok}
        self._new_problems -= set(self.spec.ignore)
        self._security_before = now
        return [r for r in security if r.ref in self._new_problems]

    def _judge(self, results: list[CheckResult], new: list[CheckResult],
               failed: dict[str, TypeFailure]) -> Result:
        counted = [r for r in results if r.ref not in self.spec.ignore]
        failing = sorted((r for r in counted if not r.ok), key=lambda r: _SEVERITY[r.status])
        # A failed type is UNKNOWN; Status.worst ranks a real CRITICAL above it.
        status = Status.worst([*(r.status for r in counted),
                               *(Status.UNKNOWN for _ in failed)])
        if new:
            status = Status.worst([status, Status[self.spec.new_security_problem]])
        samples = [Sample("lms_moodle_check_api_status", float(STATES[r.state][0]),
                          {"check_id": r.ref, "type": r.type}) for r in results]
        samples += [Sample("lms_moodle_check_api_type_up", 0.0 if kind in failed else 1.0,
                           {"type": kind}) for kind in self.spec.types]
        if "security" in self.spec.types and "security" not in failed:
            samples.append(Sample("lms_moodle_check_api_new_security_problems", float(len(new))))
        details = {
            "states": {r.ref: r.state for r in results},
            "failing": [{"ref": r.ref, "type": r.type, "state": r.state, "summary": r.summary}
                        for r in failing[:_MAX_LISTED]],
            "new_security_problems": [r.ref for r in new],
            "ignored": [r.ref for r in results if r.ref in self.spec.ignore],
            "failed_types": {kind: f.detail for kind, f in failed.items()},
        }
        summary = _summary(counted, failing, new, list(failed.values()))
        if quiet := [f"{r.ref} {r.state}" for r in results
                     if r.ref in self.spec.ignore and not r.ok]:
            summary += f"; ignored: {', '.join(quiet)}"
        return Result(status, summary, tuple(samples), details)


def _summary(results: list[CheckResult], failing: list[CheckResult],
             new: list[CheckResult], failed: list[TypeFailure]) -> str:
    """The real findings first, then each type that failed (never one hiding the other)."""
    broken = "; ".join(f"{f.type} type failed: {f.cause}" for f in failed)
    if not failing and not new and broken:
        return f"{broken}; the other {len(results)} Moodle checks OK"
    text = _findings(results, failing, new)
    return f"{text}; {broken}" if broken else text


def _findings(results: list[CheckResult], failing: list[CheckResult],
              new: list[CheckResult]) -> str:
    if new:
        first = new[0]
        more = len(failing) - 1
        text = (f"new security problem: {first.name} ({first.ref}) is {first.state}"
                f"{': ' + first.summary if first.summary else ''}")
        return text + (f"; {more} other check(s) not OK" if more > 0 else "")
    if not failing:
        return f"all {len(results)} Moodle checks OK"
    names = ", ".join(f"{r.ref} {r.state}" for r in failing[:3])
    extra = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
    lead = failing[0]
    why = f" ({lead.summary})" if lead.summary and len(failing) == 1 else ""
    return f"{len(failing)} Moodle check(s) not OK: {names}{extra}{why}"
