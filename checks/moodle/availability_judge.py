"""Judging what Moodle's public endpoints answered: pure functions, no I/O.

AvailabilityCheck (checks/moodle/availability.py) fetches each endpoint into an
``Answer`` and hands it here; each judge returns the problems it found plus a few facts
for the result's details. Markers and states come from Moodle's source (moodle/moodle,
public/ prefix from 5.1 on):

- lib/templates/loginform.mustache: ``<form ... id="login">``, hidden ``logintoken``; the
  form is left out when the site hides it (config showloginform = 0, SSO-only sites); a
  ``login-maintenance`` notice while web maintenance is on (auth/classes/output/login.php).
- lib/classes/session/manager.php prepare_cookies(): the session cookie is named
  'MoodleSession' . $CFG->sessioncookie.
- lib/classes/output/requirements/page_requirements_manager.php: M.cfg carries
  ``"developerdebug": true`` only when $CFG->debugdeveloper is on.
- lib/setup.php: CLI maintenance answers every script with 503 and Retry-After: 300.
- lib/setuplib.php redirect_if_major_upgrade_required(): 303 to $CFG->admin/index.php.
- lib/classes/output/bootstrap_renderer.php early_error(): bootstrap failures give a 500
  plain page, or JSON {error, errorcode} in AJAX scripts; messages from lang/en/error.php.
- login/token.php: enablewebservices off -> AJAX error 'enablewsdescription' before the
  appsitecheck answer ``{"appsitecheck":"ok"}``.
- lib/ajax/service.php: a JSON array, one {error, data|exception} entry per call.
- webservice/rest/server.php + locallib.php: 403 when the protocol is off; errors are
  HTTP 200 with {exception, errorcode, message}.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from monitor.kernel.result import Status

SESSION_COOKIE = "MoodleSession"
# (errorcode, exception class, message): lang/en/error.php and lib/dml/*_exception.php.
_DB_ERRORS = (
    ("dmlreadexception", "dml_read_exception", "Error reading from database"),
    ("dmlwriteexception", "dml_write_exception", "Error writing to database"),
    ("dbconnectionfailed", "dml_connection_exception", "Database connection failed"),
)
WEB_MAINTENANCE = "web maintenance mode on (maintenance_enabled)"
_REDIRECTS = (301, 302, 303, 307, 308)
_FORM = re.compile(r"<form\b[^>]*\bid\s*=\s*[\"']login[\"']", re.IGNORECASE)
_LOGINTOKEN = re.compile(r"\bname\s*=\s*[\"']logintoken[\"']", re.IGNORECASE)
_LOGIN_BODY = re.compile(r"<body\b[^>]*\bid\s*=\s*[\"']page-login-index[\"']", re.IGNORECASE)
_NOTICE = re.compile(r"class\s*=\s*[\"'][^\"']*\blogin-maintenance\b", re.IGNORECASE)
_MCFG = re.compile(r"M\.cfg\s*=\s*(\{.*?\})\s*;\s*$", re.MULTILINE)
_DEVDEBUG = re.compile(r"[\"']?developerdebug[\"']?\s*:\s*true")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Answer:
    """One endpoint's answer (after the redirects the check follows), or why there was none."""

    status_code: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    seconds: float = 0.0
    error: str | None = None  # transport failure or timeout, one line

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Problem:
    status: Status
    text: str  # site-wide causes use the same text on every endpoint, so they merge
    state: str | None = None  # a named site state: maintenance, upgrade_pending, ...


Judged = tuple[list[Problem], dict[str, Any]]


