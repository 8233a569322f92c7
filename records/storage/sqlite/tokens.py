"""API token repository on SQLite. Only SHA-256 hashes of token secrets are stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from records.audit.events import AuditEventDraft
from records.clock import to_text
from records.errors import LastAdminToken, TokenNameRetired, TokenNameTaken
from records.ports import ApiToken
from records.roles import Role
from records.storage.sqlite.audit import insert_events
from records.storage.sqlite.database import Database


def _token(row: tuple) -> ApiToken:
    secret_hash, name, role, created_at, revoked_at = row
    return ApiToken(
        name=name,
        role=Role(role),
        secret_hash=secret_hash,
        created_at=datetime.fromisoformat(created_at),
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
    )


_SELECT = "SELECT secret_hash, name, role, created_at, revoked_at FROM api_tokens"


class SqliteTokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, token: ApiToken, events: Sequence[AuditEventDraft] = ()) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO token_names (name, first_issued_at) VALUES (?, ?)",
                             (token.name, to_text(token.created_at)))
            except sqlite3.IntegrityError:
                active = conn.execute("SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (token.name,)).fetchone()
                if active:
                    raise TokenNameTaken(f"a token named {token.name!r} exists; pick another name") from None
                raise TokenNameRetired(token.name) from None
            conn.execute(
                "INSERT INTO api_tokens (secret_hash, name, role, created_at) VALUES (?, ?, ?, ?)",
                (token.secret_hash, token.name, token.role.value, to_text(token.created_at)),
            )
            insert_events(conn, list(events))

        await self._db.run(self._db.transaction(insert))

    async def by_secret_hash(self, secret_hash: str) -> ApiToken | None:
        row = await self._db.lookup(
            lambda c: c.execute(f"{_SELECT} WHERE secret_hash = ? AND revoked_at IS NULL", (secret_hash,)).fetchone()
        )
        return _token(row) if row else None

    async def list(self, include_revoked: bool = False) -> list[ApiToken]:
        sql = _SELECT + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY created_at, name"
        rows = await self._db.run(lambda c: c.execute(sql).fetchall())
        return [_token(row) for row in rows]

    async def revoke(self, name: str, at: datetime, events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT role FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone()
            if row is None:
                return False
            if row[0] == Role.admin.value:
                (admins,) = conn.execute("SELECT count(*) FROM api_tokens WHERE role = ? AND revoked_at IS NULL",
                                         (Role.admin.value,)).fetchone()
                if admins <= 1:  # checked in the revoking transaction: two revokes cannot both pass
                    raise LastAdminToken(f"{name!r} is the last admin token; create another admin token before revoking it")
            conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (to_text(at), name))
            insert_events(conn, list(events))
            return True

        return await self._db.run(self._db.transaction(update))
