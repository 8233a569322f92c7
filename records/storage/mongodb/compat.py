"""What servers that speak MongoDB's wire protocol without being MongoDB need (nx-27017, the test
server, above all), in one place: the adapters' other modules write for MongoDB and call these.

- Transactions that are not isolated (nx-27017 runs them one at a time on one SQLite connection,
  and does not isolate concurrent ones, nor a plain write from another client's open transaction):
  every write is serialised, within the process by a lock and across processes by a mutex
  document (``SerialisedWrites``).
- ``$cond`` with a bare ``true`` is not accepted everywhere: ``sum_where`` writes none.
- Several operators in one field's document, and matching ``null``, differ between servers: one
  condition per clause under ``$and`` (``all_of``), booleans rather than nulls in documents and
  indexes (the ``open``, ``pending``, ``disposed``, ``released`` fields of ``documents.py``), and
  comparisons against null made in Python after the read (``differs``).
- ``_id`` inside compound indexes and ``_id`` sort order are not portable: documents carry a copy
  of their id (``record_id``, ``seq``, ``tree_size``) that indexes and sorts use.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from records.errors import StorageUnavailable

_WRITE_MUTEX = "write-mutex"  # in ``leases``: only on servers without isolated transactions
_WRITE_MUTEX_TTL_US = 10_000_000  # a process that died holding it blocks writers this long


def isolates_transactions(hello: dict[str, Any]) -> bool:
    """A replica set or a sharded cluster: real, isolated, concurrent transactions."""
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


class SerialisedWrites:
    """One writer at a time on a server whose transactions are not isolated: a lock in this
    process, and a mutex document with an expiry across processes."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._holder = uuid.uuid4().hex

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await self._take()
        except BaseException:
            self._lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._db["leases"].delete_one({"_id": _WRITE_MUTEX, "holder": self._holder})
        finally:
            self._lock.release()

    async def _take(self) -> None:
        from pymongo.errors import DuplicateKeyError

        mutex = self._db["leases"]
        deadline = time.monotonic() + 2 * _WRITE_MUTEX_TTL_US / 1_000_000
        while True:
            now = time.time_ns() // 1000
            taken = await mutex.update_one({"_id": _WRITE_MUTEX, "expires_us": {"$lt": now}},
                                           {"$set": {"holder": self._holder, "expires_us": now + _WRITE_MUTEX_TTL_US}})
            if taken.matched_count == 1:
                return
            try:
                await mutex.insert_one({"_id": _WRITE_MUTEX, "holder": self._holder, "expires_us": now + _WRITE_MUTEX_TTL_US})
                return
            except DuplicateKeyError:
                pass
            if time.monotonic() > deadline:
                raise StorageUnavailable("another process holds the store's write mutex")
            await asyncio.sleep(0.005)


def all_of(expressions: list[dict[str, Any]]) -> dict[str, Any]:
    """Conditions as separate clauses of one ``$and``, never merged into one field's document."""
    return {"$and": expressions}


def sum_where(condition: list[dict[str, Any]], value: Any) -> dict[str, Any]:
    """$sum of ``value`` over the documents meeting ``condition`` (all of them when it is empty:
    a bare ``true`` inside $cond is not accepted by every wire-compatible server)."""
    return {"$sum": {"$cond": [all_of(condition), value, 0]} if condition else value}


def differs(value: object, expected: object) -> bool:
    """``value != expected`` in Python, after the read: servers differ on ``$ne`` against null."""
    return value != expected
