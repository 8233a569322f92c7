"""Who is looking at a console page: the session cookie turned into a principal, the CSRF check
of every state-changing form, and the cookies that carry them.

``ConsoleSessionMiddleware`` runs inside the audit middleware, so an audited page names its
viewer exactly as the API names a token's holder; a page asked for without a session is
refused as the API refuses a request without a token (a denied event), then sent to sign in.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from records.audit import trail as audit_trail
from records.audit.events import Outcome
from records.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    ConsoleSessions,
    SessionState,
    csrf_matches,
)
from records.errors import CsrfRefused
from records.ports import ConsoleSession

SIGN_IN_PATH = "/console/sign-in"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def public(**opt: Any) -> dict[str, Any]:
    """Route keyword arguments of a console page that needs no session (sign-in, language)."""
    return {"opt": {"console_public": True, **opt}}


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no session
                return None
            if name in jar:
                return jar[name].value
    return None


def is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def console_cookie(key: str, value: str, scope: Scope, path: str = "/console", max_age: int | None = None,
                   httponly: bool = True) -> Cookie:
    """A console cookie: SameSite=Strict, HttpOnly unless said otherwise, Secure under https."""
    return Cookie(key=key, value=value, path=path, max_age=max_age, httponly=httponly, samesite="strict",
                  secure=is_https(scope))


def session_cookie(value: str, scope: Scope, max_age: int | None = None) -> Cookie:
    return console_cookie(SESSION_COOKIE, value, scope, max_age=max_age)


def sign_in_location(path: str, reason: str | None = None) -> str:
    path = "/console/" if path == "/console" else path
    query = [f"next={quote(path, safe='/')}"] if path.startswith("/console/") and path != SIGN_IN_PATH else []
    if reason:
        query.append(f"reason={reason}")
    return SIGN_IN_PATH + ("?" + "&".join(query) if query else "")


class ConsoleSessionMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        if handler is None or handler.opt.get("console_public"):
            await next_app(scope, receive, send)
            return
        sessions: ConsoleSessions = scope["litestar_app"].state.console_sessions
        resumed = await sessions.resume(_cookie(scope, SESSION_COOKIE))
        if resumed.state is not SessionState.active:
            await self._refuse(scope, send, resumed.state)
            return
        principal = resumed.principal
        scope["user"], scope["auth"] = principal, resumed.session
        if (trail := audit_trail.current()) is not None and principal is not None:
            trail.actor, trail.role = principal.name, principal.role.value
        await next_app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, state: SessionState) -> None:
        trail = audit_trail.current()
        if trail is not None and not trail.recorded:
            # As the API records a request without a valid token: denied, 401, no actor.
            try:
                await scope["litestar_app"].state.audit_service.append([trail.draft(Outcome.denied, 401)])
            except Exception:  # noqa: BLE001 - a redirect to sign in discloses nothing; still send it
                pass
            trail.recorded = True  # never an "allowed" event for a refused page
        path = scope.get("path", "/console/") if scope.get("method") == "GET" else "/console/"
        reason = None if state is SessionState.missing else state.value
        location = sign_in_location(path, reason).encode()
        headers = [(b"location", location), (b"content-length", b"0")]
        if state is not SessionState.missing:  # the browser's cookie names a session that ended
            headers.append((b"set-cookie", session_cookie("", scope, max_age=0).to_header(header="").strip().encode()))
        if any(k == b"hx-request" for k, _ in scope.get("headers", [])):
            headers.append((b"hx-redirect", location))
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def csrf_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Every state-changing console request repeats the CSRF token of its session (of the sign-in
    cookie before there is one): as the form field ``csrf_token``, the ``X-CSRF-Token`` header
    (htmx), or, for uploads the handler streams itself, the query parameter."""
    if connection.scope.get("method") in SAFE_METHODS:
        return
    session = connection.scope.get("auth")
    expected = session.csrf_token if isinstance(session, ConsoleSession) else connection.cookies.get(SIGN_IN_CSRF_COOKIE)
    presented = connection.headers.get(CSRF_HEADER)
    if presented is None and handler.opt.get("streams_body"):
        presented = connection.query_params.get(CSRF_FIELD)
    if presented is None and not handler.opt.get("streams_body"):
        form = await connection.form()  # type: ignore[attr-defined]  # cached: the handler reads it again
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not expected or not csrf_matches(expected, presented):
        raise CsrfRefused("this form did not come from your console session, or the session changed since it was "
                          "shown; reload the page and submit it again")
