"""The `a11y` check's settings, and where axe-core is looked for.

config ([lms.checks.NAME] with type = "a11y") -> A11ySpec, validated once at load ->
checks/a11y/check.py. The places searched for axe-core are documented in the README
("Accessibility probe") and installed there by scripts/test.sh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from checks.json_endpoint import http_url
from monitor.kernel.spec import CheckSpec, PositiveDuration, StrictModel

Impact = Literal["minor", "moderate", "serious", "critical"]
IMPACTS: tuple[Impact, ...] = ("minor", "moderate", "serious", "critical")  # mildest first
# WCAG 2.1 level A and AA, as axe-core tags its rules.
DEFAULT_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
_PAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_FIELD_NAME = r"^[^\s\"'\\\]]{1,100}$"  # a form field's name attribute, as a CSS value

# Where axe-core is found when axe_core_path is not set, in this order: the place the
# README's `npm install --prefix` puts it, Debian's node-axe-core, a source checkout's
# cache filled by scripts/test.sh.
AXE_PLACES = (
    Path("/usr/local/share/vigil/axe-core"),
    Path("/usr/share/nodejs/axe-core"),
    Path(__file__).resolve().parents[2] / ".cache" / "axe-core",
)
_AXE_FILES = ("axe.min.js", "axe.js", "node_modules/axe-core/axe.min.js")


class A11yLogin(StrictModel):
    """A plain form login done in the browser before the pages are opened."""

    url: str
    username_field: Annotated[str, Field(pattern=_FIELD_NAME)] = "username"
    password_field: Annotated[str, Field(pattern=_FIELD_NAME)] = "password"
    username: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        checked = http_url(value)
        assert checked is not None
        return checked


class A11ySpec(CheckSpec):
    type: Literal["a11y"]
    # axe on a few pages costs seconds of CPU and a few hundred MB while it runs; an
    # LMS's pages change with releases and content edits, not by the minute.
    interval: PositiveDuration = 3600.0
    timeout: PositiveDuration = 120.0
    # Page name (a metric label) -> URL; none: the site's url as page "home".
    pages: dict[Annotated[str, Field(pattern=_PAGE_NAME)], str] = Field(default_factory=dict)
    tags: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")], ...] = Field(
        default=DEFAULT_TAGS, min_length=1)
    chromium: str = Field(default="chromium", min_length=1)  # a command on PATH or a path
    axe_core_path: Path | None = None  # axe.min.js, its directory, or an npm --prefix
    memory_limit_mib: int = Field(default=1024, ge=128, le=65536)  # all Chromium processes
    # Under the shipped vigil.service (RestrictNamespaces=yes, MemoryDenyWriteExecute=yes)
    # Chromium's sandbox and V8's JIT cannot work: sandbox = false, jitless = true there.
    sandbox: bool = True
    jitless: bool = False
    login: A11yLogin | None = None
    cookies: dict[Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")],
                  SecretStr] = Field(default_factory=dict)  # e.g. a probe account's session
    # Any violation of this impact or worse makes the check WARNING / CRITICAL.
    warning_impact: Impact | None = "serious"
    critical_impact: Impact | None = None
    # axe rule ids known to fail in the LMS's own code and accepted until fixed upstream
    # (Moodle 5.1's user menu fails label-content-name-mismatch on every logged-in page):
    # still counted in the metrics and the summary, never what makes the check fail.
    accepted_rules: tuple[Annotated[str, Field(pattern=r"^[a-z0-9-]{1,60}$")], ...] = ()

    @field_validator("pages")
    @classmethod
    def _page_urls(cls, pages: dict[str, str]) -> dict[str, str]:
        for name, url in pages.items():
            try:
                http_url(url)
            except ValueError as exc:
                raise ValueError(f"page {name!r}: {exc}") from None
        return pages

    @model_validator(mode="after")
    def _impact_order(self) -> A11ySpec:
        if self.warning_impact and self.critical_impact and \
                IMPACTS.index(self.critical_impact) < IMPACTS.index(self.warning_impact):
            raise ValueError(f"critical_impact ({self.critical_impact}) must be as bad as or "
                             f"worse than warning_impact ({self.warning_impact})")
        return self


def find_axe(configured: Path | None) -> tuple[Path | None, list[Path]]:
    """axe-core's browser bundle, and every place looked at (for the UNKNOWN message)."""
    places = [configured] if configured is not None else list(AXE_PLACES)
    looked: list[Path] = []
    for place in places:
        candidates = [place] if place.suffix == ".js" else [place / f for f in _AXE_FILES]
        for candidate in candidates:
            looked.append(candidate)
            if candidate.is_file():
                return candidate, looked
    return None, looked
