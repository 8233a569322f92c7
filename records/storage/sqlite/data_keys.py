"""Wrapped data keys on SQLite, one per record, beside (not inside) the record documents."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from records.crypto.envelope import WrappedDataKey
from records.storage.sqlite.database import Database

_SELECT = "SELECT record_id, key_version, kek_id, wrapped, created_at FROM data_keys"


def _key(row: tuple) -> WrappedDataKey:
    return WrappedDataKey(row[0], row[1], row[2], bytes(row[3]), datetime.fromisoformat(row[4]))


class SqliteDataKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, record_id: str) -> WrappedDataKey | None:
        row = await self._db.lookup(lambda c: c.execute(f"{_SELECT} WHERE record_id = ?", (record_id,)).fetchone())
        return _key(row) if row else None

    async def get_many(self, record_ids: list[str]) -> dict[str, WrappedDataKey]:
        if not record_ids:
            return {}
        marks = ", ".join("?" * len(record_ids))
        rows = await self._db.read(lambda c: c.execute(f"{_SELECT} WHERE record_id IN ({marks})", record_ids).fetchall())
        return {row[0]: _key(row) for row in rows}

    async def not_under(self, kek_id: str, limit: int) -> list[WrappedDataKey]:
        rows = await self._db.run(
            lambda c: c.execute(f"{_SELECT} WHERE kek_id != ? ORDER BY record_id LIMIT ?", (kek_id, limit)).fetchall()
        )
        return [_key(row) for row in rows]

    async def rewrap(self, new: WrappedDataKey, expected_kek_id: str) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE record_id = ? AND kek_id = ? AND key_version = ?",
                (new.kek_id, new.wrapped, new.record_id, expected_kek_id, new.key_version),
            )
            return cur.rowcount == 1

        return await self._db.run(self._db.transaction(update))

    async def count_by_kek(self) -> dict[str, int]:
        rows = await self._db.run(lambda c: c.execute("SELECT kek_id, count(*) FROM data_keys GROUP BY kek_id").fetchall())
        return {kek_id: n for kek_id, n in rows}

    async def destroy(self, record_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM data_keys WHERE record_id = ?", (record_id,)).rowcount == 1

        destroyed = await self._db.run(self._db.transaction(delete))
        # Move the WAL's copy of the deleted page into the (secure-deleted) database and empty the WAL.
        await self._db.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        return destroyed

    async def record_ids(self, after: str | None, limit: int) -> list[str]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT record_id FROM data_keys WHERE record_id > ? ORDER BY record_id LIMIT ?", (after or "", limit)
        ).fetchall())
        return [r[0] for r in rows]
