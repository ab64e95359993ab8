"""The built-in journeys, written as steps of the same spec a custom journey uses.

Each follows the LMS's own pages, read in its source:

Moodle (moodle/moodle; login/index.php at 7455b741c954af3c3e7dfda2972edc1146ea1562; checked
against a real 5.1 site built from train2023-31/moodle, public/login/index.php,
public/lib/moodlelib.php require_login, in docs/real-moodle.md):
- GET login/index.php renders the form with the hidden ``logintoken``
  (lib/classes/session/manager.php ``get_login_token``; a new one once older than
  $CFG->sessiontimeout). POST username, password, logintoken (and anchor).
- ``authenticate_user_login`` (lib/moodlelib.php) fails a token that is not the session's
  (``validate_login_token``, which also renews it) exactly as a wrong password:
  AUTH_LOGIN_FAILED. login/index.php keeps get_string('invalidlogin') in
  $SESSION->loginerrormsg and redirects to itself, which shows it in the form's
  ``id="loginerrormessage"`` (lib/templates/loginform.mustache).
- Success: the session id is regenerated (complete_user_login), then a 303 to
  login/index.php?testsession=<userid> and on to the wanted URL.
- my/ and course/view.php call require_login: no session -> 303 to the login page; not
  enrolled -> enrol/index.php?id=N; a forced password change (the user preference
  auth_forcepasswordchange, also set when a password expires) -> 303 to
  login/change_password.php, which answers 200; a site policy not yet agreed, or a
  profile not fully set up, -> the policy or user/edit.php page, 200 as well. So the
  dashboard and course steps also fail when they end anywhere but their own page: an
  HTTP 200 alone does not mean the learner got there.
- A course hidden from students: require_login calls notice(get_string('coursehidden'))
  (lib/weblib.php), an HTTP 200 page with ``<div id="notice" class="box py-3
  generalbox">This course is currently unavailable to students</div>``.
- course/view.php reads the course with MUST_EXIST before require_login, so a deleted
  course is the error page core_renderer::fatal_error sends with "404 Not Found" and
  ``<p class="errormessage">Can't find data record in database.</p>``
  (dml_missing_record_exception, lib/dmllib.php: the table is named,
  "... in database table course.", only while debugging is on).
- login/logout.php: a sesskey (M.cfg "sesskey" on every page) that is not the session's
  gets the "Do you really want to log out?" confirmation (logoutconfirm); a good one
  ends the session and redirects to the site's front page.

Canvas (instructure/canvas-lms): the password form at /login/canvas
(``pseudonym_session[unique_id]``, spec/apis/auth_spec.rb), the REST API with the
token: /api/v1/users/self and /api/v1/courses/:id (401 ``{"errors": [{"message": ...}]}``
for a bad token or a user who may not see the course, 404 "The specified resource does
not exist." for a deleted one). The token replaces a password login: no form is posted.

Open edX (openedx/edx-platform; openedx/core/djangoapps/user_authn/views/login.py at
02a8549b8fed18fae5de991b860acb099259dde1): GET /login sets the ``csrftoken`` cookie;
POST /api/user/v2/account/login_session/ (``LoginSessionView``, csrf_protect) with
``email_or_username`` and ``password`` and the token in ``X-CSRFToken`` answers
``{"success": true, ...}``, or 400 ``{"success": false, "value": "Email or password is
incorrect.", "error_code": ...}`` (AuthFailedError.get_response); then /dashboard
(login_required: 302 to /login?next=...), the course through the course API
(/api/courses/v1/courses/<course key>/?username=..., lms/djangoapps/course_api/views.py
``CourseDetailView``: 404 when the course is not available; older releases want the
username of an authenticated caller) and /logout.
"""

from __future__ import annotations

from typing import Any

from checks.journey.spec import StepSpec

_BACK_TO_LOGIN = "{lms} sent the learner back to the login page: the session did not last"
_MOODLE_LOGIN_URL = r"/login/index\.php"
_PASSWORD_CHANGE = {
    "url_regex": r"/login/change_password\.php",
    "reason": "Moodle wants the probe account to change its password first (Force password "
              "change is on, or the password expired): the learner reaches no page"}


def _elsewhere(own_page: str, what: str) -> dict[str, str]:
    """Fails a step whose final URL is not its own page, quoting the path it ended on: a
    redirect to a policy or profile page answers HTTP 200 too."""
    return {"url_regex": rf"^(?!.*{own_page})[a-z]+://[^/]*([^?#]*)",
            "reason": f"Moodle sent the learner to '{{match}}' instead of {what}"}


