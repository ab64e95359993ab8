"""The resolved secrets of one config, and the redaction of everything Vigil emits.

The shell (monitor/app/config.py ``load_config``) registers every value a ``${...}``
reference resolved to, and every password in a URL's userinfo, in one
``SecretRegistry`` it creates; it then hands the registry to whatever emits text: the
log handlers the CLI installs (``LogRedactor``), the check runner (results before they
are stored), the dispatcher (delivery errors), the HTTP API (every response body) and
``vigil check`` / ``vigil config validate`` output. Pure: nothing of Vigil is imported.

Each secret is also searched in the forms it takes on the wire: base64 (standard and
URL-safe, with and without padding), HTTP Basic credentials ``base64(user:secret)``,
URL-encoded (``quote`` and ``quote_plus``) and JSON-escaped.

Text that gets shortened must be redacted *before* the cut (``truncate``); after it,
a trailing fragment of at least ``MIN_FRAGMENT`` characters that begins a secret is
redacted too, so a cut through the middle of a token shows none of it.

Values shorter than ``MIN_SECRET`` characters ("1", "on", "yes") are not registered:
redacting them would mangle every message and protect nothing worth protecting.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MIN_SECRET = 4
MIN_FRAGMENT = 6
MASK = "<redacted>"
# What a shortened text may end with after the cut ("abc..." or "abc…").
_CUT_MARKS = " .…'\")]"


class SecretRegistry:
    """Every known secret, registered once; ``redact`` replaces each of their forms."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.generation = 0  # counts the updates that added a secret (what redacted it)
        self.update(secrets)

    # -- registering ------------------------------------------------------------
    def add(self, secret: str) -> None:
        """Register one resolved value (ignored when shorter than MIN_SECRET)."""
        self.update((secret,))

    def update(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s.strip()) >= MIN_SECRET}
        new -= self._secrets
        if not new:
            return
        self._secrets |= new
        forms = set(self._forms)
        for secret in new:
            forms |= _forms_of(secret)
        self._forms = sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in self._forms))
        self.generation += 1

    def add_basic_auth(self, username: str, password: str) -> None:
        """Register ``password`` and the ``Authorization: Basic`` value it makes."""
        if len(password) < MIN_SECRET:
            return
        self.add(password)
        self.update(_base64_forms(f"{username}:{password}"))

    def add_url(self, url: str) -> None:
        """Register the password in a URL's userinfo (and its Basic form), if any."""
        try:
            split = urlsplit(url)
            password, username = split.password, split.username
        except ValueError:
            return
        if password:
            self.add_basic_auth(unquote(username or ""), unquote(password))
            self.add_basic_auth(username or "", password)

    def __len__(self) -> int:
        return len(self._secrets)

    def __contains__(self, value: object) -> bool:
        return value in self._secrets

    # -- redacting --------------------------------------------------------------
    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret, and a cut-off start of one at its end,
        replaced by MASK."""
        if self._pattern is None or not text:
            return text
        return self._redact_tail(self._pattern.sub(MASK, text))

    def truncate(self, text: str, limit: int, marker: str = "") -> str:
        """Redact, then shorten to ``limit`` characters (+ ``marker`` when cut)."""
        text = self.redact(text)
        if len(text) <= limit:
            return text
        cut = text[:limit]
        for k in range(min(len(MASK) - 1, len(cut)), 1, -1):
            if cut.endswith(MASK[:k]):  # never leave half a mask ("<reda")
                cut = cut[:-k] + MASK
                break
        return self._redact_tail(cut) + marker

    def redact_value(self, value: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, tuples, strings) with strings redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value

    def redact_bytes(self, data: bytes) -> bytes:
        """UTF-8 ``data`` redacted (bytes that do not decode are left as they are)."""
        if self._pattern is None:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        redacted = self.redact(text)
        return data if redacted == text else redacted.encode("utf-8")

    def _redact_tail(self, text: str) -> str:
        """Mask a trailing fragment (>= MIN_FRAGMENT chars) that is the start of a secret."""
        body = text.rstrip(_CUT_MARKS)
        tail = text[len(body):]
        for form in self._forms:
            window = body[-(len(form) - 1):] if len(form) > 1 else ""
            start = window.find(form[:MIN_FRAGMENT])
            while start != -1:
                if form.startswith(window[start:]):
                    return body[: len(body) - len(window) + start] + MASK + tail
                start = window.find(form[:MIN_FRAGMENT], start + 1)
        return text


def _base64_forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    return {standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")}


def _forms_of(secret: str) -> set[str]:
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret),
             json.dumps(secret)[1:-1], *_base64_forms(secret)}
    stripped = secret.strip()
    if stripped != secret:
        forms |= _forms_of(stripped)
    return forms


class LogRedactor(logging.Filter):
    """A handler filter: every record the handler writes, from any library, is redacted
    (its message, its formatted exception and its stack)."""

    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__()
        self.secrets = secrets
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not len(self.secrets):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as usual
            return True
        redacted = self.secrets.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.secrets.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.secrets.redact(record.stack_info)
        return True
