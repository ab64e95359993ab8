"""Keeps receiver secrets (tokens in URLs, header values, keys) out of errors and logs.

Each notifier builds one ``Redactor`` from its spec. Errors it raises pass through it
before the dispatcher stores them in the outbox, and it filters the log records of
the HTTP/chat libraries underneath (httpx logs request URLs at INFO; apprise logs
service URLs at DEBUG), because a token in a URL path is still a token.

A ``Redactor`` is a kernel ``SecretRegistry`` (monitor/kernel/redact.py): it masks the
base64, Basic-auth and URL-encoded forms too, and a secret's start left by a cut.
The daemon-wide registry of resolved ``${...}`` values is separate (the shell's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from monitor.kernel.redact import SecretRegistry


def url_secret_parts(url: str, *, host_is_secret: bool = False) -> set[str]:
    """The parts of ``url`` beyond scheme and host that may carry a token.

    ``host_is_secret``: for apprise-style URLs (``tgram://BOTTOKEN/CHAT``) the "host"
    is often the token itself.
    """
    parts = {url}
    try:
        split = urlsplit(url)
    except ValueError:
        return parts
    parts.update({split.path, split.query, split.password or "", split.username or ""})
    parts.update(unquote(p) for p in (split.path, split.query))
    if host_is_secret:
        # Each path segment too: services put several tokens in one URL.
        parts.update({split.netloc, split.hostname or "", *split.path.split("/")})
    parts.discard("/")
    return parts


class Redactor(SecretRegistry):
    """Replaces each known secret (in any of its forms) with ``<redacted>``; longest
    first so parts of a secret never leave the rest of it readable. Values shorter
    than the kernel's MIN_SECRET are not secrets."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = [s for s in secrets if s]
        super().__init__(values)
        for value in values:
            if "://" in value and "@" in value:
                self.add_url(value)  # user:pass@ travels as Basic base64(user:pass)
        self._filter = _RedactingFilter(self)
        self._loggers: list[logging.Logger] = []

    def watch(self, *logger_names: str) -> None:
        """Filter these libraries' log records until ``unwatch``."""
        for name in logger_names:
            logger = logging.getLogger(name)
            logger.addFilter(self._filter)
            self._loggers.append(logger)

    def unwatch(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self._filter)
        self._loggers.clear()


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
