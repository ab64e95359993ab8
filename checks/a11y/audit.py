"""What one a11y run does inside its browser: log in, open each page, run axe-core on it.

checks/a11y/check.py -> ctx.run_blocking(audit_pages(plan)) -> Browser (browser.py) ->
a list of PageAudit, judged back in check.py. Blocking: runs in a worker thread.

axe-core is added to every document (and frame) before the page's own scripts through
Page.addScriptToEvaluateOnNewDocument, so a page cannot shadow it and cross-frame
auditing works; ``axe.run`` is awaited with Runtime.evaluate(awaitPromise). Only the
violations travel back, reduced in the page to rule id, impact, help and targets.
A page that ends on a login form it was redirected to is not audited (axe would audit the
login form and report a bogus count for the page): it is named instead. With a form login,
a page that is the login URL itself is audited before logging in (as a visitor sees it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from checks.a11y.browser import Browser, BrowserError, BrowserFatal

_FRAME_WAIT_MS = 5000  # axe waits this long for a frame to answer before skipping it
_TARGETS_PER_RULE = 5


@dataclass(frozen=True, slots=True)
class LoginPlan:
    url: str
    username_field: str
    password_field: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class AuditPlan:
    chromium: str
    axe_source: str
    pages: Sequence[tuple[str, str]]  # (name, url)
    tags: Sequence[str]
    deadline: float  # time.monotonic() by which the browser is gone
    memory_limit: int  # bytes, all Chromium processes together
    login: LoginPlan | None = None
    cookies: Mapping[str, str] = field(default_factory=dict)
    scratch_dir: Path | None = None
    sandbox: bool = True
    jitless: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    impact: str  # minor | moderate | serious | critical
    help: str
    help_url: str
    targets: tuple[str, ...]  # CSS selectors of the first few elements
    nodes: int  # elements that fail the rule


@dataclass(frozen=True, slots=True)
class PageAudit:
    name: str
    url: str
    problem: str | None = None  # why the page was not audited; None when it was
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditOutcome:
    pages: tuple[PageAudit, ...]
    problem: str | None = None  # a failure before any page (browser, login)
    axe_version: str | None = None
    peak_memory: int = 0  # bytes, Chromium's processes together at the highest sample


def audit_pages(plan: AuditPlan) -> AuditOutcome:
    """Runs in a worker thread; never raises for a page, browser or login problem."""
    pages: list[PageAudit] = []
    version: str | None = None
    problem: str | None = None
    browser = Browser(plan.chromium, plan.deadline, plan.memory_limit, plan.scratch_dir,
                      sandbox=plan.sandbox, jitless=plan.jitless)
    login = plan.login
    # The login page is audited as a visitor sees it, before logging in: once logged in,
    # Moodle's login/index.php shows "You are already logged in" instead of the form.
    visitor = [p for p in plan.pages if login is not None and _same_page(p[1], login.url)]
    try:
        with browser as b:
            session = _open_tab(b, plan)
            going, version = _audit_each(b, session, plan, visitor, pages, version)
            if going and login is not None:
                _log_in(b, session, login)
            if going:
                rest = [p for p in plan.pages if p not in visitor]
                _, version = _audit_each(b, session, plan, rest, pages, version)
    except BrowserError as exc:  # outside a page: starting Chromium, logging in
        problem = str(exc)
    done = {p.name: p for p in pages}
    audits = tuple(done.get(n) or PageAudit(n, u, f"page {n!r} not audited: the run stopped "
                                                  "before it") for n, u in plan.pages)
    return AuditOutcome(audits, problem, version, browser.peak_memory)


def _audit_each(b: Browser, session: str, plan: AuditPlan, pages: Sequence[tuple[str, str]],
                into: list[PageAudit], version: str | None) -> tuple[bool, str | None]:
    """Audits ``pages`` in order into ``into``; False once the browser cannot go on."""
    for name, url in pages:
        try:
            audit, version = _audit_page(b, session, plan, name, url, version)
        except BrowserError as exc:
            into.append(PageAudit(name, url, f"page {name!r} ({plain_url(url)}): {exc}"))
            if isinstance(exc, BrowserFatal):
                return False, version  # the browser is gone or out of time
            continue
        into.append(audit)
    return True, version


def _open_tab(b: Browser, plan: AuditPlan) -> str:
    target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session: str = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"]
    for method in ("Page.enable", "Network.enable"):
        b.call(method, session=session)
    b.call("Page.setBypassCSP", {"enabled": True}, session)  # CSP must not block axe
    b.call("Page.addScriptToEvaluateOnNewDocument", {"source": plan.axe_source}, session)
    if plan.cookies:
        cookies = [{"name": k, "value": v, "url": url}
                   for _, url in plan.pages for k, v in plan.cookies.items()]
        b.call("Network.setCookies", {"cookies": cookies}, session)
    return session


def _navigate(b: Browser, session: str, url: str, what: str) -> tuple[int | None, str]:
    """Open ``url`` and wait for its load event: (final HTTP status, final URL)."""
    b.clear_events()
    answer = b.call("Page.navigate", {"url": url}, session, waiting_for=f"{what} to answer")
    if answer.get("errorText"):
        raise BrowserError(f"{what} could not be opened: {answer['errorText']}")
    b.wait_event("Page.loadEventFired", session, f"{what} to load")
    return _document_status(b, session, answer.get("frameId"))


def _document_status(b: Browser, session: str, frame: str | None) -> tuple[int | None, str]:
    status: int | None = None
    final = ""
    for event in b.events("Network.responseReceived", session):
        params = event.get("params", {})
        if params.get("type") == "Document" and params.get("frameId") == frame:
            status = params.get("response", {}).get("status")
            final = params.get("response", {}).get("url", "")
    return status, final or _evaluate(b, session, "location.href")


def _log_in(b: Browser, session: str, login: LoginPlan) -> None:
    where = f"the login page ({plain_url(login.url)})"
    status, _ = _navigate(b, session, login.url, where)
    if status is not None and status >= 400:
        raise BrowserError(f"{where} answered HTTP {status}")
    script = _FILL_FORM % (json.dumps(login.username_field), json.dumps(login.password_field),
                           json.dumps(login.username), json.dumps(login.password))
    b.clear_events()
    missing = _evaluate(b, session, script)
    if missing:
        raise BrowserError(f"{where} has no {missing}")
    b.wait_event("Page.loadEventFired", session, "the page after logging in to load")
    if _evaluate(b, session, _HAS_FIELD % json.dumps(login.password_field)):
        raise BrowserError(f"logging in at {plain_url(login.url)} failed: the login form came "
                           "back (wrong username or password, or a locked account?)")


def _audit_page(b: Browser, session: str, plan: AuditPlan, name: str, url: str,
                version: str | None) -> tuple[PageAudit, str | None]:
    status, final = _navigate(b, session, url, "the page")
    where = f"page {name!r} ({plain_url(url)})"
    if status is not None and status >= 400:
        return PageAudit(name, url, f"{where} answered HTTP {status}: not audited"), version
    if not _same_page(final, url) and _evaluate(b, session, _HAS_PASSWORD):
        return PageAudit(name, url, f"{where} redirected to a login form at {plain_url(final)}: "
                         "not audited (set [login] or a session cookie, or check them)"), version
    if not _evaluate(b, session, "typeof axe === 'object' && typeof axe.run === 'function'"):
        _evaluate(b, session, plan.axe_source, by_value=False)
    run = _RUN_AXE % (json.dumps(list(plan.tags)), _FRAME_WAIT_MS, _TARGETS_PER_RULE)
    found = json.loads(_evaluate(b, session, run, await_promise=True))
    violations = tuple(Violation(v["id"], v["impact"] or "minor", v["help"], v["helpUrl"],
                                 tuple(v["targets"]), int(v["nodes"]))
                       for v in found["violations"])
    return PageAudit(name, url, None, violations), found["version"]


def _evaluate(b: Browser, session: str, expression: str, *, await_promise: bool = False,
              by_value: bool = True) -> Any:
    answer = b.call("Runtime.evaluate", {
        "expression": expression, "awaitPromise": await_promise, "returnByValue": by_value,
        "timeout": max(1, int((b.deadline - time.monotonic()) * 1000))}, session)
    if "exceptionDetails" in answer:
        details = answer["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        raise BrowserError(f"script failed in the page: {str(text).splitlines()[0][:200]}")
    return answer.get("result", {}).get("value")


def plain_url(url: str) -> str:
    """A URL as it may appear in a summary: no credentials, no query (tokens travel there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _same_page(final: str, wanted: str) -> bool:
    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url)
        return parts.netloc.lower(), parts.path.rstrip("/") or "/", parts.query
    return key(final) == key(wanted)


