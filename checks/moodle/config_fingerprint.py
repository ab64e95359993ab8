"""Fingerprints of Moodle settings and the differences between two sets of them.

Pure helpers for checks/moodle/config_drift.py. A setting is keyed by where it lives:
``config.php:dbhost`` (``$CFG->dbhost``; arrays are flattened, ``config.php:dboptions.
dbport``), ``config:forcelogin`` (the config table) and ``config_plugins:auth_ldap/
bind_pw``. Each value becomes an HMAC-SHA256 fingerprint keyed by a random salt kept with
the baseline, so the stored baseline does not hand out unsalted hashes of passwords.
Values of settings that are not secret are kept too (shortened), so an alert can say
``forcelogin 1 -> 0``; a secret's value is never stored or shown.

Secret names: any path component matching one of ``DEFAULT_SECRET_PATTERNS`` (pass,
secret, token, salt, key, ..._pw, ..._auth, ...), which covers Moodle's own list of
"sensible settings" that admin presets never export (adminpresets/sensiblesettings in
public/admin/settings/security.php: smtppass, cronremotepassword, secretphrase,
recaptchaprivatekey, bind_pw, dbpass, badges_badgesalt, apikey, matrixaccesstoken ...),
plus the names of that list the patterns miss (DEFAULT_SECRET_NAMES); a few policy
switches whose names merely look secret are shown (DEFAULT_PUBLIC_NAMES).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SECRET_PATTERNS = ("pass", "secret", "token", "salt", "key", "pw$", "_auth$",
                           "credential", "private")
DEFAULT_SECRET_NAMES = ("smtpuser", "allowedip", "blockedip")
# Policy knobs the patterns catch whose values are numbers or switches, not secrets
# (public/admin/settings/security.php "sitepolicies").
DEFAULT_PUBLIC_NAMES = ("passwordpolicy", "passwordpolicycheckonlogin", "minpasswordlength",
                        "minpassworddigits", "minpasswordlower", "minpasswordupper",
                        "minpasswordnonalphanum", "passwordreuselimit", "passwordchangelogout",
                        "passwordchangetokendeletion", "tokenduration",
                        "groupenrolmentkeypolicy")
FILE_KEY = "config.php:(file)"  # the whole file's bytes: edits the parser cannot attribute
_SHOWN_MAX = 60
_DEPTH = 4


def flatten(name: str, value: Any, depth: int = 0) -> dict[str, Any]:
    """``{"dboptions": {"dbport": 5432}}`` -> ``{"dboptions.dbport": 5432}``; lists stay
    whole (their order is their meaning)."""
    if isinstance(value, Mapping) and value and depth < _DEPTH:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(f"{name}.{key}", item, depth + 1))
        return flat
    return {name: value}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)


def shown(value: Any) -> str:
    """A short, single-line rendering of a non-secret value for alert text."""
    text = value if isinstance(value, str) else canonical(value)
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    if text == "":
        return "''"
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX - 1] + "…"


class SecretRule:
    """Decides which setting names are secret."""

    def __init__(self, patterns: Iterable[str], names: Iterable[str],
                 public: Iterable[str] = ()) -> None:
        self._patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        self._names = {n.lower() for n in names}
        self._public = {n.lower() for n in public}

    def __call__(self, key: str) -> bool:
        path = key.split(":", 1)[-1]
        parts = [p.lower() for p in re.split(r"[./]", path) if p]
        return any(part not in self._public and (
            part in self._names or any(p.search(part) for p in self._patterns))
            for part in parts)


def fingerprint(salt: bytes, key: str, value: Any) -> str:
    return hmac.new(salt, f"{key}\0{canonical(value)}".encode(), hashlib.sha256).hexdigest()[:32]


def snapshot(values: Mapping[str, Any], salt: bytes, secret: SecretRule
             ) -> dict[str, dict[str, Any]]:
    """{key: {"fp": fingerprint, "shown": short value or None for secrets}}."""
    return {key: {"fp": fingerprint(salt, key, value),
                  "shown": None if secret(key) or key == FILE_KEY else shown(value)}
            for key, value in values.items()}


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    kind: str  # added | removed | changed
    old: str | None  # shown values; None for secrets
    new: str | None

    @property
    def source(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(":", 1)[-1]

    def describe(self) -> str:
        """"config forcelogin 1 -> 0", "config.php dbpass (secret changed)"."""
        where = f"{self.source} {self.name}"
        if self.key == FILE_KEY:
            return "config.php edited (no setting Vigil can read changed)"
        if self.kind == "added":
            return f"{where} added" + (f" = {self.new}" if self.new is not None else
                                       " (secret)")
        if self.kind == "removed":
            return f"{where} removed"
        if self.old is None or self.new is None:
            return f"{where} (secret changed)"
        return f"{where} {self.old} -> {self.new}"


def diff(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
         ) -> list[Change]:
    """Keys added, removed or changed; the file-level entry only when no config.php
    setting explains the edit."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None:
            changes.append(Change(key, "added", None, _shown(after)))
        elif after is None:
            changes.append(Change(key, "removed", _shown(before), None))
        elif before.get("fp") != after.get("fp"):
            changes.append(Change(key, "changed", _shown(before), _shown(after)))
    php = [c for c in changes if c.source == "config.php" and c.key != FILE_KEY]
    return [c for c in changes if c.key != FILE_KEY or not php]


def _shown(entry: Mapping[str, Any] | None) -> str | None:
    value = entry.get("shown") if entry else None
    return value if isinstance(value, str) else None
