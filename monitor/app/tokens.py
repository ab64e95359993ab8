"""API tokens and their scopes: who may do what over HTTP (issue #11).

``[[server.tokens]]`` in the config (monitor/app/config.py ``ServerConfig``) names each
token and the scopes it carries; the HTTP API (monitor/app/web/access.py) finds the token a
request presents, in constant time, and refuses an operation whose scope it lacks.

Scopes, from least to most power:

  read         the audit log (other reads stay open, as before)
  ack          acknowledge and withdraw acknowledgements
  maintenance  schedule, edit and end maintenance windows that only silence alerts
  lms-actions  together with maintenance: windows that act on the LMS (switch Moodle's
               maintenance mode) or accept file integrity changes (which could accept a
               webshell into the baseline)
  admin        everything, including operations that are only for admins

The deprecated ``server.api_token`` keeps working as one token named "api" with every
scope (admin), as it had every power before scopes existed; loading a config with it logs
a warning that asks for ``[[server.tokens]]`` instead.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from alerts.maintenance.model import WindowActions
from monitor.kernel.spec import StrictModel

log = logging.getLogger("vigil.config")

Scope = Literal["read", "ack", "maintenance", "lms-actions", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "ack", "maintenance", "lms-actions", "admin")
MIN_LENGTH = 16
LEGACY_NAME = "api"  # the name server.api_token goes by in the audit log
DEPRECATION = ("server.api_token is deprecated: it acts as a token named 'api' with every "
               "scope (admin); give each holder a [[server.tokens]] entry with only the "
               "scopes it needs")


class TokenConfig(StrictModel):
    """One ``[[server.tokens]]`` entry."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    token: SecretStr
    scopes: tuple[Scope, ...]

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr) -> SecretStr:
        if len(token.get_secret_value()) < MIN_LENGTH:
            raise ValueError(f"must be at least {MIN_LENGTH} characters")
        return token

    @field_validator("scopes")
    @classmethod
    def _some_scope(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if not scopes:
            raise ValueError(f"name at least one scope of: {', '.join(SCOPES)}")
        return tuple(dict.fromkeys(scopes))


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever presented a known token: its name and what it may do."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class ApiToken:
    principal: Principal
    secret: bytes = field(repr=False)


def tokens_problems(tokens: Sequence[TokenConfig], legacy: SecretStr | None) -> list[str]:
    """``server.tokens[i].name``/``.token`` problems: a name or a token used twice."""
    problems: list[str] = []
    names: dict[str, int] = {LEGACY_NAME: -1} if legacy is not None else {}
    secrets: dict[str, int] = {legacy.get_secret_value(): -1} if legacy is not None else {}
    for i, entry in enumerate(tokens):
        if entry.name in names:
            first = names[entry.name]
            where = "server.api_token" if first < 0 else f"server.tokens[{first}]"
            problems.append(f"server.tokens[{i}].name: {entry.name!r} is already used by "
                            f"{where}; token names must be unique")
        names.setdefault(entry.name, i)
        value = entry.token.get_secret_value()
        if value in secrets:  # never echo the token itself
            first = secrets[value]
            where = "server.api_token" if first < 0 else f"server.tokens[{first}]"
            problems.append(f"server.tokens[{i}].token: the same token as {where}; each "
                            "holder needs its own")
        secrets.setdefault(value, i)
    return problems


def api_tokens(tokens: Iterable[TokenConfig], legacy: SecretStr | None) -> list[ApiToken]:
    """Every token the API accepts; the deprecated api_token as "api" with every scope."""
    found = [ApiToken(Principal(t.name, frozenset(t.scopes)),
                      t.token.get_secret_value().encode()) for t in tokens]
    if legacy is not None:
        found.append(ApiToken(Principal(LEGACY_NAME, frozenset(SCOPES)),
                              legacy.get_secret_value().encode()))
    return found


def identify(tokens: Sequence[ApiToken], presented: str) -> Principal | None:
    """The holder of ``presented``, or None. Every token is compared, each in constant
    time, so the time taken says nothing about which token came close."""
    given = presented.strip().encode()
    found: Principal | None = None
    for token in tokens:
        if hmac.compare_digest(given, token.secret) and found is None:
            found = token.principal
    return found


LMS_ACTIONS = "lms-actions"
LMS_ACTIONS_WHEN = ("the window switches the LMS's maintenance mode or accepts file "
                    "integrity changes (actions.lms_maintenance_mode, "
                    "actions.accept_integrity_changes)")


def acts_on_lms(actions: WindowActions | dict[str, Any] | None) -> list[str]:
    """The actions of a window that need the lms-actions scope."""
    if actions is None:
        return []
    found = actions.model_dump() if isinstance(actions, WindowActions) else actions
    return [key for key in ("lms_maintenance_mode", "accept_integrity_changes")
            if found.get(key)]
