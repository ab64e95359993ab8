"""The e-mail notifier: one multipart/alternative message (text + HTML) per notification.

Talks SMTP to the site's relay through aiosmtplib, with STARTTLS (port 587) or
implicit TLS (465) and AUTH. Subject, text and HTML were rendered from the templates
when the notification was queued (the HTML autoescaped); this module only builds the
MIME message and transports it.

Failures (``smtp_error``): bad credentials and 5xx replies are permanent (the same
message would be refused again); 4xx replies, timeouts, refused or dropped
connections and TLS handshake failures are retryable, so nothing is lost while the
relay is down or its certificate is being renewed.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from alerts.notifiers.base import NotifyError
from alerts.notifiers.redact import Redactor
from alerts.receiver_specs import EmailReceiverSpec
from checks.lazy import lazy_import

# Imported when the first mail goes out: a daemon without an e-mail receiver never loads it
# (tests/test_import_footprint.py).
aiosmtplib = lazy_import("aiosmtplib")

log = logging.getLogger("vigil.alerts.email")


def build_message(
    notification: Mapping[str, Any], spec: EmailReceiverSpec, now: float
) -> EmailMessage:
    message = EmailMessage()
    # A header is one line: a newline in a title must not start a new header.
    message["Subject"] = " ".join(str(notification.get("title", "")).split())
    message["From"] = spec.sender
    message["To"] = ", ".join(spec.to)
    message["Date"] = formatdate(now)
    domain = parseaddr(spec.sender)[1].rsplit("@", 1)[-1]
    # Derived from the outbox key: a retried delivery is the same message to the
    # recipient's mail system, and one group's mails thread together.
    message["Message-ID"] = _msgid(str(notification.get("dedup_key", "")), domain)
    if notification.get("group_key"):
        message["References"] = _msgid(str(notification["group_key"]), domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(str(notification.get("text", "")))
    if notification.get("html"):
        message.add_alternative(str(notification["html"]), subtype="html")
    return message


def _msgid(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def smtp_error(exc: Exception, where: str) -> NotifyError:
    """Judge an SMTP failure; ``where`` names the relay (host:port, no secret)."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return NotifyError(f"{where}: authentication failed ({exc.code} {exc.message})",
                           permanent=True)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        refused = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
        return NotifyError(f"{where}: every recipient refused: {refused}",
                           permanent=all(code >= 500 for code in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 4xx: "try again later" (greylisting, mailbox busy); 5xx: refused for good.
        return NotifyError(f"{where}: SMTP {exc.code} {exc.message}", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # The relay lacks STARTTLS or AUTH: a configuration mismatch, not an outage.
        return NotifyError(f"{where}: {exc}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return NotifyError(f"{where}: timed out ({type(exc).__name__})")
    # Connection refused or dropped, TLS handshake, DNS: the relay may come back.
    return NotifyError(f"{where}: {type(exc).__name__}: {exc}")


class EmailNotifier:
    def __init__(self, spec: EmailReceiverSpec, *, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.where = f"smtp {spec.host}:{spec.smtp_port}"
        self._redact = Redactor([spec.password.get_secret_value()] if spec.password else [])
        self._tls: ssl.SSLContext | None = None
        if spec.security != "none":
            self._tls = ssl.create_default_context()
            if spec.ca_file is not None:
                self._tls.load_verify_locations(cafile=str(spec.ca_file))

    def __repr__(self) -> str:
        return f"EmailNotifier(name={self.spec.name!r}, relay={self.where!r})"

    async def send(self, notification: dict[str, Any]) -> None:
        spec = self.spec
        message = build_message(notification, spec, self.clock())
        try:
            refused, _ = await aiosmtplib.send(
                message, hostname=spec.host, port=spec.smtp_port,
                username=spec.username,
                password=spec.password.get_secret_value() if spec.password else None,
                use_tls=spec.security == "tls", start_tls=spec.security == "starttls",
                tls_context=self._tls, timeout=spec.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = smtp_error(exc, self.where)
            raise NotifyError(self._redact(error.reason), permanent=error.permanent) from None
        if refused:
            # Some recipients got it: a retry would send them a duplicate.
            log.warning("receiver %r: recipients refused: %s", spec.name,
                        ", ".join(f"{addr} ({r.code})" for addr, r in refused.items()))

    async def aclose(self) -> None:
        return None
