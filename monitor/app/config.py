"""Load and validate Vigil's one TOML config file, completely, before anything runs.

``vigil config validate``, ``vigil run`` start-up and SIGHUP reloads all go through
``load_config``; a failure raises ConfigError listing every problem as
``path: rule`` (e.g. ``lms[0].checks.http.timeout: must be > 0``), worded by
monitor/app/config_errors.py.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alerts.config import AlertingConfig
from alerts.maintenance.model import WindowSpec
from alerts.messages import Renderer, TemplateRenderError
from alerts.predict_rules import GAUGES_CONTEXT
from checks.canvas.registry import DEFAULT_CANVAS_CHECKS
from checks.moodle.registry import default_moodle_checks
from checks.moodle.settings import MoodleSettings
from checks.openedx.registry import DEFAULT_OPENEDX_CHECKS
from checks.registry import CHECK_TYPES
from monitor.app.catalogue import CHECK_GAUGES
from monitor.app.config_errors import MAX_DEPTH, format_validation_error, too_deep_path
from monitor.app.config_rules import cross_field_problems, problem_order
from monitor.app.fleet import FleetConfig, fleet_problems
from monitor.app.report.settings import ReportSettings
from monitor.app.secrets import register_url_credentials, resolve_references
from monitor.app.tokens import DEPRECATION as TOKEN_DEPRECATION
from monitor.app.tokens import ApiToken, TokenConfig, api_tokens, tokens_problems
from monitor.app.tokens import log as token_log
from monitor.kernel.redact import SecretRegistry
from monitor.kernel.spec import CheckSpec, PositiveDuration, StrictModel
from monitor.kernel.zones import Timezone


def _check_type_of(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


def _check_spec(value: Any, handler: Any, info: ValidationInfo) -> CheckSpec:
    """Validate one check table with its type's spec, importing only that type's family
    (checks/registry.py is lazy): a config never loads the checks it does not use."""
    kind = _check_type_of(value)
    if not isinstance(kind, str) or kind not in CHECK_TYPES:
        raise PydanticCustomError("check_type", "type must be one of: {types}",
                                  {"types": ", ".join(CHECK_TYPES)})
    spec_cls = CHECK_TYPES[kind][0]
    if isinstance(value, spec_cls):
        return value
    return spec_cls.model_validate(value, context=info.context)


if TYPE_CHECKING:  # validated by _check_spec; for mypy it is a CheckSpec
    AnyCheckSpec = CheckSpec
else:
    AnyCheckSpec = Annotated[Any, WrapValidator(_check_spec)]


def with_check_defaults(data: Any) -> Any:
    """A check table named after its type may omit ``type``. A site with a URL and no
    checks gets the generic HTTP (and, for https, TLS) checks; a Moodle site with an
    [lms.moodle] section also gets every Moodle probe that works with its defaults.
    Applying it twice changes nothing."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    checks = data.get("checks")
    if checks is None:
        checks = {}
        if isinstance(data.get("url"), str):
            checks["http"] = {}
            if data["url"].startswith("https://"):
                checks["tls"] = {}
        moodle = data.get("moodle")
        if data.get("kind") == "moodle" and isinstance(moodle, dict):
            checks.update({name: {} for name in default_moodle_checks()})
            # File integrity of the code tree and scripts dropped in the data directory.
            if moodle.get("dirroot"):
                checks["code_integrity"] = {}
            if moodle.get("dataroot"):
                checks["dataroot_scripts"] = {}
        # Canvas and Open edX sites get their health connectors (canvas_api needs a
        # token, so it is never a default).
        kind = data.get("kind")
        if isinstance(data.get("url"), str) and kind in ("canvas", "openedx"):
            defaults = DEFAULT_CANVAS_CHECKS if kind == "canvas" else DEFAULT_OPENEDX_CHECKS
            checks.update({name: {} for name in defaults})
    if isinstance(checks, dict):
        data["checks"] = {
            name: ({"type": name, **spec} if isinstance(spec, dict) and "type" not in spec
                   and name in CHECK_TYPES else spec)
            for name, spec in checks.items()
        }
    return data


class LmsConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    kind: Literal["moodle", "canvas", "openedx", "generic"] = "generic"
    url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    labels: dict[str, str] = Field(default_factory=dict)
    moodle: MoodleSettings | None = None
    checks: dict[str, AnyCheckSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return with_check_defaults(data)

    @model_validator(mode="after")
    def _moodle_section_for_moodle_only(self) -> LmsConfig:
        if self.moodle is not None and self.kind != "moodle":
            raise ValueError(f"[lms.moodle] needs kind = \"moodle\" (this site is {self.kind!r})")
        return self

    @field_validator("checks")
    @classmethod
    def _check_names(cls, checks: dict[str, CheckSpec]) -> dict[str, CheckSpec]:
        for name in checks:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"check name {name!r} may use only letters, digits, _ and -")
        return checks


class StateConfig(StrictModel):
    dir: Path = Path("/var/lib/vigil")
    history_limit: int = Field(default=500, ge=10, le=100_000)


class ServerConfig(StrictModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9787, ge=0, le=65535)
    # Named bearer tokens with scopes (monitor/app/tokens.py). None configured: writes
    # are refused over HTTP; the CLI on the host still works.
    tokens: tuple[TokenConfig, ...] = ()
    # Deprecated: one token with every scope, named "api" (a warning is logged at load).
    api_token: SecretStr | None = Field(default=None, min_length=16)
    # Host header names the API answers to (DNS rebinding). Default: loopback names when
    # bound to loopback, any name otherwise.
    allowed_hosts: tuple[str, ...] | None = None
    timezone: Timezone = "UTC"  # the console shows maintenance in this zone (issue #15)


    def api_tokens(self) -> list[ApiToken]:
        return api_tokens(self.tokens, self.api_token)


