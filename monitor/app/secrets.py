"""Secret references in config values, resolved before validation.

``${NAME}`` reads an environment variable, ``${file:/path}`` a file, and
``${cred:NAME}`` a systemd credential from ``$CREDENTIALS_DIRECTORY`` (LoadCredential=).
``$$`` stands for a literal ``$``. Unresolvable references are config errors that name
the config path, never the secret's value. Where a caller passes ``unchecked`` (``vigil
config validate`` away from systemd), a credential that cannot be read here is listed
there instead, and a placeholder stands in for its value. Every resolved value is
registered in the caller's ``SecretRegistry`` (monitor/kernel/redact.py), which keeps it
out of what Vigil emits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.app.config_errors import format_key
from monitor.kernel.redact import SecretRegistry

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
# Stands in for a credential not checked here: long enough for any length rule on a token.
UNCHECKED_PLACEHOLDER = "unchecked-credential-placeholder"


def resolve_references(
    value: Any, env: Mapping[str, str], path: str, errors: list[str],
    unchecked: list[str] | None = None, secrets: SecretRegistry | None = None,
) -> Any:
    """Return ``value`` with every reference in its strings replaced; append problems to
    errors and register each resolved value in ``secrets``."""
    if isinstance(value, dict):
        return {k: resolve_references(v, env, _join(path, k), errors, unchecked, secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, env, f"{path}[{i}]", errors, unchecked, secrets)
                for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        def one(match: re.Match[str]) -> str:
            resolved = _resolve_one(match, env, path, errors, unchecked)
            if secrets is not None and match.group(0) != "$$":
                secrets.add(resolved)
            return resolved

        return _REFERENCE.sub(one, value)
    return value


def register_url_credentials(value: Any, secrets: SecretRegistry) -> None:
    """Register the password of every ``scheme://user:pass@`` URL in a resolved config,
    whether or not it came from a reference: HTTP clients send it as Basic credentials."""
    if isinstance(value, dict):
        for item in value.values():
            register_url_credentials(item, secrets)
    elif isinstance(value, list):
        for item in value:
            register_url_credentials(item, secrets)
    elif isinstance(value, str) and "://" in value and "@" in value:
        secrets.add_url(value)


def _resolve_one(
    match: re.Match[str], env: Mapping[str, str], path: str, errors: list[str],
    unchecked: list[str] | None,
) -> str:
    if match.group(0) == "$$":
        return "$"
    ref = match.group(1).strip()
    if ref.startswith("file:"):
        return _read_secret_file(ref[5:], path, errors)
    if ref.startswith("cred:"):
        return _read_credential(ref, env, path, errors, unchecked)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ref):
        errors.append(f"{path}: ${{{ref}}} is not a valid reference "
                      "(use ${NAME}, ${file:/path} or ${cred:NAME})")
        return ""
    if ref not in env:
        errors.append(f"{path}: environment variable {ref} is not set")
        return ""
    return env[ref]


def _read_credential(
    ref: str, env: Mapping[str, str], path: str, errors: list[str], unchecked: list[str] | None
) -> str:
    name = ref[5:]
    # A credential is a file systemd put in its directory: a path would reach outside it.
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        errors.append(f"{path}: ${{{ref}}}: a credential name must be a plain file name")
        return ""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        reason = "needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)"
    elif not (Path(directory) / name).exists():
        reason = f"no credential {name!r} in $CREDENTIALS_DIRECTORY"
    else:
        return _read_secret_file(str(Path(directory) / name), path, errors)
    if unchecked is None:
        errors.append(f"{path}: ${{{ref}}} {reason}")
        return ""
    unchecked.append(f"{path}: ${{{ref}}} not checked: {reason}")
    return UNCHECKED_PLACEHOLDER


def _read_secret_file(name: str, path: str, errors: list[str]) -> str:
    if "\0" in name:  # the OS would refuse it with a ValueError, not an OSError
        errors.append(f"{path}: a secret file path cannot contain a NUL character")
        return ""
    file = Path(name)
    try:
        data = file.read_bytes()
    except OSError as exc:
        errors.append(f"{path}: cannot read secret file {file}: {exc.strerror or exc}")
        return ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        errors.append(f"{path}: secret file {file} is not UTF-8 text")
        return ""
    if "\0" in text:
        errors.append(f"{path}: secret file {file} contains NUL bytes (binary, not text)")
        return ""
    return text.strip()


def _join(path: str, key: str) -> str:
    key = format_key(key)
    return f"{path}.{key}" if path else key
