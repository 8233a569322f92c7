"""Console sessions on SQLite (migration 9)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from records.audit.events import AuditEventDraft
from records.clock import parse_text, to_text
from records.ports import ConsoleSession
from records.roles import Role
from records.storage.sqlite.audit import insert_events
from records.storage.sqlite.database import Database

_SELECT = "SELECT id, token_hash, principal, role, csrf_token, created_at, last_seen_at FROM console_sessions"


def _session(row: tuple) -> ConsoleSession:
    sid, token_hash, principal, role, csrf, created_at, last_seen_at = row
    return ConsoleSession(id=sid, token_hash=token_hash, principal=principal, role=Role(role), csrf_token=csrf,
                          created_at=parse_text(created_at), last_seen_at=parse_text(last_seen_at))


class SqliteConsoleSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session: ConsoleSession, events: Sequence[AuditEventDraft] = ()) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO console_sessions (id, token_hash, principal, role, csrf_token, created_at, last_seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.id, session.token_hash, session.principal, session.role.value, session.csrf_token,
                 to_text(session.created_at), to_text(session.last_seen_at)),
            )
            insert_events(conn, list(events))

        await self._db.run(self._db.transaction(insert))

    async def get(self, session_id: str) -> ConsoleSession | None:
        row = await self._db.lookup(lambda c: c.execute(f"{_SELECT} WHERE id = ?", (session_id,)).fetchone())
        return _session(row) if row else None

    async def touch(self, session_id: str, at: datetime) -> None:
        await self._db.run(
            lambda c: c.execute("UPDATE console_sessions SET last_seen_at = ? WHERE id = ?", (to_text(at), session_id))
        )

    async def remove(self, session_id: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            removed = conn.execute("DELETE FROM console_sessions WHERE id = ?", (session_id,)).rowcount
            insert_events(conn, list(events))
            return bool(removed)

        return await self._db.run(self._db.transaction(delete))

    async def remove_for_token(self, token_hash: str) -> int:
        return await self._db.run(
            lambda c: c.execute("DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,)).rowcount
        )

    async def remove_expired(self, idle_before: datetime, created_before: datetime) -> int:
        return await self._db.run(lambda c: c.execute(
            "DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?",
            (to_text(idle_before), to_text(created_before)),
        ).rowcount)
