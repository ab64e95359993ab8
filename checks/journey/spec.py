"""The `journey` check's config: a built-in journey or a list of steps.

Validated once at config load (monitor/app/config.py through checks/registry.py). Every
problem inside a step names that step (``step 'login': unknown kind 'put'``), because a
list index means little to someone reading their TOML. A step's templates (``{name}`` in
its path, headers and form) may use only the journey's own values (username, password,
token, course_id) and what earlier steps extracted; the password and token never go
into a path, since URLs end up in proxy and server logs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from checks.http_spec import parse_status
from checks.journey.select import parse_selector
from checks.json_endpoint import EndpointSpec
from monitor.kernel.spec import Duration, PositiveDuration, StrictModel

STEP_KINDS = ("get", "post")
STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
VALUE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,39}$"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SECRET_VALUES = ("password", "token")
JOURNEY_VALUES = ("username", "password", "token", "course_id")
# What each built-in journey (builtin.py) needs from the config.
BUILTIN_NEEDS = {"moodle": ("username", "password", "course_id"),
                 "canvas": ("token", "course_id"),
                 "openedx": ("username", "password", "course_id")}


def _regex(value: Any, what: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"{what} {value!r} is not a valid regular expression: {exc}") from None
    except TypeError:
        raise ValueError(f"{what} must be a regular expression (a string)") from None


class Extract(StrictModel):
    """One value taken from a step's answer, for later steps: exactly one source."""

    name: Annotated[str, Field(pattern=VALUE_NAME)]
    regex: str | None = None  # the first group if it has one, else the whole match
    css: str | None = None  # with ``attr`` (e.g. "value"); without it, the element's text
    attr: str | None = None
    json_path: str | None = None  # dotted: "user.id", "results.0.id"
    cookie: str | None = None  # a cookie the client holds after this step
    header: str | None = None  # a header of the (final) answer
    # Session values (login tokens, session keys) are kept out of every output; an id
    # worth seeing in results may say secret = false.
    secret: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> Extract:
        sources = [k for k in ("regex", "css", "json_path", "cookie", "header")
                   if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError(f"extraction {self.name!r} needs exactly one of regex, css, "
                             f"json_path, cookie, header (got {', '.join(sources) or 'none'})")
        if self.attr is not None and self.css is None:
            raise ValueError(f"extraction {self.name!r}: attr goes with css")
        if self.regex is not None:
            _regex(self.regex, f"extraction {self.name!r}: regex")
        if self.css is not None:
            parse_selector(self.css)
        return self

    def describe(self) -> str:
        if self.css is not None:
            return f"css {self.css!r}" + (f" attribute {self.attr!r}" if self.attr else "")
        for key in ("regex", "json_path", "cookie", "header"):
            if (value := getattr(self, key)) is not None:
                return f"{key} {value!r}"
        return "?"


class FailWhen(StrictModel):
    """A known bad answer and what it means: all given conditions must hold. ``reason``
    may quote the body regex's first group as ``{match}`` (without a body regex, the URL
    regex's first group)."""

    status: list[int | str] | None = None
    regex: str | None = None  # searched in the body
    url_regex: str | None = None  # searched in the final URL (after redirects)
    reason: Annotated[str, Field(min_length=1, max_length=300)]

    @model_validator(mode="after")
    def _conditions(self) -> FailWhen:
        if self.status is None and self.regex is None and self.url_regex is None:
            raise ValueError("fail_when needs status, regex or url_regex")
        for item in self.status or []:
            parse_status(item)
        for key in ("regex", "url_regex"):
            if (value := getattr(self, key)) is not None:
                _regex(value, f"fail_when {key}")
        return self


class StepSpec(StrictModel):
    name: Annotated[str, Field(pattern=STEP_NAME)]
    kind: Literal["get", "post"] = "get"
    path: Annotated[str, Field(pattern=r"^/")]  # below the site's URL; may hold {values}
    headers: dict[str, str] = Field(default_factory=dict)
    form: dict[str, str] | None = None  # post only: sent as application/x-www-form-urlencoded
    follow_redirects: bool = True
    timeout: PositiveDuration | None = None  # None: what is left of the check's timeout
    expect_status: list[int | str] = Field(default_factory=lambda: list[int | str]([200]))
    expect_contains: list[str] = Field(default_factory=list)
    expect_regex: list[str] = Field(default_factory=list)
    expect_json: dict[str, Any] = Field(default_factory=dict)  # dotted path -> value
    fail_when: list[FailWhen] = Field(default_factory=list)
    extract: list[Extract] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _named_problems(cls, data: Any) -> Any:
        """Problems pydantic would report by list index, reported by step name."""
        if not isinstance(data, dict):
            raise ValueError("a step is a table with at least name and path")
        name = data.get("name")
        if not isinstance(name, str) or not re.match(STEP_NAME, name):
            raise ValueError(f"a step needs a name matching {STEP_NAME} (got {name!r})")
        where = f"step {name!r}"
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")
        kind = data.get("kind", "get")
        if kind not in STEP_KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r} (use one of: "
                             f"{', '.join(STEP_KINDS)})")
        if "path" not in data:
            raise ValueError(f"{where}: required key 'path' is missing")
        if data.get("form") is not None and kind != "post":
            raise ValueError(f"{where}: form needs kind = \"post\"")
        for key, model in (("extract", Extract), ("fail_when", FailWhen)):
            items = data.get(key) or []
            for index, item in enumerate(items if isinstance(items, list) else []):
                try:
                    model.model_validate(item)
                except ValidationError as exc:
                    error = exc.errors()[0]
                    at = ".".join(str(p) for p in error["loc"])
                    message = error["msg"].removeprefix("Value error, ")
                    raise ValueError(f"{where}: {key}[{index}]" + (f".{at}" if at else "")
                                     + f": {message}") from None
        return data

    @model_validator(mode="after")
    def _step_checks(self) -> StepSpec:
        where = f"step {self.name!r}"
        try:
            for item in self.expect_status:
                parse_status(item)
            for pattern in self.expect_regex:
                _regex(pattern, "expect_regex")
            names = [e.name for e in self.extract]
            if len(set(names)) != len(names):
                raise ValueError("extracts a value twice under one name")
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return self

    def statuses(self) -> list[tuple[int, int]]:
        return [parse_status(item) for item in self.expect_status]

    def templates(self) -> list[tuple[str, str]]:
        """(where, text) of every string that may hold ``{value}`` placeholders."""
        found = [("path", self.path)]
        found += [(f"header {k!r}", v) for k, v in self.headers.items()]
        found += [(f"form field {k!r}", v) for k, v in (self.form or {}).items()]
        return found


