"""The shapes of the JSON API: what a request may carry and what a response holds.

The handlers in monitor/app/web/api*.py validate every JSON body, path and query
parameter with these models (monitor/app/web/operations.py does it before a handler
runs) and build every JSON reply through them; monitor/app/web/openapi.py turns the same
models into the OpenAPI document, so the document cannot drift from what is served.

Request models are strict: a JSON ``"no"`` is not a boolean and ``"5"`` is not a number
(a 422 that names the field). Maintenance windows themselves are judged by the domain
(alerts/maintenance/model.py ``WindowSpec``): here only the JSON types of their fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, StrictBool, StrictStr

from monitor.kernel.spec import PositiveDuration

# SQLite's INTEGER: a larger id cannot name a row (and would overflow the driver).
MAX_ID = 2**63 - 1
StatusName = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
Text = Annotated[StrictStr, Field(max_length=2000)]


class Request(BaseModel):
    """Unknown keys are errors; types are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Query(BaseModel):
    """Query parameters: typed like bodies, but one we do not know is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


# -- errors ----------------------------------------------------------------------------
class Error(BaseModel):
    """Every 4xx/5xx answer of the JSON API; ``problems`` are ``field: rule`` lines."""

    error: str
    problems: list[str] = Field(default_factory=list)


# -- probes ----------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    problems: list[str]


# -- checks ----------------------------------------------------------------------------
class CheckPath(Request):
    lms: str = Field(min_length=1, max_length=63)
    check: str = Field(min_length=1, max_length=128)


class CheckQuery(Query):
    lms: str | None = Field(default=None, max_length=63, description="only this LMS")


class Sample(BaseModel):
    name: str
    value: float
    labels: dict[str, str]


class Check(BaseModel):
    lms: str
    check: str
    type: str
    status: StatusName
    status_code: int = Field(ge=0, le=3)
    summary: str
    details: dict[str, Any]
    samples: list[Sample]
    ran_at: float
    duration_seconds: float
    consecutive_failures: int
    consecutive_successes: int
    last_change: float


class CheckRun(BaseModel):
    ran_at: float
    status: StatusName
    summary: str


class CheckDetail(Check):
    history: list[CheckRun] = Field(description="the latest 50 results, newest first")


class CheckList(BaseModel):
    checks: list[Check]


# -- alerts and acknowledgements -------------------------------------------------------
class AlertPath(Request):
    fingerprint: str = Field(min_length=1, max_length=64)


class SignInForm(BaseModel):
    """The console's sign-in form (read by the page handler, not strict)."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(default="", description="a [[server.tokens]] token, pasted once")
    next: str = Field(default="", description="the console page to go to afterwards")


class OutboxPath(Request):
    id: int = Field(ge=1, le=2**62)


class Acknowledgement(BaseModel):
    by: str
    comment: str
    at: float | None
    sticky: bool
    expires_at: float | None


class Alert(BaseModel):
    fingerprint: str
    lms: str
    check: str
    state: str = Field(description="firing or ok")
    status: StatusName
    summary: str
    labels: dict[str, str]
    started_at: float | None
    transition: int
    severity: str = Field(description="info, warning, critical or page")
    flapping: bool
    held_reason: str | None
    acknowledged: Acknowledgement | None


class AlertTransition(BaseModel):
    transition: int
    kind: str
    at: float
    summary: str


class AlertDetail(Alert):
    transitions: list[AlertTransition]


class AlertList(BaseModel):
    alerts: list[Alert]


class AckRequest(Request):
    by: str = Field(min_length=1, max_length=100)
    comment: str = Field(default="", max_length=1000)
    sticky: StrictBool = Field(default=True, description="true: until OK; false: until "
                               "the status changes")
    expires_in: PositiveDuration | None = Field(
        default=None, description='duration from now, e.g. "2h" or 7200; then it notifies '
        "again (give this or expires_at)")
    expires_at: FiniteFloat | None = Field(default=None, description="Unix time")


class UnackRequest(Request):
    by: str = Field(default="api", min_length=1, max_length=100)


class AckForm(BaseModel):
    """The console's acknowledge form (read by the page handler, not strict)."""

    model_config = ConfigDict(extra="ignore")

    by: str = ""
    comment: str = ""
    token: str = Field(default="", description="an API token ([[server.tokens]]); "
                       "console forms send csrf with the session cookie instead")
    csrf: str = Field(default="", description="the console session's CSRF token")
    next: str = Field(default="", description="the console page to go back to")
    sticky: str = Field(default="", description="on: until OK")
    expires: str = Field(default="", description='e.g. "2h"; empty: no expiry')


class AckResult(BaseModel):
    fingerprint: str
    acknowledged: Acknowledgement | None
