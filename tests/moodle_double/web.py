"""The web side of the Moodle test double: a learner's login, dashboard, course and logout.

Transcribed from moodle/moodle, independently of checks/journey/ (release 4.5 paths), and
checked against a real Moodle 5.1 site (train2023-31/moodle, the 5.1 ``public/`` layout;
docs/real-moodle.md, third session), whose paths are cited as public/...:
- login/index.php (7455b741c954af3c3e7dfda2972edc1146ea1562): a POST with a username runs
  authenticate_user_login(username, password, false, $errorcode, logintoken); on failure
  $SESSION->loginerrormsg = get_string('invalidlogin') and a redirect to
  login/index.php?loginredirect=1 (public/login/index.php: "We must redirect after every
  password submission", with the loginredirect param, default 1), which shows it; on
  success complete_user_login(), $SESSION->wantsurl = the return URL and a redirect to
  login/index.php?testsession=<userid>, which redirects on to it (or says
  get_string('cookiesnotenabled') when the session lost the user).
- complete_user_login (public/lib/moodlelib.php): a user with the preference
  auth_forcepasswordchange is redirected at once to login/change_password.php, and
  require_login sends every later page there too (303; the form answers 200).
- lib/moodlelib.php authenticate_user_login: ``validate_login_token`` comes first and a
  bad token is AUTH_LOGIN_FAILED, the same "Invalid login" a wrong password gets.
- lib/classes/session/manager.php: ``get_login_token`` (random_string(32), renewed once
  older than $CFG->sessiontimeout), ``validate_login_token`` (renews it whatever the
  outcome, so a token works once), login_user() regenerating the session id; the
  cookie is MoodleSession (prepare_cookies: HttpOnly, SameSite=Lax, path of wwwroot).
- lib/templates/loginform.mustache: form id="login", hidden anchor and logintoken,
  the error in ``<a href="#" id="loginerrormessage" class="visually-hidden">``
  (public/lib/templates/loginform.mustache; "sr-only" before Bootstrap 5).
- index.php: a logged-in user goes on to my/ ($CFG->defaulthomepage = HOMEPAGE_MY).
- require_login (lib/moodlelib.php): no user -> $SESSION->wantsurl = the page, 303 to the
  login page; a course the user is not enrolled in -> enrol/index.php?id=N.
- course/view.php: get_record('course', ..., MUST_EXIST) before require_login, so a
  deleted course is dml_missing_record_exception through core_renderer::fatal_error:
  "404 Not Found" and ``<p class="errormessage">`` with s()-escaped "Can't find data
  record in database." (lang/en/error.php invalidrecordunknown): the exception names the
  table ("... in database table course.", invalidrecord) only while debugging is on
  (public/lib/dmllib.php dml_missing_record_exception::__construct).
- require_login on a course hidden from students (public/lib/moodlelib.php):
  notice(get_string('coursehidden')) (public/lib/weblib.php), an HTTP 200 page titled
  "Notice" with ``<div id="notice" class="box py-3 generalbox">This course is currently
  unavailable to students</div>`` (core_renderer::box_start) and a continue button.
- login/logout.php: not logged in -> redirect home; confirm_sesskey fails -> the
  "Do you really want to log out?" confirmation (lang/en/moodle.php logoutconfirm);
  else require_logout() and a redirect to wwwroot/.
- redirect() (lib/weblib.php) answers 303 See Other with an absolute Location.
"""

from __future__ import annotations

import html
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.double_http import DoubleServer, Reply

COOKIE = "MoodleSession"
INVALID_LOGIN = "Invalid login, please try again"
COOKIES_OFF = "Cookies must be enabled in your browser"
COURSE_HIDDEN = "This course is currently unavailable to students"  # lang/en/moodle.php
NO_RECORD = "Can't find data record in database."  # invalidrecordunknown, debugging off


@dataclass
class Session:
    userid: int = 0
    sesskey: str = field(default_factory=lambda: secrets.token_hex(5))
    logintoken: tuple[str, float] | None = None  # (token, created)
    wantsurl: str | None = None
    loginerrormsg: str | None = None


@dataclass
class MoodleWebState:
    users: dict[str, tuple[int, str]] = field(default_factory=dict)  # username -> id, password
    courses: dict[int, str] = field(default_factory=dict)  # id -> full name
    hidden_courses: set[int] = field(default_factory=set)  # course visible = 0
    # User preference auth_forcepasswordchange (set by an admin, or when a password expires).
    force_password_change: set[str] = field(default_factory=set)  # usernames
    # $CFG->sitepolicy set and the user's policyagreed still 0: require_login sends every
    # page to user/policy.php (public/lib/moodlelib.php, sitepolicyhandler empty).
    sitepolicy: bool = False
    enrolments: set[tuple[int, int]] = field(default_factory=set)  # (userid, courseid)
    sessiontimeout: float = 8 * 3600.0  # $CFG->sessiontimeout; a login token's lifespan
    sitename: str = "Vigil Test University"
    # $CFG->showloginform (4.1+): off on SSO-only sites; the page then has no form and no
    # logintoken (auth/classes/output/login.php, loginform.mustache {{#showloginform}}).
    showloginform: bool = True
    # Paths answered by a web server that does not share the session store: it knows no
    # session, as after a failover to a node with its own file sessions.
    sessionless_paths: set[str] = field(default_factory=set)