class SchedulerConfig(StrictModel):
    max_concurrency: int = Field(default=64, ge=1, le=10_000)
    # A run that could not start within this long after it was due is skipped (coalesced).
    misfire_grace: PositiveDuration = 30.0
    shutdown_grace: PositiveDuration = 8.0


class VigilConfig(StrictModel):
    """The whole file, field by field. Rules across sections (unique names, references
    between them) run beside it in parse_config (monitor/app/config_rules.py), so a field
    error does not hide them: validate through parse_config or load_config."""

    state: StateConfig = StateConfig()
    server: ServerConfig = ServerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    alerts: AlertingConfig = AlertingConfig()
    lms: list[LmsConfig] = Field(default_factory=list)
    # [[maintenance]] windows (alerts/maintenance/model.py); synced into the state DB.
    maintenance: list[WindowSpec] = Field(default_factory=list)
    report: ReportSettings | None = None  # the scheduled stakeholder report
    fleet: FleetConfig = FleetConfig()  # shards and HA pairs (monitor/app/fleet.py)

    @model_validator(mode="after")
    def _tokens_are_distinct(self) -> VigilConfig:
        problems = tokens_problems(self.server.tokens, self.server.api_token)
        if problems:
            raise ValueError("; ".join(problems))
        if self.server.api_token is not None:
            token_log.warning(TOKEN_DEPRECATION)
        return self

    def check_keys(self) -> set[tuple[str, str]]:
        return {(site.name, name) for site in self.fleet.owned(self.lms) for name in site.checks}


class ConfigError(Exception):
    """The config is unusable; ``problems`` lists every ``path: rule`` found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def load_config(
    path: Path | str, env: Mapping[str, str] | None = None,
    secrets: SecretRegistry | None = None, *, unchecked: list[str] | None = None,
) -> VigilConfig:
    """Load and validate ``path``; ``secrets`` (if given) receives every resolved secret
    value. With ``unchecked`` (``vigil config validate``), a ``${cred:}`` that cannot be
    read here is listed there rather than refused; ``vigil run`` and reloads pass none,
    so they refuse it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc}"]) from None
    return parse_config(text, source=str(path), env=env, base_dir=path.parent,
                        secrets=secrets, unchecked=unchecked)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None,
    base_dir: Path | None = None, secrets: SecretRegistry | None = None, *,
    unchecked: list[str] | None = None,
) -> VigilConfig:
    # Errors never show a resolved value: each is redacted with this config's secrets.
    secrets = SecretRegistry() if secrets is None else secrets
    try:
        return _parse(text, source, env, base_dir, secrets, unchecked)
    except ConfigError as exc:
        raise ConfigError(exc.source, [secrets.redact(p) for p in exc.problems]) from None


def _parse(
    text: str, source: str, env: Mapping[str, str] | None, base_dir: Path | None,
    secrets: SecretRegistry, unchecked: list[str] | None,
) -> VigilConfig:
    """Every problem at once: unresolvable references, field errors from the models and
    the cross-field rules (monitor/app/config_rules.py), sorted by path."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"TOML syntax error: {exc}"]) from None
    except RecursionError:  # tomllib recurses once per level of [[[...]]] or {a={b=...}}
        raise ConfigError(source, [f"TOML nested deeper than Python can parse "
                                   f"(a config needs at most {MAX_DEPTH} levels)"]) from None
    return config_from_data(raw, source, env, base_dir, unchecked=unchecked, secrets=secrets)


def config_from_data(
    raw: dict[str, Any], source: str = "<config>", env: Mapping[str, str] | None = None,
    base_dir: Path | None = None, *, unchecked: list[str] | None = None,
    secrets: SecretRegistry | None = None,
) -> VigilConfig:
    """The checks of ``parse_config`` on an already parsed TOML document."""
    secrets = SecretRegistry() if secrets is None else secrets
    too_deep = too_deep_path(raw)
    if too_deep is not None:
        raise ConfigError(source, [f"{too_deep}: nested more than {MAX_DEPTH} levels deep"])
    problems: list[str] = []
    raw = resolve_references(raw, os.environ if env is None else env, "", problems,
                             unchecked, secrets)
    register_url_credentials(raw, secrets)
    if base_dir is not None:
        _anchor_state_dir(raw, base_dir)
    if isinstance(raw.get("lms"), list):
        raw["lms"] = [with_check_defaults(site) for site in raw["lms"]]
    problems.extend(cross_field_problems(raw))
    config: VigilConfig | None = None
    try:
        config = VigilConfig.model_validate(raw, context={GAUGES_CONTEXT: CHECK_GAUGES})
    except ValidationError as exc:
        problems.extend(format_validation_error(exc))
    if config is not None:
        problems.extend(fleet_problems(config.fleet, config.alerts.receivers))
    if config is not None and config.alerts.templates_dir is not None:
        try:  # render samples now so a broken template fails here, not at 3 a.m.
            Renderer(config.alerts.templates_dir).check()
        except TemplateRenderError as exc:
            problems.append(f"alerts.templates_dir: {exc}")
    if problems or config is None:
        # A rule the models share with config_rules may report the same line twice.
        raise ConfigError(source, sorted(dict.fromkeys(problems), key=problem_order))
    return config


def _anchor_state_dir(raw: dict[str, Any], base_dir: Path) -> None:
    """A relative state dir is relative to the config file, not to wherever vigil started."""
    state = raw.get("state")
    if isinstance(state, dict) and isinstance(state.get("dir"), str):
        if not Path(state["dir"]).is_absolute():
            state["dir"] = str((base_dir / state["dir"]).resolve())
