"""Record repository on MongoDB: one document per record (the whole StoredRecord plus indexed
copies of the filter fields), its deadlines mirrored into their own collection for the sweep.

The record is inserted by beanie; a change is a compare-and-swap on its version and the breach
sweep a claim of unreported deadlines, so those use pymongo, whose results say whether they matched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from records.audit.events import AuditEventDraft
from records.clock import as_utc, parse_text, to_text, utcnow
from records.crypto.envelope import WrappedDataKey
from records.errors import Conflict
from records.metrics import Metric, MetricBucket, MetricQuery
from records.models import RecordQuery, SlaState
from records.ports import BreachClaim
from records.storage.mongodb.aggregates import metric_pipeline, outage_filter
from records.storage.mongodb.audit import insert_events
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import DataKeyDocument, DeadlineDocument, DeadlineState, RecordDocument, stored
from records.stored import StoredRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // timedelta(microseconds=1)


# MongoDB merges at most 200 index ranges in order (internalQueryMaxScansToExplode); a longer
# received range is filtered on received_at alone.
_MOST_MONTHS = 120


def received_months(lower: datetime | None, upper: datetime | None) -> list[str] | None:
    """The ``received_month`` labels a received range [lower, upper) touches, for the
    month-prefixed indexes; None for an open, empty or very long range."""
    if lower is None or upper is None or upper <= lower:
        return None
    first, last = as_utc(lower), as_utc(upper) - timedelta(microseconds=1)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span > _MOST_MONTHS:
        return None
    # Labelled as record_document labels them (strftime), so that the two always agree.
    return [datetime(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1).strftime("%Y-%m")
            for i in range(span)]


def _text(value: datetime | None) -> str | None:
    return to_text(value) if value is not None else None


def record_document(record: StoredRecord) -> RecordDocument:
    received = as_utc(record.received_at)
    monday = (received - timedelta(days=received.weekday())).date()
    return RecordDocument(
        id=record.id, record_id=record.id, reference=record.reference, kind=record.kind.value, status=record.status,
        channel=record.channel.value, urgency=record.urgency.value, owner=record.owner, created_by=record.created_by,
        complexity=record.complexity.value if record.complexity else None,
        satisfaction=record.feedback.satisfaction if record.feedback else None,
        classification=list(record.classification),
        created_at=to_text(record.created_at), received_at=to_text(record.received_at),
        updated_at=to_text(record.updated_at), result_at=_text(record.result_at),
        archived_at=_text(record.archived_at), destroyed_at=_text(record.destroyed_at),
        service_failed=record.service_failed,
        delivery_failures=record.delivery.failed_attempts if record.delivery else None,
        delivery_accepted_at=_text(record.delivery.accepted_at) if record.delivery else None,
        incident_started_at=_text(record.incident_window.started_at) if record.incident_window else None,
        incident_ended_at=_text(record.incident_window.ended_at) if record.incident_window else None,
        incident_open=record.incident_window is not None and record.incident_window.ended_at is None,
        incident_service=(record.incident_window.service_type.value
                          if record.incident_window and record.incident_window.service_type else None),
        received_day=received.date().isoformat(), received_week=monday.isoformat(),
        received_month=received.strftime("%Y-%m"), received_us=micros(received), created_us=micros(record.created_at),
        result_us=micros(record.result_at) if record.result_at else None,
        archived_us=micros(record.archived_at) if record.archived_at else None,
        version=record.version, customer_phone_idx=record.customer_phone_index,
        customer_account_idx=record.customer_account_index,
        deadlines=[
            DeadlineState(name=d.name, due_at=to_text(d.due_at), met_at=_text(d.met_at), open=d.met_at is None,
                          late=d.met_at is not None and d.met_at > d.due_at)
            for d in record.deadlines
        ],
        doc=record.model_dump(mode="json"),
    )


def _stored(doc: dict[str, Any]) -> StoredRecord:
    return StoredRecord.model_validate(doc["doc"])


async def _mirror_deadlines(db: MongoDatabase, document: RecordDocument, session: Any) -> None:
    """Mirror the record's deadlines into their collection; whether a breach was reported survives."""
    deadlines = db.collection("record_deadlines")
    names = [d.name for d in document.deadlines]
    await deadlines.delete_many({"record_id": document.id, "name": {"$nin": names}}, session=session)
    for d in document.deadlines:
        mirrored = stored(DeadlineDocument(
            id=f"{document.id}/{d.name}", record_id=document.id, name=d.name, reference=document.reference,
            kind=document.kind, due_at=d.due_at, met_at=d.met_at, open=d.open, late=d.late,
            record_destroyed=document.destroyed_at is not None))
        reported = {"breach_reported_at": mirrored.pop("breach_reported_at")}  # set once, by the breach sweep
        await deadlines.update_one({"_id": mirrored.pop("_id")}, {"$set": mirrored, "$setOnInsert": reported},
                                   upsert=True, session=session)


class MongoRecordRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db

    async def add(self, record: StoredRecord, data_key: WrappedDataKey, events: Sequence[AuditEventDraft] = ()) -> None:
        from pymongo.errors import DuplicateKeyError

        await self._db.ready()  # beanie documents exist only once beanie is initialised
        document = record_document(record)
        key = DataKeyDocument(id=data_key.record_id, key_version=data_key.key_version, kek_id=data_key.kek_id,
                              wrapped=data_key.wrapped, created_at=to_text(data_key.created_at))

        async def insert(session: Any) -> None:
            await document.insert(session=session)
            await key.insert(session=session)
            await _mirror_deadlines(self._db, document, session)
            await insert_events(self._db, list(events), session)

        try:
            await self._db.transaction(insert)
        except DuplicateKeyError:
            raise Conflict(f"a record with id {record.id} or reference {record.reference} exists") from None

    async def get(self, record_id: str) -> StoredRecord | None:
        found = await self._db.read(lambda: self._db.collection("records").find_one({"_id": record_id}, {"doc": 1}))
        return _stored(found) if found else None

    async def replace(self, record: StoredRecord, expected_version: int, events: Sequence[AuditEventDraft] = ()) -> bool:
        await self._db.ready()
        document = record_document(record)
        body = document.model_dump(by_alias=True)

        async def update(session: Any) -> bool:
            swapped = await self._db.collection("records").replace_one(
                {"_id": record.id, "version": expected_version}, body, session=session  # compare-and-swap
            )
            if swapped.matched_count != 1:
                return False
            await _mirror_deadlines(self._db, document, session)
            await insert_events(self._db, list(events), session)
            return True

        return await self._db.transaction(update)

    async def find(self, query: RecordQuery) -> list[StoredRecord]:
        where: dict[str, Any] = {}
        for field, column in (
            ("kind", "kind"), ("status", "status"), ("channel", "channel"), ("urgency", "urgency"),
            ("owner", "owner"), ("reference", "reference"), ("classification", "classification"),
            ("customer_phone_index", "customer_phone_idx"), ("customer_account_index", "customer_account_idx"),
        ):
            value = getattr(query, field)
            if value is not None:
                where[column] = str(value)
        for column, lower, upper in (("created_at", query.created_from, query.created_to),
                                     ("received_at", query.received_from, query.received_to)):
            bounds = {op: to_text(v) for op, v in (("$gte", lower), ("$lt", upper)) if v is not None}
            if bounds:
                where[column] = bounds
        months = received_months(query.received_from, query.received_to)
        if months is not None:
            where["received_month"] = {"$in": months}
        clauses: list[dict[str, Any]] = []
        now = to_text(query.sla_now or utcnow())
        if query.sla is SlaState.breached:  # met late, or still open past due
            clauses.append({"$or": [{"deadlines.late": True},
                                    {"deadlines": {"$elemMatch": {"open": True, "due_at": {"$lt": now}}}}]})
        elif query.sla is SlaState.due_soon:
            until = to_text(query.sla_soon_until or query.sla_now or utcnow())
            where["deadlines"] = {"$elemMatch": {"open": True, "due_at": {"$gte": now, "$lt": until}}}
        if query.after is not None:
            created, last_id = to_text(query.after[0]), query.after[1]
            clauses.append({"$or": [{"created_at": {"$lt": created}}, {"created_at": created, "record_id": {"$lt": last_id}}]})
        if clauses:
            where["$and"] = clauses

        async def fetch() -> list[dict[str, Any]]:
            cursor = self._db.collection("records").find(where, {"doc": 1})
            return await cursor.sort([("created_at", -1), ("record_id", -1)]).limit(query.limit).to_list()

        return [_stored(doc) for doc in await self._db.read(fetch)]

    async def next_sequence(self, name: str) -> int:
        from pymongo import ReturnDocument

        async with self._db.writing():
            found = await self._db.collection("sequences").find_one_and_update(
                {"_id": f"counter:{name}"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        return int(found["value"])

    async def aggregate(self, metric: Metric, query: MetricQuery) -> list[MetricBucket]:
        from records.metrics import bucket

        pipeline = metric_pipeline(metric, query)
        rows = await self._db.read(lambda: self._aggregate(pipeline))
        return [bucket(row["_id"], float(row["numerator"] or 0), int(row["denominator"] or 0)) for row in rows]

    async def outages(self, start: datetime, end: datetime, service_type: str | None = None) -> list[tuple[datetime, datetime | None]]:
        where = outage_filter(to_text(start), to_text(end), service_type)
        fields = {"incident_started_at": 1, "incident_ended_at": 1}

        async def found() -> list[dict[str, Any]]:
            return await self._db.collection("records").find(where, fields).to_list()

        rows = await self._db.read(found)
        return [(parse_text(r["incident_started_at"]), parse_text(r["incident_ended_at"]) if r.get("incident_ended_at") else None)
                for r in rows]

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = await self._db.collection("records").aggregate(pipeline)
        return await cursor.to_list()

    async def claim_breaches(
        self, now: datetime, limit: int, events: Callable[[list[BreachClaim]], Sequence[AuditEventDraft]]
    ) -> list[BreachClaim]:
        """Each claim is a conditional update (``breach_reported_at`` still null) in the transaction
        that appends the events: with several instances sweeping, each breach is reported once."""
        at = to_text(now)
        where = {"breach_reported_at": None, "record_destroyed": False,
                 "$or": [{"late": True}, {"open": True, "due_at": {"$lt": at}}]}
        deadlines = self._db.collection("record_deadlines")

        async def candidates() -> list[dict[str, Any]]:
            return await deadlines.find(where).sort("due_at", 1).limit(limit).to_list()

        if not await self._db.read(candidates):
            return []  # nothing to claim: no transaction at all, the usual case of a sweep

        async def claim(session: Any) -> list[BreachClaim]:
            claims = []
            for row in await deadlines.find(where, session=session).sort("due_at", 1).limit(limit).to_list():
                taken = await deadlines.update_one({"_id": row["_id"], "breach_reported_at": None},
                                                   {"$set": {"breach_reported_at": at}}, session=session)
                if taken.modified_count == 1:
                    claims.append(BreachClaim(record_id=row["record_id"], reference=row["reference"], kind=row["kind"],
                                              name=row["name"], due_at=parse_text(row["due_at"]),
                                              met_at=parse_text(row["met_at"]) if row["met_at"] else None))
            if claims:
                await insert_events(self._db, list(events(claims)), session)
            return claims

        return await self._db.transaction(claim)
