"""Record repository on SQLite: whole documents plus indexed copies of the filter fields."""

from __future__ import annotations

import sqlite3

from records.clock import to_text
from records.errors import Conflict
from records.models import Record, RecordQuery
from records.storage.sqlite.database import Database

_COLUMNS = "id, kind, reference, status, channel, urgency, owner, created_at, received_at, updated_at, version, doc"


def _row(record: Record) -> tuple:
    return (
        record.id,
        record.kind.value,
        record.reference,
        record.status,
        record.channel.value,
        record.urgency.value,
        record.owner,
        to_text(record.created_at),
        to_text(record.received_at),
        to_text(record.updated_at),
        record.version,
        record.model_dump_json(),
    )


def _set_classification(conn: sqlite3.Connection, record: Record) -> None:
    conn.execute("DELETE FROM record_classification WHERE record_id = ?", (record.id,))
    conn.executemany(
        "INSERT INTO record_classification (code, record_id) VALUES (?, ?)",
        [(code, record.id) for code in record.classification],
    )


class SqliteRecordRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, record: Record) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO records ({_COLUMNS}) VALUES ({', '.join('?' * 12)})", _row(record))
            except sqlite3.IntegrityError:
                raise Conflict(f"a record with id {record.id} or reference {record.reference} exists") from None
            _set_classification(conn, record)

        await self._db.run(self._db.transaction(insert))

    async def get(self, record_id: str) -> Record | None:
        row = await self._db.run(lambda c: c.execute("SELECT doc FROM records WHERE id = ?", (record_id,)).fetchone())
        return Record.model_validate_json(row[0]) if row else None

    async def replace(self, record: Record, expected_version: int) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE records SET kind=?, reference=?, status=?, channel=?, urgency=?, owner=?, created_at=?,"
                " received_at=?, updated_at=?, version=?, doc=? WHERE id=? AND version=?",
                (*_row(record)[1:], record.id, expected_version),
            )
            if cur.rowcount != 1:
                return False
            _set_classification(conn, record)
            return True

        return await self._db.run(self._db.transaction(update))

    async def find(self, query: RecordQuery) -> list[Record]:
        where: list[str] = []
        args: list[object] = []
        for field in ("kind", "status", "channel", "urgency", "owner", "reference"):
            value = getattr(query, field)
            if value is not None:
                where.append(f"{field} = ?")
                args.append(str(value))
        if query.classification is not None:
            where.append("id IN (SELECT record_id FROM record_classification WHERE code = ?)")
            args.append(query.classification)
        for column, bound, op in (
            ("created_at", query.created_from, ">="),
            ("created_at", query.created_to, "<"),
            ("received_at", query.received_from, ">="),
            ("received_at", query.received_to, "<"),
        ):
            if bound is not None:
                where.append(f"{column} {op} ?")
                args.append(to_text(bound))
        if query.after is not None:
            created, last_id = query.after
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args.extend([to_text(created), to_text(created), last_id])
        sql = "SELECT doc FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(query.limit)
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall())
        return [Record.model_validate_json(row[0]) for row in rows]

    async def next_sequence(self, name: str) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO sequences (name, value) VALUES (?, 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            ).fetchone()
            return int(row[0])

        return await self._db.run(self._db.transaction(bump))
