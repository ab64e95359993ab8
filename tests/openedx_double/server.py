"""An Open edX stand-in: an LMS and a Studio answering as edx-platform does.

Transcribed from openedx/edx-platform, independently of checks/openedx/:
- openedx/core/djangoapps/heartbeat/views.py (6efbafd754419a6e2fbe21540469afd7041ec4ff):
  JsonResponse of ``{name: {"status": bool, "message": str}}``, 503 if any status is
  false; ``{"error": str(e)}`` with 503 if running the checks raised.
- runchecks.py (7960ef1a18657ae0cd2bd55a14d53dfa5365f577), defaults.py
  (4181113be391f5fbaa6ba8cdaea7d72a175e0f57), default_checks.py
  (2a48563a4394cb4d7b0a2d6519680e1f90670bd2): HEARTBEAT_CHECKS modulestore, sql;
  HEARTBEAT_EXTENDED_CHECKS celery when the query has ``extended``; messages "OK", the
  failure's text, celery ``str({'time': ...})`` or "expired".
- lms/urls.py and cms/urls.py: ``heartbeat`` on both; user_authn/urls_common.py
  (3cf21c8cafde7de000528cbf00390c1012a2f328): LMS ``/login``; cms/urls.py
  (6eb75e566c6c9e0e0eaf76f7127150f4ba876fae) ``signin_redirect_to_lms`` -> views/public.py
  (6efbafd754419a6e2fbe21540469afd7041ec4ff): redirect to FRONTEND_LOGIN_URL + ``?next=``.
- lms/djangoapps/course_api/views.py (ea22d0890936909efcde9f9504a753f7910d7c7d):
  CourseListView, public, ``{"results": [...], "pagination": {"next", "previous", "count",
  "num_pages"}}``; CourseDetailView at 03fc35a41fcfb045c4d7c37d5781ae7aa6a14471:
  /api/courses/v1/courses/<course key>/, 404 if the course is not available.
- For the learner journey, user_authn/views/login.py
  (02a8549b8fed18fae5de991b860acb099259dde1): LoginSessionView.post is csrf_protect
  (Django's CsrfViewMiddleware: the csrftoken cookie and the X-CSRFToken header must
  agree, else 403 "CSRF verification failed. Request aborted."); login_user with
  api_version v2 needs ``email_or_username`` and ``password`` (else "There was an error
  receiving your login information. Please email us."), looks the user up by e-mail then
  username, and answers 200 ``{"success": true, "redirect_url": ...}`` with the session
  cookie and set_logged_in_cookies (edxloggedin), or 400 AuthFailedError.get_response():
  ``{"success": false, "value": "Email or password is incorrect.", "error_code":
  "incorrect-email-or-password", ...}``. /dashboard is login_required (302 to
  /login?next=/dashboard); /logout ends the session (user_authn/views/logout.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus, unquote, urlsplit

from tests.double_http import DoubleServer, Reply

BASIC = ("modulestore", "sql")
EXTENDED = ("celery",)
LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Sign in | Open edX</title></head><body>"
              "<div id='login-anchor'><form id='login'><input name='email'>"
              "<input name='password' type='password'></form></div></body></html>")
PROXY_502 = ("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway"
             "</h1><hr>nginx</body></html>")
COURSE = {"blocks_url": "/api/courses/v1/blocks/?course_id=course-v1%3AedX%2BDemoX%2BDemo",
          "course_id": "course-v1:edX+DemoX+Demo_Course", "id": "course-v1:edX+DemoX+Demo",
          "name": "Demonstration Course", "number": "DemoX", "org": "edX",
          "start": "2013-02-05T05:00:00Z", "start_display": "Feb. 5, 2013",
          "start_type": "timestamp", "pacing": "instructor", "mobile_available": False,
          "hidden": False, "invitation_only": False}


@dataclass
class AppState:
    failing: dict[str, str] = field(default_factory=dict)  # service -> failure message
    raises: str | None = None  # runchecks raised (e.g. ImproperlyConfigured)
    proxy_error: set[str] = field(default_factory=set)  # paths a proxy answers 502 HTML
    courses: int = 3
    users: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "vigil-probe": ("probe@example.edu", "edx-Probe-pass!")})  # username -> email, pw
    course_keys: set[str] = field(default_factory=lambda: {COURSE["id"]})
    sessions: set[str] = field(default_factory=set)  # sessionid values logged in


class AppDouble:
    """One Django app (LMS or Studio) on its own port."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.state = AppState()
        self.login_url = ""  # Studio: FRONTEND_LOGIN_URL (the LMS's /login)
        self.server = DoubleServer(self.route, self.post)
        self.url = self.server.url

    def route(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        parts = urlsplit(target)
        if parts.path in self.state.proxy_error:
            return Reply.html(502, PROXY_502)
        if parts.path == "/heartbeat":
            return self._heartbeat("extended" in parse_qs(parts.query, keep_blank_values=True))
        if self.app == "lms" and parts.path == "/login":
            return Reply(200, LOGIN_PAGE.encode(), "text/html; charset=utf-8",
                         cookies=[f"csrftoken={secrets.token_hex(32)}; Path=/; SameSite=Lax"])
        if self.app == "lms" and parts.path in ("/dashboard", "/logout"):
            return self._session_page(parts.path, headers)
        prefix = "/api/courses/v1/courses/"
        if self.app == "lms" and parts.path.startswith(prefix) and len(parts.path) > len(prefix):
            key = unquote(parts.path[len(prefix):].rstrip("/"))
            if key not in self.state.course_keys:
                return Reply.json(404, {"developer_message": "Not found."})
            return Reply.json(200, {**COURSE, "id": key, "course_id": key})
        if self.app == "lms" and parts.path == "/api/courses/v1/courses/":
            count = self.state.courses
            return Reply.json(200, {"results": [COURSE] * count, "pagination": {
                "next": None, "previous": None, "count": count, "num_pages": 1}})
        if self.app == "studio" and parts.path == "/signin_redirect_to_lms":
            nxt = quote_plus(f"{self.url}/home/")
            return Reply(302, b"", "text/html; charset=utf-8",
                         {"Location": f"{self.login_url}?next={nxt}"})
        return Reply.html(404, "<html><head><title>Page not found</title></head></html>")

    def post(self, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if self.app != "lms" or urlsplit(target).path != "/api/user/v2/account/login_session/":
            return Reply.html(404, "<html><head><title>Page not found</title></head></html>")
        cookie = _cookies(headers).get("csrftoken")
        if not cookie or headers.get("x-csrftoken") != cookie:
            return Reply.html(403, "<html><head><title>403 Forbidden</title></head><body><h1>"
                                   "Forbidden (403)</h1><p>CSRF verification failed. Request "
                                   "aborted.</p></body></html>")
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if "email_or_username" not in form or "password" not in form:
            return self._auth_failed("There was an error receiving your login information. "
                                     "Please email us.", None, form)
        given = form["email_or_username"]
        user = next((u for u, (email, _) in self.state.users.items() if email == given),
                    given if given in self.state.users else None)
        if user is None or self.state.users[user][1] != form["password"]:
            return self._auth_failed("Email or password is incorrect.",
                                     "incorrect-email-or-password", form)
        session = secrets.token_hex(16)
        self.state.sessions.add(session)
        return Reply.json(200, {"success": True, "redirect_url": None}).with_cookies(
            f"sessionid={session}; HttpOnly; Path=/; SameSite=None",
            "edxloggedin=true; Path=/")

    @staticmethod
    def _auth_failed(value: str, code: str | None, form: dict[str, str]) -> Reply:
        content = {"success": False, "value": value, "email": form.get("email_or_username")}
        if code:
            content |= {"error_code": code, "context": {"failure_count": 0}}
        return Reply.json(400, content)

    def _session_page(self, path: str, headers: Mapping[str, str]) -> Reply:
        session = _cookies(headers).get("sessionid", "")
        if path == "/logout":
            self.state.sessions.discard(session)
            return Reply.html(200, "<html><head><title>Signed Out | Open edX</title></head>"
                                   "</html>").with_cookies("sessionid=; Max-Age=0; Path=/")
        if session not in self.state.sessions:
            return Reply(302, b"", "text/html; charset=utf-8",
                         {"Location": f"/login?next={quote_plus(path, safe='/')}"})
        return Reply.html(200, "<html><head><title>Dashboard | Open edX</title></head><body>"
                               "<main id='dashboard-main'>My Courses</main></body></html>")

    def _heartbeat(self, extended: bool) -> Reply:
        if self.state.raises:
            return Reply.json(503, {"error": self.state.raises})
        results = {}
        for name in BASIC + (EXTENDED if extended else ()):
            if name in self.state.failing:
                results[name] = {"status": False, "message": self.state.failing[name]}
            else:
                message = str({"time": "0.2512"}) if name == "celery" else "OK"
                results[name] = {"status": True, "message": message}
        failed = any(not r["status"] for r in results.values())
        return Reply.json(503 if failed else 200, results)

    def close(self) -> None:
        self.server.close()


class OpenedxDouble:
    def __init__(self) -> None:
        self.lms = AppDouble("lms")
        self.studio = AppDouble("studio")
        self.studio.login_url = f"{self.lms.url}/login"

    def close(self) -> None:
        self.lms.close()
        self.studio.close()


def _cookies(headers: Mapping[str, str]) -> dict[str, str]:
    return dict(p.strip().split("=", 1) for p in headers.get("cookie", "").split(";") if "=" in p)
