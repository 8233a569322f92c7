"""Leases with expiry in MongoDB: which instance does a singleton job (the audit sealer) now.

A lease is one document: holder and expiry. Taking it is one atomic conditional update (held by
me, or expired) or, when it was never taken, an insert that only one instance can win (_id is
unique). A holder that dies stops renewing and the lease passes on after ``ttl``. Expiry is
judged by each instance's clock: keep clocks in sync (NTP) well within the ttl.
"""

from __future__ import annotations

import time
import uuid

from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import LeaseDocument, stored


def _now_us() -> int:
    return time.time_ns() // 1000


class MongoLeases:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self.holder = f"{uuid.uuid4().hex[:12]}"  # this process

    async def acquire(self, name: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_seconds``; False while another holds it."""
        from pymongo.errors import DuplicateKeyError

        now = _now_us()
        expires = now + int(ttl_seconds * 1_000_000)
        leases = self._db.collection("leases")
        async with self._db.writing():
            taken = await leases.update_one(
                {"_id": name, "$or": [{"holder": self.holder}, {"expires_us": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_us": expires}},
            )
            if taken.matched_count == 1:
                return True
            try:
                await leases.insert_one(stored(LeaseDocument(id=name, holder=self.holder, expires_us=expires)))
            except DuplicateKeyError:
                return False  # held by another instance, and not expired
        return True

    async def release(self, name: str) -> None:
        async with self._db.writing():
            await self._db.collection("leases").delete_one({"_id": name, "holder": self.holder})
