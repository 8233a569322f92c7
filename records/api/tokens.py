"""``/api/v1/tokens``: admins issue, list and revoke API tokens; anyone checks their own."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel

from records.api.auth import admits
from records.api.dependencies import provide_token_service
from records.api.problems import problem_responses
from records.models import Strict, TokenName
from records.roles import MANAGE_TOKENS, Role
from records.services.tokens import TokenService


class TokenCreate(Strict):
    name: TokenName
    role: Role


class TokenIssued(BaseModel):
    name: str
    role: Role
    token: str
    created_at: datetime


class TokenInfo(BaseModel):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class TokenList(BaseModel):
    items: list[TokenInfo]


class Me(BaseModel):
    name: str
    role: Role


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]
    dependencies = {"tokens": Provide(provide_token_service, sync_to_thread=False)}

    @post(
        "/",
        operation_id="createToken",
        summary="Issue an API token",
        description="The token is shown once, in this response; only its hash is stored.",
        responses=problem_responses(400, 401, 403, 409, 413, 422),
        **admits(MANAGE_TOKENS, audit="token.create"),
    )
    async def create_token(self, data: JSONBody[TokenCreate], tokens: NamedDependency[TokenService]) -> TokenIssued:
        issued = await tokens.issue(data.name, data.role)
        return TokenIssued(name=issued.name, role=issued.role, token=issued.token, created_at=issued.created_at)

    @get(
        "/",
        operation_id="listTokens",
        summary="List API tokens",
        responses=problem_responses(401, 403, 422),
        **admits(MANAGE_TOKENS, audit="token.list"),
    )
    async def list_tokens(self, tokens: NamedDependency[TokenService], include_revoked: FromQuery[bool] = False) -> TokenList:
        found = await tokens.list(include_revoked=include_revoked)
        return TokenList(
            items=[TokenInfo(name=t.name, role=t.role, created_at=t.created_at, revoked_at=t.revoked_at) for t in found]
        )

    @delete(
        "/{name:str}",
        operation_id="revokeToken",
        summary="Revoke an API token",
        description="The last active admin token cannot be revoked (409): create another admin first.",
        responses=problem_responses(401, 403, 404, 409),
        **admits(MANAGE_TOKENS, audit="token.revoke"),
    )
    async def revoke_token(self, name: FromPath[str], tokens: NamedDependency[TokenService]) -> None:
        await tokens.revoke(name)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["tokens"]

    @get(
        "/",
        operation_id="whoAmI",
        summary="The name and role of the token used",
        responses=problem_responses(401),
        **admits(*Role, audit="token.whoami"),
    )
    async def me(self, request: Request) -> Me:
        return Me(name=request.user.name, role=request.user.role)