def placeholders(text: str) -> list[str]:
    """The value names a template uses; ``{{`` and ``}}`` stand for literal braces."""
    return PLACEHOLDER.findall(text.replace("{{", "").replace("}}", ""))


def check_references(steps: list[StepSpec], given: set[str]) -> None:
    """Each step uses only values given by the journey or extracted by an earlier step."""
    known = set(given)
    seen: set[str] = set()
    for step in steps:
        where = f"step {step.name!r}"
        if step.name in seen:
            raise ValueError(f"{where}: two steps share this name")
        seen.add(step.name)
        for field, text in step.templates():
            for name in placeholders(text):
                if name not in known:
                    have = ", ".join(sorted(known)) or "none"
                    raise ValueError(f"{where}: {field} uses {{{name}}}, which no earlier "
                                     f"step extracts and the journey does not set "
                                     f"(known: {have})")
                if field == "path" and name in SECRET_VALUES:
                    raise ValueError(f"{where}: {{{name}}} may not appear in the path "
                                     "(URLs end up in logs); send it in a header or form")
        known |= {e.name for e in step.extract}


class JourneySpec(EndpointSpec):
    type: Literal["journey"]
    interval: PositiveDuration = 300.0
    timeout: PositiveDuration = 30.0
    journey: Literal["moodle", "canvas", "openedx"] | None = None
    steps: list[StepSpec] | None = None
    username: str | None = None  # the dedicated probe account (README)
    password: SecretStr | None = None
    token: SecretStr | None = None  # Canvas: the probe account's access token
    course_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9:+._-]{1,200}$")] | None = None
    latency_warning: Annotated[Duration, Field(gt=0)] | None = None  # whole journey
    latency_critical: Annotated[Duration, Field(gt=0)] | None = None

    @field_validator("course_id", mode="before")
    @classmethod
    def _course_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _journey_or_steps(self) -> JourneySpec:
        if (self.journey is None) == (self.steps is None):
            raise ValueError("set either journey = \"moodle\" | \"canvas\" | \"openedx\" "
                             "or steps (a custom journey), not both")
        if self.journey is not None:
            missing = [k for k in BUILTIN_NEEDS[self.journey] if getattr(self, k) is None]
            if missing:
                raise ValueError(f"the {self.journey} journey needs {', '.join(missing)}")
            if self.journey in ("moodle", "canvas") and not (self.course_id or "").isdigit():
                raise ValueError(f"the {self.journey} journey's course_id is a number "
                                 f"(got {self.course_id!r})")
        elif not self.steps:
            raise ValueError("steps is empty: a journey needs at least one step")
        else:
            check_references(self.steps, self.given_values())
        if (self.latency_warning and self.latency_critical
                and self.latency_critical < self.latency_warning):
            raise ValueError("latency_critical must be >= latency_warning")
        return self

    def given_values(self) -> set[str]:
        """The values every step may use: the site's root URL and what the config sets."""
        return {"site_url"} | {k for k in JOURNEY_VALUES if getattr(self, k) is not None}
