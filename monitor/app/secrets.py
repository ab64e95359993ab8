"""Secret references in config values, resolved before validation.

``${NAME}`` reads an environment variable, ``${file:/path}`` a file, and
``${cred:NAME}`` a systemd credential from ``$CREDENTIALS_DIRECTORY`` (LoadCredential=).
``$$`` stands for a literal ``$``. Unresolvable references are config errors that name
the config path, never the secret's value. Every resolved value is registered in the
caller's ``SecretRegistry`` (monitor/kernel/redact.py), which keeps it out of what
Vigil emits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.kernel.redact import SecretRegistry

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")


def resolve_references(
    value: Any, env: Mapping[str, str], path: str, errors: list[str],
    secrets: SecretRegistry | None = None,
) -> Any:
    """Return ``value`` with every reference in its strings replaced; append problems to
    errors and register each resolved value in ``secrets``."""
    if isinstance(value, dict):
        return {k: resolve_references(v, env, _join(path, k), errors, secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, env, f"{path}[{i}]", errors, secrets)
                for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        def one(match: re.Match[str]) -> str:
            resolved = _resolve_one(match, env, path, errors)
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


def _resolve_one(match: re.Match[str], env: Mapping[str, str], path: str, errors: list[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    ref = match.group(1).strip()
    if ref.startswith("file:"):
        return _read_secret_file(Path(ref[5:]), path, errors)
    if ref.startswith("cred:"):
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            errors.append(f"{path}: ${{{ref}}} needs $CREDENTIALS_DIRECTORY "
                          "(systemd LoadCredential=)")
            return ""
        return _read_secret_file(Path(directory) / ref[5:], path, errors)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ref):
        errors.append(f"{path}: ${{{ref}}} is not a valid reference "
                      "(use ${NAME}, ${file:/path} or ${cred:NAME})")
        return ""
    if ref not in env:
        errors.append(f"{path}: environment variable {ref} is not set")
        return ""
    return env[ref]


def _read_secret_file(file: Path, path: str, errors: list[str]) -> str:
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        errors.append(f"{path}: cannot read secret file {file}: {exc.strerror or exc}")
        return ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
