"""The last admin token survives concurrent revokes of every admin: one of them is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from records.errors import LastAdminToken
from records.roles import Role
from tests.helpers.in_process import call

# --- the last admin token under concurrent revokes --------------------------------------------


def test_two_concurrent_revokes_of_the_only_two_admins_leave_one(client, app):
    tokens = app.state.token_service

    async def scenario() -> tuple[list[str], list[Any], list[str]]:
        await tokens.issue("admin-a", "admin")
        await tokens.issue("admin-b", "admin")
        before = [t.name for t in await tokens.list() if t.role is Role.admin]
        results = await asyncio.gather(tokens.revoke("admin-a"), tokens.revoke("admin-b"), return_exceptions=True)
        after = [t.name for t in await tokens.list() if t.role is Role.admin]
        return before, results, after

    before, results, after = call(client, scenario)
    assert sorted(before) == ["admin-a", "admin-b"]
    assert sum(r is None for r in results) == 1, results
    refused = [r for r in results if r is not None]
    assert len(refused) == 1 and isinstance(refused[0], LastAdminToken), results
    assert refused[0].code == "last_admin_token"
    assert len(after) == 1 and after[0] in ("admin-a", "admin-b")
