"""Signing in with a pasted API token, signing out, and the language switch.

Sign-in goes through the API's own defences: the same failure throttle (``AuthFailureThrottle``
and its keys, shared with the bearer-token check), the same token lookup, and an
audit event for every attempt (``console.sign_in``, allowed or denied) and sign-out.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from records.api.security import AuthFailureThrottle, client_address, failure_keys
from records.console import i18n
from records.console.auth import SIGN_IN_PATH, console_cookie, public, session_cookie
from records.console.rendering import page
from records.console.session import SIGN_IN_CSRF_COOKIE, ConsoleSessions
from records.ports import ConsoleSession

MAX_TOKEN_CHARS = 200
REASONS = {"expired", "revoked", "signed_out"}


def plain_path(value: str) -> bool:
    """No backslash, space or control character: browsers drop or reinterpret those (a tab or
    newline vanishes, ``\\`` becomes ``/``), so the path they follow would not be the one checked."""
    return not any(ch == "\\" or ch <= " " or ch == "\x7f" for ch in value)


def safe_next(value: object) -> str:
    """Where to go after signing in: a console path of this site only (never another host)."""
    if not isinstance(value, str) or len(value) > 2000 or not plain_path(value):
        return "/console/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/console/") or value.startswith(SIGN_IN_PATH):
        return "/console/"
    return value


class SignInController(Controller):
    path = "/console"
    include_in_schema = False

    def _form(self, request: Request, status: int = 200, error: str | None = None, next_path: str = "/console/",
              reason: str | None = None) -> Template:
        csrf = request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = page(request, "sign_in.html", status_code=status, csrf_token=csrf, error=error,
                        next_path=next_path, reason=reason if reason in REASONS else None)
        response.cookies.append(console_cookie(SIGN_IN_CSRF_COOKIE, csrf, request.scope, path=SIGN_IN_PATH))
        return response

    @get("/sign-in", name="console-sign-in", **public())
    async def sign_in_form(self, request: Request) -> Template:
        return self._form(request, next_path=safe_next(request.query_params.get("next")),
                          reason=request.query_params.get("reason"))

    @post("/sign-in", name="console-sign-in-submit", status_code=303, **public(audit="console.sign_in"))
    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        token, next_path = form.get("token"), safe_next(form.get("next"))
        sessions: ConsoleSessions = request.app.state.console_sessions
        opened = None
        if isinstance(token, str) and token.strip() and len(token) <= MAX_TOKEN_CHARS:
            opened = await sessions.open(token)
        if opened is None:
            # As the bearer-token check does: only a failing attempt meets the throttle (429 once
            # its address or token prefix has used up its failures), so a valid token always works.
            throttle: AuthFailureThrottle = request.app.state.auth_throttle
            keys = failure_keys(client_address(request.scope), token.strip() if isinstance(token, str) else None)
            throttle.check(*keys)
            throttle.failed(*keys)
            return self._form(request, status=401, next_path=next_path, error="unknown_token")
        await sessions.end_expired()
        cookie = session_cookie(opened.cookie_secret, request.scope, max_age=int(sessions.lifetime.total_seconds()))
        return Redirect(next_path, status_code=303, cookies=[cookie])

    @post("/sign-out", name="console-sign-out", status_code=303, opt={"audit": "console.sign_out"})
    async def sign_out(self, request: Request) -> Response:
        session: ConsoleSession = request.auth
        await request.app.state.console_sessions.end(session)
        return Redirect(f"{SIGN_IN_PATH}?reason=signed_out", status_code=303,
                        cookies=[session_cookie("", request.scope, max_age=0)])

    @get("/language", name="console-language", status_code=303, **public())
    async def choose_language(self, request: Request) -> Response:
        """The language switch: a link, so it works signed out and without JavaScript. It changes
        only the viewer's own preference cookie, nothing on the server."""
        language = request.query_params.get("lang")
        back = request.query_params.get("next")
        target = (back if isinstance(back, str) and back.startswith(SIGN_IN_PATH) and "//" not in back and plain_path(back)
                  and len(back) <= 2000 else safe_next(back))
        cookies = []
        if language in i18n.LANGUAGES:
            cookies.append(console_cookie(i18n.LANGUAGE_COOKIE, language, request.scope, path="/console",
                                          max_age=365 * 86400, httponly=False))
        return Redirect(target, status_code=303, cookies=cookies)