MOODLE: list[dict[str, Any]] = [
    {"name": "login_page", "path": "/login/index.php",
     "extract": [{"name": "logintoken", "css": "input[name=logintoken]", "attr": "value"}]},
    {"name": "login", "kind": "post", "path": "/login/index.php",
     "form": {"anchor": "", "logintoken": "{logintoken}", "username": "{username}",
              "password": "{password}"},
     "fail_when": [
         {"regex": r'id="loginerrormessage"[^>]*>([^<]*)<',
          "reason": "login refused: Moodle answered the login form again with '{match}' "
                    "(a wrong password, or a logintoken its session no longer knows)"},
         {"url_regex": _MOODLE_LOGIN_URL,
          "reason": "Moodle showed the login page again after the login (cookies not kept?)"},
         _PASSWORD_CHANGE,
     ]},
    {"name": "dashboard", "path": "/my/",
     "fail_when": [{"url_regex": _MOODLE_LOGIN_URL,
                    "reason": _BACK_TO_LOGIN.format(lms="Moodle")},
                   _PASSWORD_CHANGE,
                   # /my/courses.php: the dashboard is off ($CFG->enabledashboard).
                   _elsewhere(r"/my/(?:index\.php|courses\.php)?(?:[?#]|$)", "the dashboard")],
     "extract": [{"name": "sesskey", "regex": r'"sesskey":"([A-Za-z0-9]+)"'}]},
    {"name": "course", "path": "/course/view.php?id={course_id}",
     "fail_when": [
         {"status": [404], "regex": r'<p class="errormessage">([^<]*)</p>',
          "reason": "Moodle says '{match}': no course has this id (deleted, or a wrong "
                    "course_id)"},
         {"regex": r'<p class="errormessage">([^<]*)</p>', "reason": "Moodle says '{match}'"},
         {"regex": r'<div id="notice"[^>]*>([^<]*)<',
          "reason": "Moodle says '{match}' (a hidden course, or one the probe account may "
                    "not enter)"},
         {"url_regex": r"/enrol/index\.php",
          "reason": "the probe account is not enrolled in the course (Moodle offered the "
                    "enrolment page)"},
         {"url_regex": _MOODLE_LOGIN_URL, "reason": _BACK_TO_LOGIN.format(lms="Moodle")},
         _PASSWORD_CHANGE,
         _elsewhere(r"/course/view\.php", "the course"),
     ]},
    {"name": "logout", "path": "/login/logout.php?sesskey={sesskey}",
     "fail_when": [{"regex": r"Do you really want to log out\?",
                    "reason": "Moodle asked to confirm the logout: it did not accept the "
                              "sesskey of the dashboard"}]},
]

_CANVAS_MESSAGE = r'"message"\s*:\s*"([^"]*)"'
_BEARER = {"Authorization": "Bearer {token}", "Accept": "application/json"}

CANVAS: list[dict[str, Any]] = [
    {"name": "login_page", "path": "/login/canvas",
     "expect_contains": ["pseudonym_session[unique_id]"]},
    {"name": "api_self", "path": "/api/v1/users/self", "headers": _BEARER,
     "fail_when": [{"status": [401], "regex": _CANVAS_MESSAGE,
                    "reason": "Canvas refused the access token: '{match}'"}],
     "extract": [{"name": "user_id", "json_path": "id", "secret": False}]},
    {"name": "course", "path": "/api/v1/courses/{course_id}", "headers": _BEARER,
     "fail_when": [
         {"status": [404], "regex": _CANVAS_MESSAGE,
          "reason": "Canvas says '{match}' (the course is gone)"},
         {"status": [401, 403], "regex": _CANVAS_MESSAGE,
          "reason": "the probe account may not see the course: Canvas says '{match}'"},
     ],
     "extract": [{"name": "course", "json_path": "id", "secret": False}]},
]

OPENEDX: list[dict[str, Any]] = [
    {"name": "login_page", "path": "/login",
     "extract": [{"name": "csrftoken", "cookie": "csrftoken"}]},
    {"name": "login", "kind": "post", "path": "/api/user/v2/account/login_session/",
     "form": {"email_or_username": "{username}", "password": "{password}"},
     "headers": {"X-CSRFToken": "{csrftoken}", "Referer": "{site_url}/login",
                 "Accept": "application/json"},
     "fail_when": [
         {"status": [400], "regex": r'"value"\s*:\s*"([^"]*)"',
          "reason": "login refused: Open edX says '{match}'"},
         {"status": [403], "regex": "CSRF",
          "reason": "Open edX refused the login's CSRF token (csrftoken cookie and "
                    "X-CSRFToken header)"},
     ],
     "expect_json": {"success": True}},
    {"name": "dashboard", "path": "/dashboard",
     "fail_when": [{"url_regex": r"/login(\?|$)",
                    "reason": _BACK_TO_LOGIN.format(lms="Open edX")}]},
    {"name": "course", "path": "/api/courses/v1/courses/{course_id}/?username={username}",
     "headers": {"Accept": "application/json"},
     "fail_when": [{"status": [404], "reason": "Open edX has no such course (HTTP 404): "
                                               "it is gone or the course key is wrong"}],
     "extract": [{"name": "course", "json_path": "id", "secret": False}]},
    {"name": "logout", "path": "/logout"},
]

BUILTIN = {"moodle": MOODLE, "canvas": CANVAS, "openedx": OPENEDX}


def builtin_steps(journey: str) -> list[StepSpec]:
    return [StepSpec.model_validate(step) for step in BUILTIN[journey]]