_HAS_PASSWORD = "!!document.querySelector('input[type=password]')"
_HAS_FIELD = "!!document.querySelector('input[type=password][name=' + JSON.stringify(%s) + ']')"
# Fills the form that holds the password field and submits it as a person would
# (requestSubmit runs the form's submit handlers; hidden fields such as Moodle's
# logintoken travel with it). Returns what is missing, or "" once submitted.
_FILL_FORM = """(() => {
  const byName = (n) => document.querySelector('[name=' + JSON.stringify(n) + ']');
  const user = byName(%s), pass = byName(%s);
  if (!user) return 'username field';
  if (!pass || !pass.form) return 'password field in a form';
  for (const [el, value] of [[user, %s], [pass, %s]]) {
    el.value = value;
    el.dispatchEvent(new Event('input', {bubbles: true}));
  }
  const form = pass.form;
  setTimeout(() => form.requestSubmit ? form.requestSubmit() : form.submit(), 0);
  return '';
})()"""
_RUN_AXE = """axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations'],
                  iframes: true, frameWaitTime: %d}).then((r) => JSON.stringify({
  version: axe.version,
  violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes: v.nodes.length,
    targets: v.nodes.slice(0, %d).map((n) => [].concat(n.target).flat(Infinity).join(' >> ')),
  })),
}))"""
