"""Pages with known accessibility faults, and a Moodle-shaped login, served on loopback.

The pages under /pages/ carry faults whose axe-core impact was read from axe-core 4.x's
rule metadata (lib/rules/*.json: image-alt, label and button-name are "critical";
color-contrast and link-name "serious"; html-xml-lang-mismatch and meta-viewport
"moderate"; empty-heading "minor" and tagged best-practice only, so outside the default
WCAG 2.1 AA tags).

The login side follows Moodle (moodle/moodle at 33c9499b28270127b4a302338eee2146e755c121):
- require_login() (lib/moodlelib.php) sends a visitor without a session to
  get_login_url() through redirect() (lib/weblib.php), which answers
  "303 See Other" with a Location header;
- login/index.php shows core/loginform (lib/templates/loginform.mustache): form
  id="login" posting username, password and the hidden logintoken; a POST with a wrong
  logintoken or wrong password sets $SESSION->loginerrormsg and redirects (303) back to
  login/index.php; a good one sets the MoodleSession cookie and redirects to the
  wantsurl or /my/;
- login/index.php for a user already logged in (not the guest) shows no form but
  $OUTPUT->confirm(get_string('alreadyloggedin', 'error', fullname($USER))) with Log out
  and Cancel buttons (train2023-31/moodle public/login/index.php, seen on a real 5.1 site:
  "You are already logged in as Vigil Probe, you need to log out before logging in as
  different user.").
"""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USERNAME, PASSWORD = "a11y-probe", "probe-Passw0rd!"

VIOLATIONS = """<!doctype html>
<html lang="en" xml:lang="fr">
<head><meta charset="utf-8"><title>Course: Biology 101</title>
<meta name="viewport" content="width=device-width, user-scalable=no">
<style>.faint { color: #999; background: #aaa; }</style></head>
<body><main>
<h1>Biology 101</h1><h2></h2>
<img src="/cell.png" width="10" height="10">
<img src="/leaf.png" width="10" height="10">
<p class="faint">Due next week</p>
<form><input type="text" name="answer"></form>
<a href="/next"></a>
<button></button>
</main></body></html>"""

CLEAN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashboard</title></head>
<body><main><h1>Dashboard</h1>
<img src="/logo.png" alt="University logo" width="10" height="10">
<p style="color: #000; background: #fff">Your courses</p>
<form><label for="q">Search courses</label> <input id="q" type="search" name="q">
<button type="submit">Search</button></form>
<a href="/course/view.php?id=2">Biology 101</a>
</main></body></html>"""

# The course a logged-in learner sees: one image without alt (one critical violation),
# so a count of 1 shows this page was audited and not the login form.
COURSE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Course: Biology 101</title></head>
<body><main><h1>Biology 101</h1><img src="/cell.png" width="10" height="10">
<p>Week 1: cells</p></main></body></html>"""

# A clean page that embeds the course page: axe audits inside the frame too (as an
# H5P activity or an LTI tool is embedded in a Moodle course).
FRAMED = CLEAN.replace("</main>", '<iframe src="/course/frame.html" title="Activity">'
                       "</iframe></main>")

# Answers at once, but its image never does: the load event never comes.
STUCK = CLEAN.replace('src="/logo.png"', 'src="/pages/slow.html"')

