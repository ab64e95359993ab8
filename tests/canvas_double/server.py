"""A Canvas stand-in that answers the health and API endpoints as Canvas does.

Transcribed from instructure/canvas-lms, independently of checks/canvas/:
- app/controllers/info_controller.rb (00b222d77ee43d046e6aee0347c4ed5b27e1741f):
  ``health_check`` ("canvas ok" text, or JSON with status/asset_urls/revision/
  installation_uuid; an exception -> Rails' 500 page), ``readiness``
  (``{status, components}``, 503 on any failure), ``deep`` (``{status, readiness,
  critical, secondary}``, 503 when readiness or a critical dependency fails),
  ``components_to_hash`` (name, status 200/503, message, response_time_ms).
- lib/health_checks.rb (0e63cfcdc7dc5602956598562ffd088796e3b65d): the readiness
  components in their order, the critical and secondary dependencies, ``component_check``
  ("service is up" unless an exception gave its message; a check that merely returns
  false keeps "service is up" with status false).
- spec/controllers/info_controller_spec.rb: /internal/readiness routes to readiness.
- app/controllers/application_controller.rb (9c1e2a539c26a9bb76b7c8f22b4f9e9ac55b3035) and
  lib/authentication_methods.rb (9834937c8c184837b8058d44fdc366dadf086019): 401 with
  ``WWW-Authenticate: Bearer realm="canvas-lms"`` and ``{"errors": [{"message":
  "Invalid access token."}]}`` for a bad token; ``{"status": "unauthenticated", "errors":
  [{"message": "user authorization required"}]}`` with none.
- For the learner journey: the password form at /login/canvas
  (app/views/login/canvas/new.html.erb: ``pseudonym_session[unique_id]``,
  ``pseudonym_session[password]``, the hidden ``authenticity_token``; posted as in
  spec/apis/auth_spec.rb), and GET /api/v1/courses/:id (app/controllers/
  courses_controller.rb ``show``): a course the token's user may not read ->
  render_unauthorized_action, 401 ``{"status": "unauthorized", "errors": [{"message":
  "user not authorized to perform that action"}]}`` (as spec/apis/v1/*_spec.rb expect);
  a deleted or unknown one -> RecordNotFound, 404 ``{"errors": [{"message": "The
  specified resource does not exist."}]}`` (application_controller.rb
  rescue_action_in_public).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.double_http import DoubleServer, Reply

READINESS = ("common_css", "common_js", "consul", "filesystem", "jobs", "postgresql",
             "ha_cache", "rev_manifest", "vault")
# A site with Redis, the rich content editor service and Consul configured.
CRITICAL = ("default_shard", "redis", "rich_content_service", "consul")
SECONDARY = ("canvadocs", "incoming_mail")
# What health_check itself touches: the database, the jobs database, a temp file, Consul,
# Vault; any of them raising makes Rails answer its 500 page.
HEALTH_CHECK_TOUCHES = {"postgresql", "jobs", "filesystem", "consul", "vault"}
TOKEN = "7~CanvasDoubleTokenNeverShown0123456789abcdef"
RAILS_500 = ("<!DOCTYPE html><html><head><title>We're sorry, but something went wrong "
             "(500)</title></head><body><h1>We're sorry, but something went wrong.</h1>"
             "</body></html>")
LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Log In to Canvas</title></head><body>"
              "<form id='login_form' action='/login/canvas' method='post'>"
              "<input type='hidden' name='authenticity_token' value='dbl+tok=='>"
              "<input type='text' name='pseudonym_session[unique_id]' "
              "id='pseudonym_session_unique_id'><input type='password' "
              "name='pseudonym_session[password]' id='pseudonym_session_password'>"
              "<button type='submit'>Log In</button></form></body></html>")
PROXY_502 = ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
             "Gateway</h1></center><hr><center>nginx</center></body></html>")


@dataclass
class CanvasState:
    # component name -> how it fails: an exception message, or "" for a check that
    # returned false (Canvas then still says "service is up").
    readiness_failing: dict[str, str] = field(default_factory=dict)
    critical_failing: dict[str, str] = field(default_factory=dict)
    secondary_failing: dict[str, str] = field(default_factory=dict)
    proxy_error: set[str] = field(default_factory=set)  # paths a proxy answers 502 HTML
    revision: str = "3f9c2e1a"
    courses: dict[int, str] = field(default_factory=lambda: {42: "Biology 101"})
    enrolled: set[int] = field(default_factory=lambda: {42})  # the token user's courses


class CanvasDouble:
    def __init__(self) -> None:
        self.state = CanvasState()
        self.server = DoubleServer(self.route)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()

    def route(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        path = urlsplit(target).path
        if path in self.state.proxy_error:
            return Reply.html(502, PROXY_502)
        if path == "/health_check":
            return self._health_check(headers)
        if path in ("/readiness", "/internal/readiness"):
            ready = self._readiness()
            return Reply.json(ready["status"], ready)
        if path == "/deep":
            return self._deep()
        if path == "/api/v1/users/self":
            return self._users_self(headers)
        if path == "/login/canvas":
            return Reply.html(200, LOGIN_PAGE, **{"Set-Cookie": "_normandy_session=d0ub1e; "
                                                  "path=/; HttpOnly; SameSite=None"})
        if path.startswith("/api/v1/courses/") and path[16:].isdigit():
            return self._course(int(path[16:]), headers)
        return Reply.html(404, "<html><head><title>Page Not Found</title></head></html>")

    @staticmethod
    def _components(names: tuple[str, ...], failing: dict[str, str]) -> list[dict]:
        found = []
        for i, name in enumerate(names):
            up = name not in failing
            message = "service is up" if up or not failing[name] else failing[name]
            found.append({"name": name, "status": 200 if up else 503, "message": message,
                          "response_time_ms": 1.25 + i})
        return found

    def _readiness(self) -> dict:
        components = self._components(READINESS, self.state.readiness_failing)
        failed = any(c["status"] != 200 for c in components)
        return {"status": 503 if failed else 200, "components": components}

    def _deep(self) -> Reply:
        readiness = self._readiness()
        critical = self._components(CRITICAL, self.state.critical_failing)
        secondary = self._components(SECONDARY, self.state.secondary_failing)
        status = 503 if readiness["status"] == 503 or any(
            c["status"] != 200 for c in critical) else 200
        return Reply.json(status, {"status": status, "readiness": readiness,
                                   "critical": critical, "secondary": secondary})

    def _health_check(self, headers: Mapping[str, str]) -> Reply:
        if HEALTH_CHECK_TOUCHES & set(self.state.readiness_failing):
            return Reply.html(500, RAILS_500)
        if "application/json" not in headers.get("accept", ""):
            return Reply(200, b"canvas ok", "text/plain; charset=utf-8")
        return Reply.json(200, {
            "status": "canvas ok",
            "asset_urls": {"common_css": "/dist/brandable_css/new_styles_normal_contrast/"
                                         "bundles/common-1234.css",
                           "common_js": "/dist/webpack-production/main-1234.js",
                           "revved_url": "/dist/fonts/lato/extended/Lato-Regular-1234.woff2"},
            "revision": self.state.revision,
            "installation_uuid": "0b8e1f6a-double"})

    def _course(self, course_id: int, headers: Mapping[str, str]) -> Reply:
        refused = self._refused(headers)
        if refused is not None:
            return refused
        if course_id not in self.state.courses:
            return Reply.json(404, {"errors": [{"message":
                                                "The specified resource does not exist."}]})
        if course_id not in self.state.enrolled:
            return Reply.json(401, {"status": "unauthorized", "errors": [
                {"message": "user not authorized to perform that action"}]})
        return Reply.json(200, {"id": course_id, "name": self.state.courses[course_id],
                                "course_code": "BIO101", "workflow_state": "available",
                                "account_id": 1, "root_account_id": 1,
                                "enrollment_term_id": 1, "default_view": "modules"})

    def _refused(self, headers: Mapping[str, str]) -> Reply | None:
        auth = headers.get("authorization", "")
        if not auth:
            return Reply.json(401, {"status": "unauthenticated",
                                    "errors": [{"message": "user authorization required"}]})
        if auth != f"Bearer {TOKEN}":
            return Reply.json(401, {"errors": [{"message": "Invalid access token."}]},
                              **{"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
        return None

    def _users_self(self, headers: Mapping[str, str]) -> Reply:
        auth = headers.get("authorization", "")
        if not auth:
            return Reply.json(401, {"status": "unauthenticated",
                                    "errors": [{"message": "user authorization required"}]})
        if auth != f"Bearer {TOKEN}":
            return Reply.json(401, {"errors": [{"message": "Invalid access token."}]},
                              **{"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
        return Reply.json(200, {"id": 1, "name": "Vigil Monitor",
                                "sortable_name": "Monitor, Vigil", "short_name": "Vigil",
                                "avatar_url": "https://canvas.example.edu/images/"
                                              "messages/avatar-50.png",
                                "locale": None, "effective_locale": "en"})
