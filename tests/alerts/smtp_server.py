"""A real SMTP server for the e-mail notifier's tests: aiosmtpd on 127.0.0.1 with a
trustme certificate (STARTTLS or implicit TLS) and AUTH PLAIN/LOGIN."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.helpers import free_port

USER, PASSWORD = "vigil", "sm7p-pa55w0rd-secret"


@dataclass
class Inbox:
    """What the server received; ``reply`` scripts the answer to DATA (None = accept)."""

    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    reply: str | None = None
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.reply is not None:
            return self.reply
        content = envelope.original_content or b""  # bytes, as received
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 OK queued"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(auth_data.login.decode())
        ok = (auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)  # handled=False: server answers 535


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    controller: Controller

    def stop(self) -> None:
        self.controller.stop()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def start_smtp(ca: trustme.CA, *, implicit_tls: bool = False) -> SmtpServer:
    """STARTTLS required before AUTH and MAIL (or TLS from the first byte)."""
    inbox = Inbox()
    port = free_port()
    context = server_context(ca)
    # With implicit TLS aiosmtpd cannot tell the socket is encrypted: AUTH would be
    # refused as "needs TLS" although it is; every byte is TLS there anyway.
    tls: dict[str, Any] = (
        {"ssl_context": context, "auth_require_tls": False} if implicit_tls
        else {"tls_context": context, "require_starttls": True, "auth_require_tls": True})
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            authenticator=inbox.authenticate, auth_required=True, **tls)
    controller.start()
    return SmtpServer(inbox, port, controller)


def write_ca(ca: trustme.CA, directory: Path) -> Path:
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
