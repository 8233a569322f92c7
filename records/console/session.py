"""Console sessions: a pasted API token opens a server-side session held by an opaque cookie.

The cookie carries a random secret; the store keeps only its SHA-256 (as it does for tokens), the
SHA-256 of the API token, the principal and a CSRF token. A session ends on sign-out, after
``RECORDS_CONSOLE_SESSION_IDLE_SECONDS`` without use, ``RECORDS_CONSOLE_SESSION_MAX_SECONDS``
after sign-in, and as soon as its token is revoked (every request checks that the token is
still active, so a revocation on any instance ends the sessions it opened).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from records.audit import trail as audit_trail
from records.audit.trail import committed, drafts_for_change
from records.clock import utcnow
from records.ports import ConsoleSession, ConsoleSessionRepository, TokenRepository
from records.roles import Principal
from records.services.tokens import TokenService, hash_secret

SESSION_COOKIE = "records_session"
# Before sign-in there is no session to hold a CSRF token: the sign-in form is protected by a
# token in this cookie repeated in the form (double submit).
SIGN_IN_CSRF_COOKIE = "records_sign_in_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class SessionState(StrEnum):
    active = "active"
    missing = "missing"  # no cookie, or a cookie naming no session
    expired = "expired"  # idle or too old
    revoked = "revoked"  # its API token was revoked


@dataclass(frozen=True, slots=True)
class Resumed:
    state: SessionState
    session: ConsoleSession | None = None

    @property
    def principal(self) -> Principal | None:
        return Principal(self.session.principal, self.session.role) if self.session else None


@dataclass(frozen=True, slots=True)
class OpenedSession:
    session: ConsoleSession
    cookie_secret: str  # goes into the cookie once; only its digest is stored


def csrf_matches(expected: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode())


class ConsoleSessions:
    """Opens, resumes and ends console sessions."""

    def __init__(self, sessions: ConsoleSessionRepository, tokens: TokenRepository, token_service: TokenService,
                 idle: timedelta, lifetime: timedelta) -> None:
        self._sessions, self._tokens, self._token_service = sessions, tokens, token_service
        self.idle, self.lifetime = idle, lifetime
        # Activity is written at most this often: the idle expiry need not be exact to the second,
        # and a page view should not always cost a write.
        self._touch_every = min(timedelta(seconds=60), idle / 10)

    async def open(self, token: str) -> OpenedSession | None:
        """A session for the holder of ``token``; None if the token is unknown or revoked. The
        sign-in's event (the current trail's) commits with the session."""
        principal = await self._token_service.authenticate(token.strip())
        if principal is None:
            return None
        if (trail := audit_trail.current()) is not None:
            trail.actor, trail.role = principal.name, principal.role.value
        now = utcnow()
        secret = secrets.token_urlsafe(32)
        session = ConsoleSession(id=_digest(secret), token_hash=hash_secret(token.strip()), principal=principal.name,
                                 role=principal.role, csrf_token=secrets.token_urlsafe(32), created_at=now,
                                 last_seen_at=now)
        await self._sessions.add(session, drafts_for_change(f"token:{principal.name}"))
        committed()
        return OpenedSession(session, secret)

    async def resume(self, cookie_secret: str | None) -> Resumed:
        if not cookie_secret or len(cookie_secret) > 200:
            return Resumed(SessionState.missing)
        session = await self._sessions.get(_digest(cookie_secret))
        if session is None:
            return Resumed(SessionState.missing)
        now = utcnow()
        if now - session.last_seen_at > self.idle or now - session.created_at > self.lifetime:
            await self._sessions.remove(session.id)
            return Resumed(SessionState.expired)
        token = await self._tokens.by_secret_hash(session.token_hash)
        if token is None:  # revoked (or removed): every session it opened ends
            await self._sessions.remove_for_token(session.token_hash)
            return Resumed(SessionState.revoked)
        if now - session.last_seen_at >= self._touch_every:
            await self._sessions.touch(session.id, now)
        return Resumed(SessionState.active, session)

    async def end(self, session: ConsoleSession) -> None:
        """Sign out: the session ends with the sign-out's event."""
        await self._sessions.remove(session.id, drafts_for_change(f"token:{session.principal}"))
        committed()

    async def end_expired(self) -> int:
        now = utcnow()
        return await self._sessions.remove_expired(now - self.idle, now - self.lifetime)
