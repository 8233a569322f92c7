"""API tokens: issue, authenticate, list, revoke.

Tokens are 256-bit random secrets, so a single SHA-256 is enough to store them safely (slow
password hashes exist for low-entropy secrets); only the hash is stored. Lookups go by hash, never
by comparing secrets, and the hash found is confirmed with a constant-time comparison, so that no
timing of a string comparison in the store or here tells anything about a stored hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from records.audit.trail import committed, drafts_for_change
from records.clock import utcnow
from records.errors import InvalidInput, TokenNotFound
from records.models import TokenName
from records.ports import ApiToken, TokenRepository
from records.roles import Principal, Role

TOKEN_PREFIX = "rec_"
_NAME = TypeAdapter(TokenName)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    name: str
    role: Role
    token: str
    created_at: datetime


class TokenService:
    def __init__(self, tokens: TokenRepository) -> None:
        self._tokens = tokens

    async def issue(self, name: str, role: str) -> IssuedToken:
        try:
            name = _NAME.validate_python(name)
        except ValidationError:
            raise InvalidInput(
                "token name must be 1-64 characters: letters, digits, '_', '.', '@', '-', starting with a letter or digit",
                field="name",
            ) from None
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}", field="role") from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(name=name, role=role, secret_hash=hash_secret(secret), created_at=utcnow())
        await self._tokens.add(token, drafts_for_change(f"token:{name}"))
        committed()
        return IssuedToken(name=name, role=role, token=secret, created_at=token.created_at)

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        presented = hash_secret(secret)
        token = await self._tokens.by_secret_hash(presented)
        if token is None or not hmac.compare_digest(token.secret_hash, presented):
            return None
        return Principal(name=token.name, role=token.role)

    async def list(self, include_revoked: bool = False) -> list[ApiToken]:
        return await self._tokens.list(include_revoked=include_revoked)

    async def revoke(self, name: str) -> None:
        """Raises ``LastAdminToken`` rather than leave no admin (checked by the store, atomically)."""
        if not await self._tokens.revoke(name, utcnow(), drafts_for_change(f"token:{name}")):
            raise TokenNotFound(f"no active token is named {name!r}")
