"""The JSON shapes of the maintenance-window API (monitor/app/web/api_maintenance.py):
requests, forms and replies, strict as those of schemas.py; a window itself is judged by
the domain (alerts/maintenance/model.py ``WindowSpec``), here only the JSON types."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from alerts.maintenance.model import WindowActions
from monitor.app.web.schemas import MAX_ID, Error, Query, Request, Text
from monitor.kernel.spec import PositiveDuration


class WindowPath(Request):
    id: int = Field(ge=1, le=MAX_ID)


class WindowQuery(Query):
    all: str | None = Field(default=None, max_length=8,
                            description="1, true or yes: include ended windows")


class MaintenanceWindowChanges(Request):
    """The JSON types of a window's fields. Which fields a window needs, and how they fit
    together, the domain decides: a missing ``name``, an unknown field or a bad timezone is
    a 400 listing ``field: rule`` problems, as the config file and the CLI report them."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    name: Text | None = None
    kind: Literal["once", "recurring", "manual"] | None = None
    timezone: Text | None = Field(default=None, description="IANA name, default UTC")
    start: Text | None = Field(default=None, description="local wall-clock time in the "
                               "window's timezone, e.g. 2026-03-29T02:30")
    end: Text | None = None
    duration: PositiveDuration | None = None
    rrule: Text | None = Field(default=None, description="RFC 5545, e.g. FREQ=WEEKLY;BYDAY=SU")
    matchers: list[Text] | None = Field(
        default=None, description='label matchers: lms="prod", check=~"cron|tasks"')
    lms: Text | None = Field(default=None, description="shorthand for the matcher lms=...")
    check: Text | None = Field(default=None, description="shorthand for the matcher check=...")
    actions: WindowActions | None = None
    comment: Text | None = None
    created_by: Text | None = None
    force: StrictBool = Field(default=False, description="schedule even over Moodle exams")

    def window_fields(self) -> dict[str, Any]:
        """What the client sent, as input for the domain's validation (force left out)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"force"})


class WindowForm(BaseModel):
    """The maintenance page's add form; empty inputs are left out of the window."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(default="", description="an API token ([[server.tokens]])")
    name: str = ""
    kind: str = ""
    timezone: str = ""
    start: str = ""
    end: str = ""
    duration: str = ""
    rrule: str = ""
    matchers: str = Field(default="", description="label matchers, comma-separated")
    lms: str = ""
    check: str = ""
    comment: str = ""
    created_by: str = ""
    force: str = Field(default="", description="on: schedule even over Moodle exams")


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(default="", description="an API token ([[server.tokens]]); "
                       "console forms send csrf with the session cookie instead")
    csrf: str = Field(default="", description="the console session's CSRF token")


class MaintenanceWindowInput(MaintenanceWindowChanges):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False,
                                                 "required": ["name"]})


class MaintenanceWindow(BaseModel):
    id: int
    uid: str
    name: str
    kind: Literal["once", "recurring", "manual"] | None
    timezone: str
    start: str | None
    end: str | None
    duration_seconds: float | None
    rrule: str | None
    matchers: list[str]
    actions: WindowActions
    comment: str
    created_by: str
    source: str = Field(description="config, api or cli")
    created_at: float
    updated_at: float
    ended_at: float | None
    forced: bool


class Occurrence(BaseModel):
    start: float
    end: float | None
    start_local: str
    end_local: str | None


class WindowState(MaintenanceWindow):
    active: bool
    next: list[Occurrence]


class WindowList(BaseModel):
    windows: list[WindowState]


class ExamConflict(BaseModel):
    lms: str
    quiz_id: int
    quiz: str
    course: str
    timeopen: int
    timeclose: int
    attempts_in_progress: int
    reasons: list[str]


class ExamReport(BaseModel):
    conflicts: list[ExamConflict]
    unreachable: dict[str, str]
    unchecked: dict[str, str]
    checked: list[str]
    checked_until: float | None


class Scheduled(BaseModel):
    window: MaintenanceWindow
    exams: ExamReport


class Ended(BaseModel):
    window: MaintenanceWindow


class Refusal(Error):
    """409 on scheduling: the exams in the way (send ``force: true``), or a config window."""

    exams: ExamReport | None = None