def site_failure(answer: Answer, admin_dir: str) -> Problem | None:
    """The site-wide states any endpoint can show: down, maintenance, upgrade, database."""
    if answer.error is not None:
        return Problem(Status.CRITICAL, f"Moodle unreachable: {answer.error}", "unreachable")
    if (db := database_error(answer)) is not None:
        return Problem(Status.CRITICAL, f"database error: {db}", "database_error")
    if answer.status_code == 503 and ("retry-after" in answer.headers
                                      or "maintenance" in answer.text.lower()):
        retry = answer.headers.get("retry-after")
        how = f"HTTP 503, Retry-After: {retry}" if retry else "HTTP 503"
        return Problem(Status.CRITICAL, f"CLI maintenance mode ({how})", "maintenance")
    location = answer.headers.get("location", "")
    if answer.status_code in _REDIRECTS and urlsplit(location).path.endswith(
            f"/{admin_dir}/index.php"):
        return Problem(Status.CRITICAL, f"major upgrade pending: HTTP {answer.status_code} "
                       f"to {admin_dir}/index.php", "upgrade_pending")
    return None


def database_error(answer: Answer) -> str | None:
    """"Error reading from database (dmlreadexception)" when an error page or JSON error
    names one (a 200 HTML page is never read for it: user content could say anything)."""
    data = parse_json(answer.body)
    if isinstance(data, dict):
        text = " ".join(str(data.get(key, "")) for key in ("errorcode", "exception", "error"))
    elif answer.status_code != 200:
        text = answer.text
    else:
        return None
    for code, exception, message in _DB_ERRORS:
        if code in text or exception in text or message in text:
            return f"{message} ({code})"
    return None


def judge_login(answer: Answer, *, require_form: bool, require_cookie: bool,
                admin_dir: str) -> Judged:
    """The login page: reachable, Moodle's markers present, developer debugging off."""
    if (failure := site_failure(answer, admin_dir)) is not None:
        return [failure], {}
    if answer.status_code != 200:
        return [Problem(Status.CRITICAL, f"login page answered HTTP {answer.status_code}",
                        "http_error")], {}
    text = answer.text
    cookie = session_cookie(answer.headers)
    debug = developer_debug(text)
    facts: dict[str, Any] = {"session_cookie": cookie, "developer_debug": debug,
                             "login_form": bool(_FORM.search(text))}
    problems: list[Problem] = []
    if not _LOGIN_BODY.search(text) and not facts["login_form"]:
        problems.append(wrong_content(text))
    elif not facts["login_form"] and require_form:
        problems.append(Problem(Status.CRITICAL, "login page has no login form (showloginform "
                                "off or a theme without it?)", "wrong_content"))
    elif facts["login_form"] and not _LOGINTOKEN.search(text):
        problems.append(Problem(Status.CRITICAL, "login form without the logintoken field"))
    if require_cookie and cookie is None and not problems:
        problems.append(Problem(Status.CRITICAL, f"login page set no {SESSION_COOKIE} cookie"))
    if _NOTICE.search(text):
        problems.append(Problem(Status.CRITICAL, WEB_MAINTENANCE, "web_maintenance"))
    return problems, facts


def session_cookie(headers: httpx.Headers) -> str | None:
    """The name of the MoodleSession<suffix> cookie set, never its value."""
    for line in headers.get_list("set-cookie"):
        name = line.split("=", 1)[0].strip()
        if name.startswith(SESSION_COOKIE):
            return name
    return None


def developer_debug(text: str) -> bool | None:
    """True/False from the page's M.cfg; None when the page carries no M.cfg."""
    match = _MCFG.search(text)
    if match is None:
        return None
    try:
        config = json.loads(match.group(1))
    except ValueError:  # a theme or filter mangled it: fall back to the bare key
        return bool(_DEVDEBUG.search(match.group(1)))
    return isinstance(config, dict) and config.get("developerdebug") is True


def wrong_content(text: str) -> Problem:
    """Some other page where Moodle should answer: a web server's default page, a
    defacement, a proxy's error page. The same text on every endpoint, so it merges."""
    return Problem(Status.CRITICAL, f"wrong content: {page_title(text)!r} instead of Moodle",
                   "wrong_content")


def page_title(text: str) -> str:
    match = _TITLE.search(text)
    title = " ".join(html.unescape(match.group(1)).split()) if match else ""
    return (title[:77] + "...") if len(title) > 80 else (title or "(no title)")


