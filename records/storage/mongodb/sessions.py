"""Console sessions on MongoDB: the ``console_sessions`` collection (``ConsoleSessionDocument``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from records.audit.events import AuditEventDraft
from records.clock import parse_text, to_text
from records.ports import ConsoleSession
from records.roles import Role
from records.storage.mongodb.audit import insert_events
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import ConsoleSessionDocument, stored

_COLLECTION = "console_sessions"


def _session(doc: ConsoleSessionDocument) -> ConsoleSession:
    return ConsoleSession(id=doc.id, token_hash=doc.token_hash, principal=doc.principal, role=Role(doc.role),
                          csrf_token=doc.csrf_token, created_at=parse_text(doc.created_at),
                          last_seen_at=parse_text(doc.last_seen_at))


class MongoConsoleSessionRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db

    async def add(self, session: ConsoleSession, events: Sequence[AuditEventDraft] = ()) -> None:
        await self._db.ready()
        doc = stored(ConsoleSessionDocument(
            id=session.id, token_hash=session.token_hash, principal=session.principal, role=session.role.value,
            csrf_token=session.csrf_token, created_at=to_text(session.created_at), last_seen_at=to_text(session.last_seen_at)))

        async def insert(s: Any) -> None:
            await self._db.collection(_COLLECTION).insert_one(doc, session=s)
            await insert_events(self._db, list(events), s)

        await self._db.transaction(insert)

    async def get(self, session_id: str) -> ConsoleSession | None:
        found = await self._db.read(lambda: ConsoleSessionDocument.get(session_id))
        return _session(found) if found else None

    async def touch(self, session_id: str, at: datetime) -> None:
        await self._db.ready()

        async def update(s: Any) -> None:
            await self._db.collection(_COLLECTION).update_one(
                {"_id": session_id}, {"$set": {"last_seen_at": to_text(at)}}, session=s)

        await self._db.transaction(update)

    async def remove(self, session_id: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        await self._db.ready()

        async def delete(s: Any) -> bool:
            result = await self._db.collection(_COLLECTION).delete_one({"_id": session_id}, session=s)
            await insert_events(self._db, list(events), s)
            return result.deleted_count > 0

        return await self._db.transaction(delete)

    async def remove_for_token(self, token_hash: str) -> int:
        await self._db.ready()

        async def delete(s: Any) -> int:
            result = await self._db.collection(_COLLECTION).delete_many({"token_hash": token_hash}, session=s)
            return result.deleted_count

        return await self._db.transaction(delete)

    async def remove_expired(self, idle_before: datetime, created_before: datetime) -> int:
        await self._db.ready()
        where = {"$or": [{"last_seen_at": {"$lt": to_text(idle_before)}}, {"created_at": {"$lt": to_text(created_before)}}]}

        async def delete(s: Any) -> int:
            return (await self._db.collection(_COLLECTION).delete_many(where, session=s)).deleted_count

        return await self._db.transaction(delete)