LOGIN = """<!doctype html>
<html lang="en" dir="ltr"><head><meta charset="utf-8">
<title>Log in to the site | Campus</title></head>
<body id="page-login-index" class="format-site path-login"><main>
<div class="loginform"><h1 class="login-heading mb-4">Log in to Campus</h1>%s
<form class="login-form" action="/login/index.php" method="post" id="login">
<input id="anchor" type="hidden" name="anchor" value="">
<input type="hidden" name="logintoken" value="%s">
<div class="login-form-username mb-3"><label for="username" class="visually-hidden">Username</label>
<input type="text" name="username" id="username" value="" placeholder="Username"
 autocomplete="username"></div>
<div class="login-form-password mb-3"><label for="password" class="visually-hidden">Password</label>
<input type="password" name="password" id="password" value="" placeholder="Password"
 autocomplete="current-password"></div>
<div class="login-form-submit mb-3">
<button class="btn btn-primary btn-lg" type="submit" id="loginbtn">Log in</button></div>
</form></div></main></body></html>"""
_ERROR = '<div class="alert alert-danger" role="alert">Invalid login, please try again</div>'
ALREADY_LOGGED_IN = """<!doctype html>
<html lang="en" dir="ltr"><head><meta charset="utf-8">
<title>Log in to the site | Campus</title></head>
<body id="page-login-index" class="format-site path-login"><main>
<div role="alertdialog" aria-labelledby="modal-header" aria-describedby="modal-body"
 class="box py-3 modal modal-in-page show"><div class="modal-dialog"><div class="modal-content">
<div class="modal-header"><h4 id="modal-header">Confirm</h4></div>
<div class="modal-body" id="modal-body"><p>You are already logged in as Probe Learner, you need
to log out before logging in as different user.</p></div>
<div class="modal-footer"><form method="get" action="/"><button type="submit"
 class="btn btn-secondary">Cancel</button></form>
<form method="post" action="/login/logout.php"><button type="submit"
 class="btn btn-primary">Log out</button></form></div></div></div></div></main></body></html>"""


class A11ySite:
    """Serves the pages on 127.0.0.1; /pages/slow.html answers only when closed."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.logins: list[str] = []  # "ok" / "bad password" / "bad token", per POST
        self.login_views: list[str] = []  # "form" / "already logged in", per login page GET
        self._tokens: dict[str, str] = {}  # pre-login session -> logintoken
        self._release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                site._get(self)

            def do_POST(self) -> None:  # noqa: N802
                site._post(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _session(self, handler: BaseHTTPRequestHandler) -> str | None:
        for part in handler.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "MoodleSession":
                return value
        return None

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        pages = {"/pages/violations.html": VIOLATIONS, "/pages/clean.html": CLEAN,
                 "/my/": CLEAN, "/pages/stuck.html": STUCK,
                 "/pages/framed.html": FRAMED, "/course/frame.html": COURSE}
        if path in pages:
            return _send(h, 200, pages[path])
        if path == "/pages/slow.html":
            self._release.wait(60)
            return None
        if path == "/course/view.php":
            if self._session(h) in self.sessions:
                return _send(h, 200, COURSE)
            return _send(h, 303, "", Location=f"{self.url}/login/index.php")
        if path == "/login/index.php" and self._session(h) in self.sessions:
            self.login_views.append("already logged in")
            return _send(h, 200, ALREADY_LOGGED_IN)
        if path == "/login/index.php":
            self.login_views.append("form")
            error = _ERROR if "error" in h.path else ""
            session = secrets.token_hex(8)
            self._tokens[session] = secrets.token_hex(16)
            return _send(h, 200, LOGIN % (error, self._tokens[session]),
                         **{"Set-Cookie": f"MoodleSession={session}; path=/; HttpOnly"})
        if path.endswith(".png"):
            return _send(h, 404, "")
        return _send(h, 404, "<!doctype html><title>Not found</title><h1>Not found</h1>")

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()}
        session = self._session(h) or ""
        if form.get("logintoken") != self._tokens.get(session):
            self.logins.append("bad token")
            return _send(h, 303, "", Location=f"{self.url}/login/index.php?error=1")
        if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
            self.logins.append("bad password")
            return _send(h, 303, "", Location=f"{self.url}/login/index.php?error=1")
        self.logins.append("ok")
        fresh = secrets.token_hex(8)  # Moodle regenerates the session id on login
        self.sessions.add(fresh)
        return _send(h, 303, "", Location=f"{self.url}/my/",
                     **{"Set-Cookie": f"MoodleSession={fresh}; path=/; HttpOnly"})


def _send(h: BaseHTTPRequestHandler, status: int, body: str, **headers: str) -> None:
    data = body.encode()
    try:
        h.send_response(status)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
    except OSError:
        pass  # the browser went away first
