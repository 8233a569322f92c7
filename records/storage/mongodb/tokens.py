"""API token repository on MongoDB. Only SHA-256 hashes of token secrets are stored.

Reads and the insert go through ``TokenDocument``; a revocation is a conditional update inside the
revocation guard's transaction, with pymongo, whose result says whether it matched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from records.audit.events import AuditEventDraft
from records.clock import parse_text, to_text
from records.errors import LastAdminToken, TokenNameRetired, TokenNameTaken
from records.ports import ApiToken
from records.roles import Role
from records.storage.mongodb.audit import insert_events
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import TokenDocument

# Every revocation writes this document, so two concurrent revocations of the last two admin
# tokens conflict and one is retried: it then counts one admin left and refuses (snapshot
# isolation alone would let both pass, each counting two).
_REVOCATION_GUARD = "token-revocations"


def _token(doc: TokenDocument) -> ApiToken:
    return ApiToken(name=doc.name, role=Role(doc.role), secret_hash=doc.id, created_at=parse_text(doc.created_at),
                    revoked_at=parse_text(doc.revoked_at) if doc.revoked_at else None)


class MongoTokenRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db

    async def add(self, token: ApiToken, events: Sequence[AuditEventDraft] = ()) -> None:
        from pymongo.errors import DuplicateKeyError

        await self._db.ready()  # beanie documents exist only once beanie is initialised
        document = TokenDocument(id=token.secret_hash, name=token.name, role=token.role.value,
                                 created_at=to_text(token.created_at), name_slot=f"active:{token.name}")

        async def insert(session: Any) -> None:
            # Any token ever named so, revoked or not, keeps the name. Two concurrent first uses of
            # a name both pass this read; the unique active slot then refuses one of them.
            used = await self._db.collection("api_tokens").find_one({"name": token.name}, session=session)
            if used is not None:
                if used.get("revoked_at") is None:
                    raise TokenNameTaken(f"a token named {token.name!r} exists; pick another name")
                raise TokenNameRetired(token.name)
            await document.insert(session=session)
            await insert_events(self._db, list(events), session)

        try:
            await self._db.transaction(insert)
        except DuplicateKeyError:
            raise TokenNameTaken(f"a token named {token.name!r} exists; pick another name") from None

    async def by_secret_hash(self, secret_hash: str) -> ApiToken | None:
        found = await self._db.read(lambda: TokenDocument.find_one({"_id": secret_hash, "revoked_at": None}))
        return _token(found) if found else None

    async def list(self, include_revoked: bool = False) -> list[ApiToken]:
        where = {} if include_revoked else {"revoked_at": None}
        rows = await self._db.read(lambda: TokenDocument.find(where).sort("+created_at", "+name").to_list())
        return [_token(r) for r in rows]

    async def revoke(self, name: str, at: datetime, events: Sequence[AuditEventDraft] = ()) -> bool:
        tokens = self._db.collection("api_tokens")

        async def update(session: Any) -> bool:
            await self._db.collection("sequences").update_one(
                {"_id": _REVOCATION_GUARD}, {"$inc": {"value": 1}}, upsert=True, session=session
            )
            found = await tokens.find_one({"name_slot": f"active:{name}"}, session=session)
            if found is None:
                return False
            if found["role"] == Role.admin.value:
                admins = await tokens.count_documents({"role": Role.admin.value, "revoked_at": None}, session=session)
                if admins <= 1:
                    raise LastAdminToken(f"{name!r} is the last admin token; create another admin token before revoking it")
            await tokens.update_one(
                {"_id": found["_id"]},
                {"$set": {"revoked_at": to_text(at), "name_slot": f"revoked:{found['_id']}"}},
                session=session,
            )
            await insert_events(self._db, list(events), session)
            return True

        return await self._db.transaction(update)
