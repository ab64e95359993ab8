"""Console sessions: sign in with a named token once, then forms carry a CSRF token
instead of the API token (issue #15).

The session lives in this process's memory (a restart signs everyone out, which is the
safe failure). The cookie holds only a random id; the session remembers the token's name
and a digest of its secret, and each request looks the token up again in the current
config (monitor/app/tokens.py), so removing or rotating a token ends its sessions at the
next request and the scopes always come from the config. Every form posts the session's
CSRF token, compared in constant time; SameSite=Strict already keeps a foreign site's
form from sending the cookie, the CSRF token covers browsers that do not honour it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from monitor.app.tokens import ApiToken, Principal

COOKIE = "vigil_session"
IDLE_SECONDS = 2 * 3600.0  # untouched this long: signed out
ABSOLUTE_SECONDS = 8 * 3600.0  # a working day at most, however busy
MAX_SESSIONS = 1000  # the oldest is dropped past this (a bounded table)


@dataclass(slots=True)
class Session:
    id: str
    token_name: str
    token_digest: bytes
    csrf: str
    created_at: float
    seen_at: float


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class Sessions:
    def __init__(self, idle: float = IDLE_SECONDS, absolute: float = ABSOLUTE_SECONDS
                 ) -> None:
        self.idle = idle
        self.absolute = absolute
        self._by_id: dict[str, Session] = {}

    def open(self, token: ApiToken, now: float) -> Session:
        if len(self._by_id) >= MAX_SESSIONS:
            oldest = min(self._by_id.values(), key=lambda s: s.seen_at)
            del self._by_id[oldest.id]
        session = Session(secrets.token_urlsafe(32), token.principal.name,
                          _digest(token.secret), secrets.token_urlsafe(32), now, now)
        self._by_id[session.id] = session
        return session

    def find(self, session_id: str, now: float) -> Session | None:
        """The live session with this id (touched), or None when unknown or expired."""
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if now - session.seen_at > self.idle or now - session.created_at > self.absolute:
            del self._by_id[session_id]
            return None
        session.seen_at = now
        return session

    def close(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)


def holder(session: Session, tokens: Sequence[ApiToken]) -> Principal | None:
    """The session's token as the config has it now; None once removed or rotated."""
    found: Principal | None = None
    for token in tokens:
        same = hmac.compare_digest(_digest(token.secret), session.token_digest)
        if same and token.principal.name == session.token_name and found is None:
            found = token.principal
    return found


def csrf_matches(session: Session, given: str) -> bool:
    return hmac.compare_digest(session.csrf.encode(), given.encode())


def foreign_origin(request: Request) -> str | None:
    """Where a post sent by a page of another site came from, else None. Browsers say it
    in Sec-Fetch-Site; older ones only in Origin, which is "null" for our own forms under
    Referrer-Policy: no-referrer (guard.py), so "null" alone proves nothing. A request
    with neither (curl, scripts) is not a browser's cross-site post."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        return origin or site
    if origin in (None, "null"):
        return None
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        return origin
    return None


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, session: Session,
               max_age: float) -> None:
    response.set_cookie(COOKIE, session.id, max_age=int(max_age), path="/", httponly=True,
                        samesite="strict", secure=is_tls(request))


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=is_tls(request))