class MoodleWebDouble:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.state = MoodleWebState()
        self.sessions: dict[str, Session] = {}
        self.server = DoubleServer(self.get, self.post, tls)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()

    def add_learner(self, username: str, password: str, *courses: int) -> int:
        userid = len(self.state.users) + 2  # 1 is the guest user
        self.state.users[username] = (userid, password)
        self.state.enrolments |= {(userid, c) for c in courses}
        return userid

    # -- sessions --------------------------------------------------------------
    def _session(self, headers: Mapping[str, str],
                 path: str) -> tuple[str, Session, list[str]]:
        cookies = dict(p.strip().split("=", 1) for p in headers.get("cookie", "").split(";")
                       if "=" in p)
        sid = cookies.get(COOKIE, "")
        if sid in self.sessions and path not in self.state.sessionless_paths:
            return sid, self.sessions[sid], []
        sid = secrets.token_hex(13)
        self.sessions[sid] = Session()
        return sid, self.sessions[sid], [self._cookie(sid)]

    @staticmethod
    def _cookie(sid: str) -> str:
        return f"{COOKIE}={sid}; path=/; HttpOnly; SameSite=Lax"

    def _login_token(self, session: Session) -> str:
        now = time.time()
        if session.logintoken is None or session.logintoken[1] < now - self.state.sessiontimeout:
            session.logintoken = (secrets.token_urlsafe(24)[:32], now)
        return session.logintoken[0]

    def _detour(self, session: Session) -> str | None:
        """Where require_login sends a logged-in user before any page, in its order."""
        names = {uid: name for name, (uid, _) in self.state.users.items()}
        if names.get(session.userid) in self.state.force_password_change:
            return "/login/change_password.php"
        return "/user/policy.php" if self.state.sitepolicy else None

    def _redirect(self, where: str, cookies: list[str]) -> Reply:
        return Reply(303, b"", "text/html; charset=utf-8",
                     {"Location": self.url + where}, cookies)

    # -- GET -------------------------------------------------------------------
    def get(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        sid, session, cookies = self._session(headers, parts.path)
        if parts.path in ("/", "/index.php"):
            if session.userid:
                return self._redirect("/my/", cookies)
            return self._page(session, "page-site-index", self.state.sitename,
                              "<p>Available courses</p>", cookies)
        if parts.path == "/login/index.php":
            return self._login_page(session, query, cookies)
        if parts.path == "/login/change_password.php":
            if not session.userid:
                return self._require_login(session, target, cookies)
            return self._page(session, "page-login-change_password", "Change password",
                              "<h2>Change password</h2><p>You must change your password to "
                              "proceed.</p>", cookies)
        if parts.path == "/user/policy.php":
            return self._page(session, "page-user-policy", "Site policy agreement",
                              "<p>You must agree to this policy to continue using this site."
                              "</p>", cookies)
        if parts.path == "/my/":
            if not session.userid:
                return self._require_login(session, target, cookies)
            if (detour := self._detour(session)) is not None:
                return self._redirect(detour, cookies)
            return self._page(session, "page-my-index", "Dashboard",
                              "<h1>Dashboard</h1><section class='block_timeline'></section>",
                              cookies)
        if parts.path == "/course/view.php":
            return self._course(session, query, target, cookies)
        if parts.path == "/enrol/index.php":
            return self._page(session, "page-enrol-index", "Enrolment options",
                              "<p>You cannot enrol yourself in this course.</p>", cookies)
        if parts.path == "/login/logout.php":
            return self._logout(sid, session, query, cookies)
        return self._fatal(session, "Sorry, the requested file could not be found", cookies)

    def _login_page(self, session: Session, query: dict[str, str],
                    cookies: list[str]) -> Reply:
        error = ""
        if "testsession" in query:
            if query["testsession"] == str(session.userid) and session.userid:
                urltogo, session.wantsurl = session.wantsurl or self.url + "/", None
                return Reply(303, b"", "text/html; charset=utf-8", {"Location": urltogo},
                             cookies)
            error = COOKIES_OFF
        if session.loginerrormsg:
            error, session.loginerrormsg = session.loginerrormsg, None
        if session.userid:
            return self._page(session, "page-login-index", "Log in to the site",
                              "<p>You are already logged in.</p>", cookies)
        errors = (f'<div class="loginerrors mt-3"><a href="#" id="loginerrormessage" '
                  f'class="visually-hidden">{html.escape(error)}</a><div class="alert '
                  f'alert-danger" role="alert">{html.escape(error)}</div></div>') if error else ""
        if not self.state.showloginform:
            return self._page(session, "page-login-index", "Log in to the site",
                              f'{errors}<div class="login-identityproviders"><a class="btn" '
                              f'href="{self.url}/auth/oauth2/login.php?id=1">Log in with SSO'
                              "</a></div>", cookies)
        form = (f'{errors}<form class="login-form" action="{self.url}/login/index.php" '
                'method="post" id="login"><input id="anchor" type="hidden" name="anchor" '
                f'value=""><input type="hidden" name="logintoken" '
                f'value="{self._login_token(session)}"><input type="text" name="username" '
                'id="username" value=""><input type="password" name="password" '
                'id="password" value=""><button type="submit" id="loginbtn">Log in</button>'
                "</form>")
        return self._page(session, "page-login-index", "Log in to the site", form, cookies)

    def _require_login(self, session: Session, target: str, cookies: list[str]) -> Reply:
        session.wantsurl = self.url + target
        return self._redirect("/login/index.php", cookies)

    def _course(self, session: Session, query: dict[str, str], target: str,
                cookies: list[str]) -> Reply:
        courseid = int(query["id"]) if query.get("id", "").isdigit() else 0
        if courseid not in self.state.courses:  # MUST_EXIST, before require_login
            return self._fatal(session, NO_RECORD, cookies)
        if not session.userid:
            return self._require_login(session, target, cookies)
        if (detour := self._detour(session)) is not None:
            return self._redirect(detour, cookies)
        if courseid in self.state.hidden_courses:
            return self._page(session, "page-course-view", "Notice",
                              f'<div id="notice" class="box py-3 generalbox">{COURSE_HIDDEN}'
                              f'</div><div class="continuebutton"><a href="{self.url}/">'
                              "Continue</a></div>", cookies)
        if (session.userid, courseid) not in self.state.enrolments:
            return self._redirect(f"/enrol/index.php?id={courseid}", cookies)
        name = html.escape(self.state.courses[courseid])
        return self._page(session, "page-course-view-topics", f"Course: {name}",
                          f"<h1>{name}</h1><ul class='topics'></ul>", cookies)

    def _logout(self, sid: str, session: Session, query: dict[str, str],
                cookies: list[str]) -> Reply:
        if not session.userid:
            return self._redirect("/", cookies)
        if query.get("sesskey") != session.sesskey:
            return self._page(session, "page-login-logout", "Log out",
                              "<div class='modal-body'><p>Do you really want to log out?</p>"
                              "</div>", cookies)
        del self.sessions[sid]  # require_logout(): the session ends, a fresh one starts
        new = secrets.token_hex(13)
        self.sessions[new] = Session()
        return self._redirect("/", [self._cookie(new)])

    # -- POST ------------------------------------------------------------------
    def post(self, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        sid, session, cookies = self._session(headers, urlsplit(target).path)
        if urlsplit(target).path != "/login/index.php":
            return self._fatal(session, "Sorry, the requested file could not be found", cookies)
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        username = form.get("username", "").strip().lower()
        current = self._login_token(session)
        session.logintoken = None  # validate_login_token renews it, whatever the outcome
        user = self.state.users.get(username)
        if form.get("logintoken", "") != current or user is None \
                or user[1] != form.get("password", ""):
            session.loginerrormsg = INVALID_LOGIN
            return self._redirect("/login/index.php?loginredirect=1", cookies)
        del self.sessions[sid]  # complete_user_login(): a new session id
        new, session = secrets.token_hex(13), Session(userid=user[0], wantsurl=session.wantsurl)
        self.sessions[new] = session
        session.wantsurl = session.wantsurl or self.url + "/"
        if username in self.state.force_password_change:  # complete_user_login()
            return self._redirect("/login/change_password.php", [self._cookie(new)])
        return self._redirect(f"/login/index.php?testsession={user[0]}", [self._cookie(new)])

    # -- pages -----------------------------------------------------------------
    def _page(self, session: Session, bodyid: str, title: str, content: str,
              cookies: list[str], status: int = 200) -> Reply:
        menu = (f'<a class="dropdown-item" href="{self.url}/login/logout.php?sesskey='
                f'{session.sesskey}">Log out</a>') if session.userid else (
                f'<a href="{self.url}/login/index.php">Log in</a>')
        page = (f"<!DOCTYPE html><html dir='ltr' lang='en'><head><title>{title} | "
                f"{self.state.sitename}</title><script>var M = {{}}; M.yui = {{}};\n"
                f'M.cfg = {{"wwwroot":"{self.url}","sesskey":"{session.sesskey}",'
                f'"themerev":"1733000000","slasharguments":1,"theme":"boost"}};</script>'
                f"</head><body id='{bodyid}'><nav class='usermenu'>{menu}</nav>"
                f"<div role='main'>{content}</div></body></html>")
        return Reply(status, page.encode(), "text/html; charset=utf-8", {}, cookies)

    def _fatal(self, session: Session, message: str, cookies: list[str]) -> Reply:
        escaped = html.escape(message, quote=False).replace("'", "&#039;")  # s()
        body = (f'<div class="box errorbox"><p class="errormessage">{escaped}</p>'
                "<p class='errorcode'><a href="
                "'https://docs.moodle.org/501/en/error/moodle/invalidrecordunknown'>More "
                "information about this error</a></p></div>")
        return self._page(session, "page-site-index", "Error", body, cookies, status=404)
