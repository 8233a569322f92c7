"""Bearer-token authentication and role guards.

The middleware turns ``Authorization: Bearer <token>`` into a ``Principal`` (401 otherwise);
each route declares the roles it admits with ``admits(...)``, which also documents them in
OpenAPI, and a guard enforces them (403).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from records.api.security import AuthFailureThrottle, client_address, failure_keys
from records.audit import trail as audit_trail
from records.errors import NotAuthenticated, NotPermitted, ValidationFailed
from records.roles import Principal, Role

# Paths anyone may reach: liveness, the API description and its docs, the front page (anchored,
# so /healthz is not public).
PUBLIC_PATH_PATTERNS = [r"^/health$", r"^/schema(/|$)", r"^/$"]


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        throttle: AuthFailureThrottle = connection.app.state.auth_throttle
        try:
            principal = await self._principal(connection)
        except NotAuthenticated:
            # Only a failing attempt meets the throttle: a valid token is never refused because
            # others (behind the same proxy, or guessing) failed.
            keys = failure_keys(client_address(connection.scope), self._presented(connection))
            throttle.check(*keys)
            throttle.failed(*keys)
            raise
        if (trail := audit_trail.current()) is not None:
            trail.actor, trail.role = principal.name, principal.role.value
            if trail.purpose_too_long:
                raise ValidationFailed("X-Purpose may be at most 500 characters", field="X-Purpose")
        return AuthenticationResult(user=principal, auth=None)

    @staticmethod
    def _presented(connection: ASGIConnection) -> str | None:
        scheme, _, secret = connection.headers.get("authorization", "").partition(" ")
        return secret.strip() or None if scheme.lower() == "bearer" else None

    @staticmethod
    async def _principal(connection: ASGIConnection) -> Principal:
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header:
            raise NotAuthenticated("send Authorization: Bearer <token>")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthenticated("the Authorization header must be: Bearer <token>")
        principal = await connection.app.state.token_service.authenticate(secret.strip())
        if principal is None:
            raise NotAuthenticated("the token is unknown or revoked")
        return principal


def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    admitted: frozenset[Role] = handler.opt.get("roles", frozenset())  # no declaration admits no one
    principal: Principal = connection.user
    if principal.role not in admitted:
        raise NotPermitted(
            f"role {principal.role} may not call this endpoint; it admits {', '.join(sorted(admitted))}"
        )


def admits(*roles: Role | frozenset[Role], audit: str, roles_from: str | None = None) -> dict[str, Any]:
    """Route keyword arguments admitting exactly ``roles``: the guard, the OpenAPI record of it,
    and the action every call of the route is audited as. ``roles_from`` names a setting (e.g.
    ``reveal_roles``) that narrows ``roles`` when the app is built (``configure_roles``), so the
    guard and the OpenAPI document say what the installation is configured to admit."""
    admitted = frozenset(r for group in roles for r in (group if isinstance(group, frozenset) else [group]))
    opt: dict[str, Any] = {"roles": admitted, "audit": audit}
    if roles_from is not None:
        opt["roles_from"] = roles_from
    return {
        "guards": [role_guard],
        "opt": opt,
        "security": [{"BearerToken": []}],
    }


def configure_roles(handler: BaseRouteHandler, settings: Any) -> None:
    """Narrow a route declared with ``roles_from`` to the roles its setting names."""
    setting = handler.opt.get("roles_from")
    if setting:
        handler.opt = {**handler.opt, "roles": handler.opt["roles"] & settings.roles(setting)}
