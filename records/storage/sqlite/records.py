"""Record repository on SQLite: whole documents plus indexed copies of the filter fields."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from records.audit.events import AuditEventDraft
from records.clock import parse_text, to_text, utcnow
from records.crypto.envelope import WrappedDataKey
from records.errors import Conflict
from records.metrics import Metric, MetricBucket, MetricQuery
from records.models import RecordQuery, SlaState
from records.ports import BreachClaim
from records.storage.sqlite.aggregates import aggregate_sql, bucket_rows, outage_sql
from records.storage.sqlite.audit import insert_events
from records.storage.sqlite.database import Database
from records.stored import StoredRecord

_COLUMNS = (
    "id, kind, reference, status, channel, urgency, owner, created_at, received_at, updated_at, version,"
    " customer_phone_idx, customer_account_idx, destroyed_at, created_by, complexity, satisfaction, result_at,"
    " archived_at, service_failed, delivery_failures, delivery_accepted_at, incident_started_at, incident_ended_at,"
    " incident_service, doc"
)
_SETS = ", ".join(f"{c.strip()}=?" for c in _COLUMNS.split(",")[1:])


def _text(value: datetime | None) -> str | None:
    return to_text(value) if value is not None else None


def _row(record: StoredRecord) -> tuple:
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
        record.customer_phone_index,
        record.customer_account_index,
        _text(record.destroyed_at),
        record.created_by,
        record.complexity.value if record.complexity else None,
        record.feedback.satisfaction if record.feedback else None,
        _text(record.result_at),
        _text(record.archived_at),
        None if record.service_failed is None else int(record.service_failed),
        record.delivery.failed_attempts if record.delivery else None,
        _text(record.delivery.accepted_at) if record.delivery else None,
        *_incident_columns(record),
        record.model_dump_json(),
    )


def _incident_columns(record: StoredRecord) -> tuple[str | None, str | None, str | None]:
    window = record.incident_window
    if window is None:
        return None, None, None
    return to_text(window.started_at), _text(window.ended_at), window.service_type.value if window.service_type else None


def _set_deadlines(conn: sqlite3.Connection, record: StoredRecord) -> None:
    """Mirror the record's deadlines into their table; whether a breach was reported survives."""
    names = [d.name for d in record.deadlines]
    conn.execute(
        f"DELETE FROM record_deadlines WHERE record_id = ? AND name NOT IN ({', '.join('?' * len(names))})",
        (record.id, *names),
    )
    conn.executemany(
        "INSERT INTO record_deadlines (record_id, name, due_at, met_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(record_id, name) DO UPDATE SET due_at = excluded.due_at, met_at = excluded.met_at",
        [(record.id, d.name, to_text(d.due_at), _text(d.met_at)) for d in record.deadlines],
    )


def _set_classification(conn: sqlite3.Connection, record: StoredRecord, previous: Sequence[str] = ()) -> None:
    """Make the record's rows in record_classification its codes, given the codes it had.

    Each row carries copies of the record's created_at and received_at (migration 13), so that a
    list by code walks the code's rows alone, newest first or over a received range, instead of
    probing every record. Rows are deleted by (code, record_id), the table's primary key: a
    delete by record_id alone scanned the whole table before record_classification_by_record,
    which made every filing slower as the store grew (found by ``python -m bench api``)."""
    codes = set(record.classification)
    conn.executemany(
        "DELETE FROM record_classification WHERE code = ? AND record_id = ?",
        [(code, record.id) for code in set(previous) - codes],
    )
    created, received = to_text(record.created_at), to_text(record.received_at)
    conn.executemany(
        "INSERT INTO record_classification (code, record_id, created_at, received_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(code, record_id) DO UPDATE SET created_at = excluded.created_at, received_at = excluded.received_at"
        " WHERE created_at IS NOT excluded.created_at OR received_at IS NOT excluded.received_at",
        [(code, record.id, created, received) for code in codes],
    )