def judge_appsitecheck(answer: Answer, admin_dir: str, mobile_app: str = "ok") -> Judged:
    if (failure := site_failure(answer, admin_dir)) is not None:
        return [failure], {}
    data = parse_json(answer.body)
    if answer.status_code == 200 and isinstance(data, dict) and data.get("appsitecheck") == "ok":
        return [], {"appsitecheck": "ok"}
    if isinstance(data, dict) and data.get("errorcode") == "enablewsdescription":
        # Web services are off: Moodle's own default on a plain-http site
        # (admin/settings/server.php: enablemobilewebservice = is_https()), so only a
        # site that promises the Moodle app (spec.mobile_app) hears of it.
        facts = {"appsitecheck": "web services disabled: the Moodle app cannot connect"}
        if mobile_app == "ok":
            return [], facts
        return [Problem(Status[mobile_app.upper()], "web services disabled "
                        "(enablewsdescription): the Moodle app cannot connect",
                        "web_services_disabled")], facts
    return [unexpected("appsitecheck", answer, data)], {}


def judge_public_config(answer: Answer, admin_dir: str) -> Judged:
    if (failure := site_failure(answer, admin_dir)) is not None:
        return [failure], {}
    data = parse_json(answer.body)
    if answer.status_code != 200 or not isinstance(data, list) or not data:
        return [unexpected("public config", answer, data)], {}
    entry: dict[str, Any] = data[0] if isinstance(data[0], dict) else {}
    if entry.get("error") is not False or not isinstance(entry.get("data"), dict):
        exception = entry.get("exception")
        exception = exception if isinstance(exception, dict) else {}
        code, message = exception.get("errorcode", "?"), exception.get("message", "")
        return [Problem(Status.CRITICAL, f"public config failed: {code} ({message})".strip())], {}
    config = entry["data"]
    facts = {key: config.get(key) for key in (
        "maintenanceenabled", "enablewebservices", "enablemobilewebservice", "showloginform")}
    problems = []
    if config.get("maintenanceenabled"):
        problems.append(Problem(Status.CRITICAL, WEB_MAINTENANCE, "web_maintenance"))
    return problems, facts


def judge_site_info(answer: Answer, admin_dir: str) -> Judged:
    if (failure := site_failure(answer, admin_dir)) is not None:
        return [failure], {}
    if answer.status_code == 403:  # webservice/rest/server.php: protocol or WS disabled
        return [Problem(Status.CRITICAL, "web service REST protocol disabled (HTTP 403)",
                        "web_services_disabled")], {}
    data = parse_json(answer.body)
    if isinstance(data, dict) and data.get("errorcode") == "sitemaintenance":
        return [Problem(Status.CRITICAL, WEB_MAINTENANCE, "web_maintenance")], {}
    if isinstance(data, dict) and "exception" in data:
        code, message = data.get("errorcode", data["exception"]), data.get("message", "")
        return [Problem(Status.CRITICAL, f"web service error {code} ({message})")], {}
    if (answer.status_code == 200 and isinstance(data, dict)
            and isinstance(data.get("release"), str) and _number(data.get("version"))):
        return [], {"release": data["release"], "version": str(data["version"])}
    return [unexpected("core_webservice_get_site_info", answer, data)], {}


def unexpected(what: str, answer: Answer, data: Any) -> Problem:
    if answer.status_code == 200 and data is None and "<" in answer.text:
        return wrong_content(answer.text)
    return Problem(Status.CRITICAL, f"{what} failed: {describe_unexpected(answer, data)}")


def describe_unexpected(answer: Answer, data: Any) -> str:
    """A short cause for an answer that is neither success nor a known state."""
    if isinstance(data, dict) and data.get("errorcode"):
        message = data.get("error") or data.get("message") or ""
        return f"{data['errorcode']} ({message})" if message else str(data["errorcode"])
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    if data is None:
        return "not JSON"
    return f"unexpected JSON {json.dumps(data)[:80]}"


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
