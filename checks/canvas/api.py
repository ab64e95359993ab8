"""The `canvas_api` check: Canvas's REST API answers a real, authenticated call.

Data flow: scheduler -> CanvasApiCheck.run(ctx) -> GET <url>/api/v1/users/self with
``Authorization: Bearer <token>`` -> Result with lms_canvas_api_up and the shared
lms_canvas_endpoint_*{endpoint="api"} samples.

What Canvas answers, read in instructure/canvas-lms:
- app/controllers/application_controller.rb (9c1e2a539c26a9bb76b7c8f22b4f9e9ac55b3035,
  ``rescue_action_in_public``): AccessTokenError -> 401
  ``{"errors": [{"message": "Invalid access token."}]}`` (also "Expired access token."
  and "Revoked access token."), with
  ``WWW-Authenticate: Bearer realm="canvas-lms"`` (lib/authentication_methods.rb at
  9834937c8c184837b8058d44fdc366dadf086019, ``add_www_authenticate_header``);
  AccessTokenScopeError -> "Insufficient scopes on access token."
- lib/authentication_methods.rb ``render_json_unauthorized``: 401 ``{"status":
  "unauthenticated", "errors": [{"message": "user authorization required"}]}`` without a
  token, 403/401 "unauthorized" for a user who may not make the call.

The token is a secret: it travels only in the Authorization header, and every text this
check emits is scrubbed of it. Canvas's own error message (never the token) names the
problem.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr

from checks.base import CheckContext
from checks.canvas.endpoint import ENDPOINT_METRICS, endpoint_samples
from checks.http import redact_url
from checks.json_endpoint import Answer, ClientCache, EndpointSpec, fetch, json_body, short
from monitor.kernel.metric import MetricSpec, declare, merge
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import Duration
from monitor.kernel.units import fmt_seconds

METRICS = merge(ENDPOINT_METRICS, declare(
    MetricSpec("lms_canvas_api_up", "gauge",
               "1 if Canvas's REST API accepted the token and answered the call, else 0."),
))


class CanvasApiSpec(EndpointSpec):
    type: Literal["canvas_api"]
    token: SecretStr = Field(min_length=1)  # a Canvas access token (Profile > Settings)
    path: str = Field(default="/api/v1/users/self", pattern=r"^/api/v1/[A-Za-z0-9_./-]*$")
    latency_warning: Duration = Field(default=2.0, gt=0)
    latency_critical: Duration = Field(default=5.0, gt=0)


class CanvasApiCheck:
    def __init__(self, spec: CanvasApiSpec) -> None:
        self.spec = spec
        self._clients = ClientCache(verify_tls=spec.verify_tls, ca_file=spec.ca_file)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run(self, ctx: CheckContext) -> Result:
        root = (self.spec.url or ctx.target.url or "").rstrip("/")
        if not root.lower().startswith(("http://", "https://")):
            return Result(Status.UNKNOWN, f"no http(s) Canvas URL to probe (url={root!r})")
        token = self.spec.token.get_secret_value()
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.25)
        answer = await fetch(self._clients.get(ctx.http_transport), root + self.spec.path,
                             budget, headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/json"})
        status, text, facts = self._judge(answer)
        ok = status is Status.OK
        samples = [*endpoint_samples("api", answer, ok and answer.status_code == 200),
                   Sample("lms_canvas_api_up", 1.0 if answer.status_code == 200 and
                          facts.get("user_id") is not None else 0.0)]
        details = {"url": redact_url(root + self.spec.path), "status_code": answer.status_code,
                   "seconds": round(answer.seconds, 4), **facts}
        return _scrub(Result(status, text, tuple(samples), details), token)

    def _judge(self, answer: Answer) -> tuple[Status, str, dict[str, Any]]:
        where = f"API {self.spec.path}"
        if answer.error:
            return Status.CRITICAL, f"{where}: {answer.error}", {}
        body, why = json_body(answer)
        code = answer.status_code or 0
        message = _canvas_message(body)
        if code == 401:
            said = f": Canvas says {message!r}" if message else ""
            return (Status.CRITICAL, f"{where}: the access token was refused (HTTP 401{said}); "
                    "issue a new token and update the config", {"token": "rejected"})
        if code == 403:
            said = f": Canvas says {message!r}" if message else ""
            return (Status.CRITICAL, f"{where}: the token's user may not make this call "
                    f"(HTTP 403{said})", {"token": "forbidden"})
        if why is not None:
            status = Status.CRITICAL if code >= 500 or code == 0 else Status.UNKNOWN
            return status, f"{where}: {why}", {}
        if code != 200:
            said = f" ({message})" if message else ""
            return Status.CRITICAL, f"{where}: HTTP {code}{said}", {}
        user_id = body.get("id") if isinstance(body, dict) else None
        if user_id is None:
            return (Status.UNKNOWN, f"{where}: HTTP 200 but JSON without an id (not Canvas's "
                    "user object?)", {})
        facts = {"token": "accepted", "user_id": user_id}
        slow = threshold_status(answer.seconds, self.spec.latency_warning,
                                self.spec.latency_critical)
        took = fmt_seconds(answer.seconds)
        if slow is not Status.OK:
            limit = self.spec.latency_critical if slow is Status.CRITICAL \
                else self.spec.latency_warning
            return slow, f"{where} took {took} (limit {limit:g}s)", facts
        return Status.OK, f"Canvas API OK in {took}: token accepted (user id {user_id})", facts


def _canvas_message(body: Any) -> str:
    """The first ``errors[].message`` Canvas gives (its own wording, never the token)."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict) and isinstance(first.get("message"), str):
            return short(first["message"], 80)
    return ""


def _scrub(result: Result, token: str) -> Result:
    """Belt and braces: nothing Canvas echoes back may carry the token into an alert."""
    if token not in result.summary and token not in repr(result.details):
        return result
    summary = result.summary.replace(token, "***")
    details = {k: (v.replace(token, "***") if isinstance(v, str) else v)
               for k, v in result.details.items()}
    return Result(result.status, summary, result.samples, details)