# Filters compared for equality, and their columns; the lookups by personal identifier (blind
# indexes) and by reference select a handful of records whatever else is asked.
_EQUALS = (
    ("kind", "kind"), ("status", "status"), ("channel", "channel"), ("urgency", "urgency"), ("owner", "owner"),
    ("reference", "reference"), ("customer_phone_index", "customer_phone_idx"),
    ("customer_account_index", "customer_account_idx"),
)
_NARROW = ("reference", "customer_phone_index", "customer_account_index")


def find_sql(query: RecordQuery) -> tuple[str, list[object]]:
    """The statement listing what ``query`` asks, newest first, and its parameters.

    Every filter is answered from an index (tests/storage/test_record_query_plans.py checks
    each): a list by classification code walks the code's rows in record_classification, which
    carry copies of created_at and received_at for the purpose; the rest walk an index of
    records ordered by (created_at, id) under their first column, so the walk stops at the page
    size; a received_at range reads records_by_received_created, whose entries give the order
    without reading a row."""
    where: list[str] = []
    args: list[object] = []
    by_code = query.classification is not None and not any(getattr(query, f) is not None for f in _NARROW)
    if by_code:
        received_range = query.received_from is not None or query.received_to is not None
        # Over a received range the code's rows in that range are read and the page sorted out of
        # them (index entries only); otherwise the code's rows are walked newest first. Named, as
        # without statistics SQLite cannot tell which of the two a range needs.
        index = "record_classification_by_code_received" if received_range else "record_classification_by_code_created"
        source = f"record_classification c INDEXED BY {index} JOIN records r ON r.id = c.record_id"
        created, received, record_id = "c.created_at", "c.received_at", "c.record_id"
        where.append("c.code = ?")
        args.append(query.classification)
    else:
        source = "records r"
        created, received, record_id = "r.created_at", "r.received_at", "r.id"
        if query.classification is not None:
            where.append("EXISTS (SELECT 1 FROM record_classification WHERE code = ? AND record_id = r.id)")
            args.append(query.classification)
    for field, column in _EQUALS:
        value = getattr(query, field)
        if value is not None:
            where.append(f"r.{column} = ?")
            args.append(str(value))
    for column, bound, op in (
        (created, query.created_from, ">="),
        (created, query.created_to, "<"),
        (received, query.received_from, ">="),
        (received, query.received_to, "<"),
    ):
        if bound is not None:
            where.append(f"{column} {op} ?")
            args.append(to_text(bound))
    if query.sla is SlaState.breached:
        # Met late (deadlines_met_late), or still open past due (deadlines_open).
        where.append(
            f"{record_id} IN (SELECT record_id FROM record_deadlines WHERE met_at > due_at"
            " UNION SELECT record_id FROM record_deadlines WHERE met_at IS NULL AND due_at < ?)"
        )
        args.append(to_text(query.sla_now or utcnow()))
    elif query.sla is SlaState.due_soon:
        now = query.sla_now or utcnow()
        where.append(f"{record_id} IN (SELECT record_id FROM record_deadlines WHERE met_at IS NULL AND due_at >= ? AND due_at < ?)")
        args.extend([to_text(now), to_text(query.sla_soon_until or now)])
    if query.after is not None:
        after_created, last_id = query.after
        # The first term bounds the index walk (it seeks to the position); the OR alone would not.
        where.append(f"{created} <= ? AND ({created} < ? OR {record_id} < ?)")
        args.extend([to_text(after_created), to_text(after_created), last_id])
    # The page is chosen on row ids first and only its rows' documents are read: when no index
    # gives the order (a received_at range), SQLite sorts what it selects, and sorting whole
    # documents of every candidate made that query 10x slower.
    page = f"SELECT r.rowid FROM {source}"
    if where:
        page += " WHERE " + " AND ".join(where)
    page += f" ORDER BY {created} DESC, {record_id} DESC LIMIT ?"
    args.append(query.limit)
    return f"SELECT doc FROM records WHERE rowid IN ({page}) ORDER BY created_at DESC, id DESC", args


class SqliteRecordRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, record: StoredRecord, data_key: WrappedDataKey, events: Sequence[AuditEventDraft] = ()) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO records ({_COLUMNS}) VALUES ({', '.join('?' * len(_row(record)))})", _row(record))
                conn.execute(
                    "INSERT INTO data_keys (record_id, key_version, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)",
                    (data_key.record_id, data_key.key_version, data_key.kek_id, data_key.wrapped, to_text(data_key.created_at)),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a record with id {record.id} or reference {record.reference} exists") from None
            _set_classification(conn, record)
            _set_deadlines(conn, record)
            insert_events(conn, list(events))

        await self._db.run(self._db.transaction(insert))

    async def get(self, record_id: str) -> StoredRecord | None:
        row = await self._db.lookup(lambda c: c.execute("SELECT doc FROM records WHERE id = ?", (record_id,)).fetchone())
        return StoredRecord.model_validate_json(row[0]) if row else None

    async def replace(self, record: StoredRecord, expected_version: int, events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT json_extract(doc, '$.classification') FROM records WHERE id = ?", (record.id,)).fetchone()
            previous = json.loads(row[0]) if row and row[0] else []
            cur = conn.execute(
                f"UPDATE records SET {_SETS} WHERE id=? AND version=?", (*_row(record)[1:], record.id, expected_version)
            )
            if cur.rowcount != 1:
                return False
            _set_classification(conn, record, previous)
            _set_deadlines(conn, record)
            insert_events(conn, list(events))
            return True

        return await self._db.run(self._db.transaction(update))

    async def find(self, query: RecordQuery) -> list[StoredRecord]:
        sql, args = find_sql(query)
        rows = await self._db.read(lambda c: c.execute(sql, args).fetchall())
        return [StoredRecord.model_validate_json(row[0]) for row in rows]

    async def next_sequence(self, name: str) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO sequences (name, value) VALUES (?, 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            ).fetchone()
            return int(row[0])

        # The number is answered before its group's fsync: the filing that uses it is a later
        # change of the same writer, so whenever that filing is durable the number is too; after a
        # crash before it, the number was never used and is given again. Should the group's commit
        # fail, a number may be given twice, and the second filing is refused by the UNIQUE
        # reference rather than stored twice. Filing thus waits for one fsync, not two.
        return await self._db.run(self._db.transaction(bump, answer_before_commit=True))

    async def aggregate(self, metric: Metric, query: MetricQuery) -> list[MetricBucket]:
        sql, args = aggregate_sql(metric, query)
        rows = await self._db.read(lambda c: c.execute(sql, args).fetchall())
        return bucket_rows(rows)

    async def outages(self, start: datetime, end: datetime, service_type: str | None = None) -> list[tuple[datetime, datetime | None]]:
        sql, args = outage_sql(to_text(start), to_text(end), service_type)
        rows = await self._db.read(lambda c: c.execute(sql, args).fetchall())
        return [(parse_text(s), parse_text(e) if e else None) for s, e in rows]

    async def claim_breaches(self, now: datetime, limit: int, events: Callable[[list[BreachClaim]], Sequence[AuditEventDraft]]) -> list[BreachClaim]:
        """Mark up to ``limit`` breached deadlines not reported yet as reported, with their audit
        events in the same transaction, and return them. The mark is the claim: with several
        processes on one store, each breach is reported once."""

        def claim(conn: sqlite3.Connection) -> list[BreachClaim]:
            rows = conn.execute(
                "SELECT d.record_id, d.name, d.due_at, d.met_at, r.reference, r.kind FROM record_deadlines d"
                " JOIN records r ON r.id = d.record_id"
                " WHERE d.breach_reported_at IS NULL AND ((d.met_at IS NULL AND d.due_at < ?) OR d.met_at > d.due_at)"
                " AND r.destroyed_at IS NULL ORDER BY d.due_at LIMIT ?",
                (to_text(now), limit),
            ).fetchall()
            claims = [BreachClaim(record_id=r[0], name=r[1], due_at=parse_text(r[2]), met_at=parse_text(r[3]) if r[3] else None,
                                  reference=r[4], kind=r[5]) for r in rows]
            conn.executemany(
                "UPDATE record_deadlines SET breach_reported_at = ? WHERE record_id = ? AND name = ?",
                [(to_text(now), c.record_id, c.name) for c in claims],
            )
            if claims:
                insert_events(conn, list(events(claims)))
            return claims

        return await self._db.run(self._db.transaction(claim))
