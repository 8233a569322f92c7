"""Wrapped data keys on MongoDB, one document per record, beside (not inside) the record documents,
so that destroying one (crypto-shredding) is deleting one document."""

from __future__ import annotations

from typing import Any

from records.clock import parse_text
from records.crypto.envelope import WrappedDataKey
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import DataKeyDocument


def _key(doc: DataKeyDocument) -> WrappedDataKey:
    return WrappedDataKey(doc.id, doc.key_version, doc.kek_id, bytes(doc.wrapped), parse_text(doc.created_at))


class MongoDataKeyRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._keys = db.collection("data_keys")

    async def get(self, record_id: str) -> WrappedDataKey | None:
        found = await self._db.read(lambda: DataKeyDocument.get(record_id))
        return _key(found) if found else None

    async def get_many(self, record_ids: list[str]) -> dict[str, WrappedDataKey]:
        if not record_ids:
            return {}
        rows = await self._db.read(lambda: DataKeyDocument.find({"_id": {"$in": list(record_ids)}}).to_list())
        return {row.id: _key(row) for row in rows}

    async def not_under(self, kek_id: str, limit: int) -> list[WrappedDataKey]:
        rows = await self._db.read(
            lambda: DataKeyDocument.find({"kek_id": {"$ne": kek_id}}).sort("+_id").limit(limit).to_list()
        )
        return [_key(row) for row in rows]

    async def rewrap(self, new: WrappedDataKey, expected_kek_id: str) -> bool:
        async with self._db.writing():
            result = await self._keys.update_one(
                {"_id": new.record_id, "kek_id": expected_kek_id, "key_version": new.key_version},
                {"$set": {"kek_id": new.kek_id, "wrapped": new.wrapped}},
            )
        return result.modified_count == 1

    async def count_by_kek(self) -> dict[str, int]:
        async def count() -> list[dict[str, Any]]:
            cursor = await self._keys.aggregate([{"$group": {"_id": "$kek_id", "n": {"$sum": 1}}}])
            return await cursor.to_list()

        return {row["_id"]: int(row["n"]) for row in await self._db.read(count)}

    async def destroy(self, record_id: str) -> bool:
        """Deleting the document leaves no copy in the live collection. Copies in the oplog and
        in backups age out with them: size the oplog window and backup retention accordingly."""
        async with self._db.writing():
            result = await self._keys.delete_one({"_id": record_id})
        return result.deleted_count == 1

    async def record_ids(self, after: str | None, limit: int) -> list[str]:
        rows = await self._db.read(lambda: self._keys.find({"_id": {"$gt": after or ""}}, {"_id": 1})
                                   .sort("_id", 1).limit(limit).to_list())
        return [row["_id"] for row in rows]
