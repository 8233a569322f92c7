"""Retention on MongoDB: versioned schedules, assignments indexed by retain-until, events, legal
holds, disposition batches with one document per item, tombstones and certificates.

Each model is stored whole (``doc``) beside the fields queries use, with the same semantics as
the SQLite adapter: every write commits its audit events in its transaction, and the due query
is a range scan of the ``retention_due`` index (pending, retain_until, record_id), a page at a time.

Documents are built and simple reads made by their beanie classes (``documents.py``); inside a
transaction the adapter uses pymongo with the transaction's session where a write is a compare-and-swap whose matched count decides, an upsert that keeps what was set on insert, or the holds fence (beanie reports neither).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from records.audit.events import AuditEventDraft
from records.clock import parse_text, to_text, utcnow
from records.errors import Conflict
from records.retention import states
from records.retention.floors import RetentionFloor
from records.retention.models import (
    BatchItem,
    DecisionTally,
    DestructionCertificate,
    DispositionBatch,
    ItemFilter,
    ItemPage,
    ItemState,
    LegalHold,
    RetentionAssignment,
    RetentionSchedule,
    Tombstone,
    WaitingItems,
    progress_of,
)
from records.roles import Principal
from records.storage.mongodb.audit import insert_events
from records.storage.mongodb.compat import differs
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import (
    DestructionCertificateDocument,
    DispositionBatchDocument,
    DispositionItemDocument,
    LegalHoldDocument,
    LegalHoldItemDocument,
    RetentionAssignmentDocument,
    RetentionEventDocument,
    RetentionFloorDocument,
    RetentionScheduleDocument,
    TombstoneDocument,
    stored,
)

T = TypeVar("T")
ARCHIVED = "archived"
# One document every hold placement and every destruction decision writes in its transaction.
# Snapshot isolation alone would let a decision (reads holds, writes a key) and a placement (reads
# keys, writes a hold) both commit unseen by each other; writing a common document makes the
# second one conflict and retry, so the two are serialised.
HOLDS_FENCE = "legal-holds-fence"


def _t(value: datetime | None) -> str | None:
    return to_text(value) if value is not None else None


def _json(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


def assignment_doc(a: RetentionAssignment) -> dict[str, Any]:
    return stored(RetentionAssignmentDocument(
        id=a.record_id, record_id=a.record_id, schedule_id=a.schedule.id if a.schedule else None,
        retain_until=_t(a.retain_until), batch_id=a.batch_id, disposed=a.disposed_at is not None,
        pending=states.awaiting_disposition(a), doc=_json(a)))


def schedule_doc(s: RetentionSchedule) -> dict[str, Any]:
    return stored(RetentionScheduleDocument(
        id=f"{s.id}:{s.version}", schedule_id=s.id, version=s.version, name=s.name, latest=True,
        name_slot=f"latest:{s.name}", created_at=to_text(s.created_at), doc=_json(s)))


def event_doc(name: str, record_id: str, occurred_at: str) -> dict[str, Any]:
    return stored(RetentionEventDocument(id=f"{name}/{record_id}", name=name, record_id=record_id, occurred_at=occurred_at))


def hold_doc(hold: LegalHold) -> dict[str, Any]:
    q = hold.query
    return stored(LegalHoldDocument(
        id=hold.id, hold_id=hold.id, placed_at=to_text(hold.placed_at), released=hold.released_at is not None,
        has_query=q is not None, q_kind=q.kind.value if q and q.kind else None,
        q_account_idx=q.customer_account_index if q else None, q_phone_idx=q.customer_phone_index if q else None,
        q_from=_t(q.received_from) if q else None, q_to=_t(q.received_to) if q else None, doc=_json(hold)))


def hold_item_doc(hold_id: str, record_id: str) -> dict[str, Any]:
    return stored(LegalHoldItemDocument(id=f"{hold_id}/{record_id}", hold_id=hold_id, record_id=record_id))


def batch_doc(batch: DispositionBatch, created_at: str | None = None) -> dict[str, Any]:
    """The batch without its items (``created_at`` as stored, when moved from another store)."""
    assert batch.id is not None
    return stored(DispositionBatchDocument(id=batch.id, batch_id=batch.id, status=batch.status.value,
                                            created_at=created_at or to_text(batch.created_at), doc=batch_header(batch)))


def item_doc(batch_id: str, position: int, item: BatchItem) -> dict[str, Any]:
    return stored(DispositionItemDocument(id=f"{batch_id}/{item.record_id}", batch_id=batch_id, position=position,
                                           record_id=item.record_id, state=item.state.value, doc=_json(item)))


def tombstone_doc(tombstone: Tombstone, batch_id: str | None = None) -> dict[str, Any]:
    return stored(TombstoneDocument(id=tombstone.record_id, batch_id=batch_id or tombstone.batch_id, doc=_json(tombstone)))


def certificate_doc(certificate: DestructionCertificate, issued_at: str | None = None) -> dict[str, Any]:
    return stored(DestructionCertificateDocument(id=certificate.id, batch_id=certificate.batch_id,
                                                  issued_at=issued_at or to_text(certificate.issued_at),
                                                  doc=_json(certificate)))


def floor_doc(floor: RetentionFloor) -> dict[str, Any]:
    return stored(RetentionFloorDocument(id=floor.id, key=floor.key, created_at=to_text(floor.created_at),
                                          removed=floor.removed_at is not None, doc=_json(floor)))


def batch_header(batch: DispositionBatch) -> dict[str, Any]:
    return _json(batch.model_copy(update={"items": [], "progress": None}))


class MongoRetentionRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        c = db.collection
        self._schedules, self._assignments, self._events = c("retention_schedules"), c("retention_assignments"), c("retention_events")
        self._holds, self._hold_items = c("legal_holds"), c("legal_hold_items")
        self._batches, self._items = c("disposition_batches"), c("disposition_items")
        self._tombstones, self._certificates = c("tombstones"), c("destruction_certificates")
        self._floors = c("retention_floors")

    async def _write(self, fn: Callable[[Any], Awaitable[T]], events: Sequence[AuditEventDraft]) -> T:
        """``fn(session)`` and, unless it returns False, the audit ``events``, in one transaction."""
        async def run(session: Any) -> T:
            result = await fn(session)
            if result is not False:
                await insert_events(self._db, list(events), session)
            return result

        return await self._db.transaction(run)

    # --- schedules -----------------------------------------------------------------------------

    async def _name_taken(self, name: str, schedule_id: str | None, session: Any) -> bool:
        found = await self._schedules.find_one({"name_slot": f"latest:{name}"}, session=session)
        return found is not None and found["schedule_id"] != schedule_id

    async def add_schedule(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> None:
        from pymongo.errors import DuplicateKeyError

        async def insert(session: Any) -> None:
            if await self._name_taken(schedule.name, None, session):
                raise Conflict(f"a retention schedule named {schedule.name!r} exists")
            await self._schedules.insert_one(schedule_doc(schedule), session=session)

        try:
            await self._write(insert, events)
        except DuplicateKeyError:  # a concurrent schedule took the name (or the id) first
            raise Conflict(f"a retention schedule named {schedule.name!r} exists") from None

    async def add_schedule_version(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> bool:
        from pymongo.errors import DuplicateKeyError

        await self._db.ready()  # the documents' classes exist once beanie is initialised
        doc = schedule_doc(schedule)

        async def insert(session: Any) -> bool:
            if await self._schedules.find_one({"_id": doc["_id"]}, {"_id": 1}, session=session):
                return False
            if await self._name_taken(schedule.name, schedule.id, session):
                raise Conflict(f"a retention schedule named {schedule.name!r} exists")
            previous = await self._schedules.find({"schedule_id": schedule.id, "latest": True}, {"_id": 1},
                                                  session=session).to_list()
            for row in previous:
                await self._schedules.update_one({"_id": row["_id"]},
                                                 {"$set": {"latest": False, "name_slot": f"old:{row['_id']}"}}, session=session)
            await self._schedules.insert_one(doc, session=session)
            return True

        try:
            return await self._write(insert, events)
        except DuplicateKeyError:  # a concurrent edit stored this version, or took the name, first
            if await self._db.read(lambda: self._schedules.find_one({"_id": doc["_id"]}, {"_id": 1})):
                return False
            raise Conflict(f"a retention schedule named {schedule.name!r} exists") from None

    async def schedule(self, schedule_id: str, version: int | None = None) -> RetentionSchedule | None:
        where: dict[str, Any] = {"schedule_id": schedule_id}
        if version is not None:
            where["version"] = version
        rows = await self._db.read(lambda: RetentionScheduleDocument.find(where).sort("-version").limit(1).to_list())
        return RetentionSchedule.model_validate(rows[0].doc) if rows else None

    async def schedules(self) -> list[RetentionSchedule]:
        rows = await self._db.read(
            lambda: RetentionScheduleDocument.find({"latest": True}).sort("+name", "+schedule_id").to_list())
        return [RetentionSchedule.model_validate(r.doc) for r in rows]

    # --- floors --------------------------------------------------------------------------------

    async def add_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        from pymongo.errors import DuplicateKeyError

        async def insert(session: Any) -> bool:
            if await self._floors.find_one({"key": floor.key}, {"_id": 1}, session=session):
                return False
            await self._floors.insert_one(floor_doc(floor), session=session)
            return True

        try:
            return await self._write(insert, events)
        except DuplicateKeyError:  # a concurrent seed stored the same key first
            return False

    async def floors(self) -> list[RetentionFloor]:
        rows = await self._db.read(lambda: RetentionFloorDocument.find_all().sort("+created_at", "+key").to_list())
        return [RetentionFloor.model_validate(r.doc) for r in rows]

    async def remove_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        async def update(session: Any) -> bool:
            result = await self._floors.update_one({"_id": floor.id, "removed": False},
                                                   {"$set": {"removed": True, "doc": _json(floor)}}, session=session)
            return result.modified_count == 1

        return await self._write(update, events)

    # --- assignments ---------------------------------------------------------------------------

    async def _get_assignment(self, record_id: str, session: Any = None) -> RetentionAssignment | None:
        found = await self._assignments.find_one({"_id": record_id}, session=session)
        return RetentionAssignment.model_validate(found["doc"]) if found else None

    async def _put_assignment(self, a: RetentionAssignment, session: Any) -> None:
        await self._assignments.replace_one({"_id": a.record_id}, assignment_doc(a), upsert=True, session=session)

    async def assignment(self, record_id: str) -> RetentionAssignment | None:
        return await self._db.read(lambda: self._get_assignment(record_id))

    async def put_assignment(self, assignment: RetentionAssignment, events: Sequence[AuditEventDraft] = ()) -> None:
        await self._write(lambda s: self._put_assignment(assignment, s), events)

    async def unassigned_archived(self, after: str | None, limit: int) -> list[str]:
        """Archived records by id (index records_by_status_id), a page at a time, less those
        with an assignment (looked up by _id for the page): no join, nothing loaded whole."""
        records = self._db.collection("records")
        found: list[str] = []
        cursor_after = after or ""
        while len(found) < limit:
            async def page(start: str = cursor_after) -> list[dict[str, Any]]:
                return await records.find({"status": ARCHIVED, "destroyed_at": None, "record_id": {"$gt": start}},
                                          {"record_id": 1}).sort("record_id", 1).limit(limit).to_list()

            rows = await self._db.read(page)
            if not rows:
                break
            ids = [r["record_id"] for r in rows]
            assigned = {r["_id"] for r in await self._db.read(
                lambda ids=ids: self._assignments.find({"_id": {"$in": ids}}, {"_id": 1}).to_list())}
            found.extend(i for i in ids if i not in assigned)
            if len(rows) < limit:
                break
            cursor_after = ids[-1]
        return found[:limit]

    async def due(self, as_of: datetime, after: tuple[datetime, str] | None, limit: int) -> list[RetentionAssignment]:
        where: dict[str, Any] = {"pending": True, "retain_until": {"$lte": to_text(as_of)}}
        if after is not None:
            at = to_text(after[0])
            where["$or"] = [{"retain_until": {"$gt": at}}, {"retain_until": at, "record_id": {"$gt": after[1]}}]

        async def fetch() -> list[dict[str, Any]]:
            cursor = self._assignments.find(where, {"doc": 1})  # retention_due
            return await cursor.sort([("retain_until", 1), ("record_id", 1)]).limit(limit).to_list()

        return [RetentionAssignment.model_validate(r["doc"]) for r in await self._db.read(fetch)]

    async def assignments_under(self, schedule_id: str, after: str | None, limit: int) -> list[RetentionAssignment]:
        rows = await self._db.read(lambda: self._assignments.find(
            {"schedule_id": schedule_id, "disposed": False, "record_id": {"$gt": after or ""}}, {"doc": 1}
        ).sort("record_id", 1).limit(limit).to_list())
        return [RetentionAssignment.model_validate(r["doc"]) for r in rows]

    async def record_event(self, name: str, record_id: str, occurred_at: datetime) -> datetime:
        from pymongo.errors import DuplicateKeyError

        key = f"{name}/{record_id}"
        try:
            async with self._db.writing():
                await self._events.update_one(
                    {"_id": key}, {"$setOnInsert": {k: v for k, v in event_doc(name, record_id, to_text(occurred_at)).items()
                                                    if k != "_id"}}, upsert=True)
        except DuplicateKeyError:
            pass  # a concurrent upsert inserted it: the first occurrence stays
        return await self.event_time(name, record_id)  # type: ignore[return-value]

    async def event_time(self, name: str, record_id: str) -> datetime | None:
        found = await self._db.read(lambda: RetentionEventDocument.get(f"{name}/{record_id}"))
        return parse_text(found.occurred_at) if found else None

    # --- legal holds ---------------------------------------------------------------------------

    async def add_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> list[str]:
        async def insert(session: Any) -> list[str]:
            await self._touch_fence(session)
            ids = list(dict.fromkeys(hold.record_ids))
            keys = {row["_id"]: states.key_state(True, row.get("doomed_at")) for row in await self._db.collection(
                "data_keys").find({"_id": {"$in": ids}}, {"doomed_at": 1}, session=session).to_list()} if ids else {}
            doomed_matching = await self._doomed_matching(hold, session) if hold.query is not None else []
            decided = states.decided_before_hold(ids, keys, doomed_matching)
            await self._holds.insert_one(hold_doc(hold.with_decided(decided)), session=session)
            items = [hold_item_doc(hold.id, rid) for rid in ids]
            if items:
                await self._hold_items.insert_many(items, session=session)
            return decided

        return await self._write(insert, events)

    async def _doomed_matching(self, hold: LegalHold, session: Any) -> list[str]:
        """Records the hold's saved query matches whose destruction is under way (few: data_keys_doomed)."""
        q = hold.query
        assert q is not None
        doomed = [row["_id"] for row in await self._db.collection("data_keys").find(
            {"doomed_at": {"$type": "string"}}, {"_id": 1}, session=session).to_list()]
        if not doomed:
            return []
        where: dict[str, Any] = {"_id": {"$in": doomed}}
        for field, value in (("kind", q.kind.value if q.kind else None), ("customer_account_idx", q.customer_account_index),
                             ("customer_phone_idx", q.customer_phone_index)):
            if value is not None:
                where[field] = value
        received = {op: to_text(v) for op, v in (("$gte", q.received_from), ("$lt", q.received_to)) if v is not None}
        if received:
            where["received_at"] = received
        rows = await self._db.collection("records").find(where, {"_id": 1}, session=session).to_list()
        return sorted(row["_id"] for row in rows)

    async def _touch_fence(self, session: Any) -> None:
        await self._db.collection("sequences").update_one(
            {"_id": HOLDS_FENCE}, {"$inc": {"value": 1}}, upsert=True, session=session)

    async def hold(self, hold_id: str) -> LegalHold | None:
        found = await self._db.read(lambda: LegalHoldDocument.get(hold_id))
        return LegalHold.model_validate(found.doc) if found else None

    async def holds(self, active_only: bool = False) -> list[LegalHold]:
        where = {"released": False} if active_only else {}
        rows = await self._db.read(lambda: LegalHoldDocument.find(where).sort("-placed_at", "+hold_id").to_list())
        return [LegalHold.model_validate(r.doc) for r in rows]

    async def release_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> bool:
        async def update(session: Any) -> bool:
            done = await self._holds.update_one({"_id": hold.id, "released": False},
                                                {"$set": {"released": True, "doc": _json(hold)}}, session=session)
            return done.modified_count == 1

        return await self._write(update, events)

    async def _holds_on(self, record_id: str, session: Any = None) -> list[str]:
        """Active holds naming the record (hold_items_by_record), or whose saved query matches its
        clear governance fields and blind indexes (holds_active_queries), never its personal data."""
        named = [r["hold_id"] for r in await self._hold_items.find({"record_id": record_id}, session=session).to_list()]
        found: set[str] = set()
        if named:
            active = await self._holds.find({"_id": {"$in": named}, "released": False}, {"_id": 1}, session=session).to_list()
            found.update(r["_id"] for r in active)
        record = await self._db.collection("records").find_one(
            {"_id": record_id}, {"kind": 1, "customer_account_idx": 1, "customer_phone_idx": 1, "received_at": 1}, session=session)
        if record is not None:
            received = record["received_at"]
            matching = await self._holds.find({"released": False, "has_query": True, "$and": [
                {"$or": [{"q_kind": None}, {"q_kind": record["kind"]}]},
                {"$or": [{"q_account_idx": None}, {"q_account_idx": record.get("customer_account_idx")}]},
                {"$or": [{"q_phone_idx": None}, {"q_phone_idx": record.get("customer_phone_idx")}]},
                {"$or": [{"q_from": None}, {"q_from": {"$lte": received}}]},
                {"$or": [{"q_to": None}, {"q_to": {"$gt": received}}]},
            ]}, {"_id": 1}, session=session).to_list()
            found.update(r["_id"] for r in matching)
        return sorted(found)

    async def holds_on(self, record_id: str) -> list[str]:
        return await self._db.read(lambda: self._holds_on(record_id))

    async def retention_of(self, record_ids: list[str]) -> dict[str, tuple[RetentionAssignment, list[str]]]:
        async def load() -> dict[str, tuple[RetentionAssignment, list[str]]]:
            ids = list(dict.fromkeys(record_ids))
            assigned = {r["_id"]: RetentionAssignment.model_validate(r["doc"])
                        async for r in self._assignments.find({"_id": {"$in": ids}})}
            return {rid: (assigned[rid], await self._holds_on(rid)) for rid in ids if rid in assigned}

        return await self._db.read(load)

    async def decide_destruction(self, record_id: str) -> list[str]:
        async def decide(session: Any) -> list[str]:
            await self._touch_fence(session)
            key = await self._db.collection("data_keys").find_one({"_id": record_id}, {"doomed_at": 1}, session=session)
            decision = states.decide_destruction(states.key_state(key is not None, key.get("doomed_at") if key else None),
                                                 await self._holds_on(record_id, session))
            if decision.doom:
                await self._db.collection("data_keys").update_one(
                    {"_id": record_id, "doomed_at": None}, {"$set": {"doomed_at": to_text(utcnow())}}, session=session)
            return decision.refused_by

        return await self._db.transaction(decide)

    # --- batches -------------------------------------------------------------------------------

    async def add_batch(self, batch: DispositionBatch, events: Sequence[AuditEventDraft] = ()) -> None:
        assert batch.id is not None
        batch_id = batch.id

        async def insert(session: Any) -> None:
            await self._batches.insert_one(batch_doc(batch), session=session)
            if batch.items:
                await self._items.insert_many([item_doc(batch_id, n, item) for n, item in enumerate(batch.items)],
                                              session=session)
            for item in batch.items:
                claimed = await self._assignments.update_one(
                    {"_id": item.record_id, "batch_id": None, "disposed": False},
                    {"$set": {"batch_id": batch_id, "pending": False, "doc.batch_id": batch_id}}, session=session)
                if claimed.matched_count != 1:
                    raise Conflict(f"record {item.record_id} was gathered by another sweep meanwhile; sweep again")

        await self._write(insert, events)

    async def batch(self, batch_id: str) -> DispositionBatch | None:
        async def load() -> DispositionBatch | None:
            found = await self._batches.find_one({"_id": batch_id})
            if found is None:
                return None
            batch = DispositionBatch.model_validate(found["doc"])
            rows = await self._items.find({"batch_id": batch_id}, {"doc": 1}).sort("position", 1).to_list()
            batch.items = [BatchItem.model_validate(r["doc"]) for r in rows]
            batch.progress = batch.summary()
            return batch

        return await self._db.read(load)

    async def batch_progress(self, batch_id: str) -> DispositionBatch | None:
        async def load() -> DispositionBatch | None:
            found = await self._batches.find_one({"_id": batch_id})
            if found is None:
                return None
            batch = DispositionBatch.model_validate(found["doc"])
            # Counted from the stored documents without building a model per item. (A $group on a
            # compound key, or projecting doc.decision alone, would leave more to the server, but
            # not every server we run on, nx-27017 included, does either.)
            counts: dict[tuple[str, str], int] = {}
            async for r in self._items.find({"batch_id": batch_id}, {"state": 1, "doc": 1}):
                key = (r["state"], r["doc"]["decision"])
                counts[key] = counts.get(key, 0) + 1
            batch.progress = progress_of(counts)
            return batch

        return await self._db.read(load)

    async def batch_items(self, batch_id: str, filters: ItemFilter, offset: int, limit: int) -> ItemPage:
        where: dict[str, Any] = {"batch_id": batch_id}
        if filters.decision is not None:
            where["doc.decision"] = filters.decision.value
        if filters.kind is not None:
            where["doc.kind"] = filters.kind.value
        if filters.reference:
            where["doc.reference"] = {"$regex": "^" + re.escape(filters.reference), "$options": "i"}

        async def load() -> ItemPage:
            matched = await self._items.count_documents(where)
            rows = await self._items.find(where, {"doc": 1}).sort("position", 1).skip(offset).limit(limit).to_list() \
                if limit > 0 else []
            return ItemPage(items=[BatchItem.model_validate(r["doc"]) for r in rows], matched=matched)

        return await self._db.read(load)

    async def decision_tally(self, batch_id: str, approvals_needed: int) -> DecisionTally:
        # One count per figure (items_by_batch narrows each): nx-27017 groups on no compound key.
        async def count() -> DecisionTally:
            def n(**where: Any) -> Awaitable[int]:
                return self._items.count_documents({"batch_id": batch_id, **where})

            total = await n()
            pending = await n(**{"doc.decision": "pending"})
            kept = await n(**{"doc.decision": {"$in": ["reject", "extend"]}})
            # states.short_of_approvals over the approved ones' stored fields (nx-27017 matches no
            # array position, such as doc.approvers.1, so the server cannot count these).
            approved = short = 0
            async for r in self._items.find({"batch_id": batch_id, "doc.decision": "approve"}, {"doc": 1}):
                approved += 1
                short += not r["doc"].get("stages") and len(r["doc"].get("approvers") or []) < approvals_needed
            return DecisionTally(total=total, pending=pending, short=short, approved=approved - short, kept=kept)

        return await self._db.read(count)

    async def waiting(self, who: Principal, decides_unstaged: bool, batch_id: str | None, limit: int) -> WaitingItems:
        """The server narrows to undecided or approved waiting items of open batches (a staged one
        only when a stage of it names ``who``); ``states.waits_for`` decides each of those."""
        async def load() -> WaitingItems:
            where_batch: dict[str, Any] = {"status": "open"} | ({"_id": batch_id} if batch_id is not None else {})
            needed = {b["_id"]: states.approvals_needed(bool(b["doc"].get("two_person_rule")))
                      async for b in self._batches.find(where_batch, {"doc": 1})}
            if not needed:
                return WaitingItems(items=[], total=0)
            # A staged item whose any stage names ``who`` (the current one is decided below).
            kinds: list[dict[str, Any]] = [{"doc.decision": "pending", "doc.stages.roles": who.role.value},
                                           {"doc.decision": "pending", "doc.stages.users": who.name}]
            if decides_unstaged:
                kinds.append({"doc.decision": {"$in": ["pending", "approve"]}})
            found = []
            async for r in self._items.find({"batch_id": {"$in": list(needed)}, "state": ItemState.waiting.value,
                                             "$or": kinds}, {"batch_id": 1, "doc": 1}):
                item = BatchItem.model_validate(r["doc"])
                if states.waits_for(item, who, needed[r["batch_id"]], decides_unstaged):
                    found.append((r["batch_id"], item))
            found.sort(key=lambda f: (f[1].retain_until, f[1].reference, f[0], f[1].record_id))
            return WaitingItems(items=found[:max(limit, 0)], total=len(found))

        return await self._db.read(load)

    async def batches(self, status: str | None, limit: int) -> list[DispositionBatch]:
        where = {"status": status} if status else {}
        rows = await self._db.read(lambda: DispositionBatchDocument.find(where).sort(
            "-created_at", "+batch_id").limit(limit).to_list())
        return [DispositionBatch.model_validate(r.doc) for r in rows]

    async def update_batch(self, batch: DispositionBatch, expected_status: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        async def update(session: Any) -> bool:
            done = await self._batches.update_one({"_id": batch.id, "status": expected_status},
                                                  {"$set": {"status": batch.status.value, "doc": batch_header(batch)}},
                                                  session=session)
            return done.matched_count == 1

        return await self._write(update, events)

    async def decide(self, batch_id: str, items: list[BatchItem], assignments: list[RetentionAssignment],
                     events: Sequence[AuditEventDraft] = ()) -> bool:
        async def update(session: Any) -> bool:
            # Writing the batch document (not only reading it) makes a concurrent status change conflict.
            opened = await self._batches.update_one({"_id": batch_id, "status": "open"}, {"$set": {"status": "open"}},
                                                    session=session)
            if opened.matched_count != 1:
                return False
            for i in items:
                await self._items.update_one({"_id": f"{batch_id}/{i.record_id}"},
                                             {"$set": {"state": i.state.value, "doc": _json(i)}}, session=session)
            for a in assignments:
                await self._put_assignment(a, session)
            return True

        return await self._write(update, events)

    async def claim_item(self, batch_id: str, record_id: str, events: Sequence[AuditEventDraft] = ()) -> str:
        async def claim(session: Any) -> str:
            row = await self._items.find_one({"_id": f"{batch_id}/{record_id}"}, session=session)
            if row is None:
                raise states.not_in_batch(batch_id, record_id)
            claim = states.claim(BatchItem.model_validate(row["doc"]), await self._holds_on(record_id, session),
                                 await self._get_assignment(record_id, session))
            if claim.item is not None:
                # Conditional on the state read: snapshot isolation alone would let two claims both win.
                swapped = await self._items.update_one({"_id": row["_id"], "state": row["state"]},
                                                       {"$set": {"state": claim.item.state.value, "doc": _json(claim.item)}},
                                                       session=session)
                if swapped.matched_count != 1:
                    raise Conflict(f"record {record_id} of batch {batch_id} was claimed meanwhile")
            if claim.assignment is not None:
                await self._put_assignment(claim.assignment, session)
            if claim.write_events:
                await insert_events(self._db, list(events), session)
            return claim.outcome

        return await self._db.transaction(claim)

    async def release_item(self, batch_id: str, item: BatchItem, assignments: list[RetentionAssignment],
                           events: Sequence[AuditEventDraft] = ()) -> bool:
        released = states.released(item)

        async def update(session: Any) -> bool:
            done = await self._items.update_one(
                {"_id": f"{batch_id}/{item.record_id}", "state": ItemState.executing.value},
                {"$set": {"state": released.state.value, "doc": _json(released)}}, session=session)
            if done.matched_count != 1:
                return False
            for a in assignments:
                await self._put_assignment(a, session)
            await self._db.collection("data_keys").update_one(
                {"_id": item.record_id}, {"$set": {"doomed_at": None}}, session=session)  # void
            return True

        return await self._write(update, events)

    async def finish_item(self, batch_id: str, item: BatchItem, tombstone: Tombstone,
                          events: Sequence[AuditEventDraft] = ()) -> bool:
        async def finish(session: Any) -> bool:
            done = await self._items.update_one(
                {"_id": f"{batch_id}/{item.record_id}", "state": ItemState.executing.value},
                {"$set": {"state": ItemState.disposed.value, "doc": _json(item)}}, session=session)
            if done.matched_count != 1:
                return False
            await self._tombstones.replace_one({"_id": tombstone.record_id}, tombstone_doc(tombstone, batch_id),
                                               upsert=True, session=session)
            if (closed := states.closed(await self._get_assignment(item.record_id, session),
                                        tombstone.destroyed_at)) is not None:
                await self._put_assignment(closed, session)
            return True

        return await self._write(finish, events)

    async def tombstone(self, record_id: str) -> Tombstone | None:
        found = await self._db.read(lambda: TombstoneDocument.get(record_id))
        return Tombstone.model_validate(found.doc) if found else None

    async def put_tombstone(self, tombstone: Tombstone) -> bool:
        from pymongo.errors import DuplicateKeyError

        async def insert(session: Any) -> bool:
            if await self._tombstones.find_one({"_id": tombstone.record_id}, {"_id": 1}, session=session):
                return False
            await self._tombstones.insert_one(tombstone_doc(tombstone), session=session)
            if (closed := states.closed(await self._get_assignment(tombstone.record_id, session),
                                        tombstone.destroyed_at)) is not None:
                await self._put_assignment(closed, session)
            return True

        try:
            return await self._db.transaction(insert)
        except DuplicateKeyError:
            return False

    # --- certificates --------------------------------------------------------------------------

    async def add_certificate(self, certificate: DestructionCertificate, batch: DispositionBatch,
                              events: Sequence[AuditEventDraft] = ()) -> bool:
        async def insert(session: Any) -> bool:
            done = await self._batches.update_one({"_id": batch.id, "status": "executing"},
                                                  {"$set": {"status": batch.status.value, "doc": batch_header(batch)}},
                                                  session=session)
            if done.matched_count != 1:
                return False
            await self._certificates.insert_one(certificate_doc(certificate), session=session)
            await self._tombstones.update_many({"batch_id": certificate.batch_id},
                                               {"$set": {"doc.certificate_id": certificate.id}}, session=session)
            return True

        return await self._write(insert, events)

    async def certificate(self, certificate_id: str) -> DestructionCertificate | None:
        found = await self._db.read(lambda: DestructionCertificateDocument.get(certificate_id))
        return DestructionCertificate.model_validate(found.doc) if found else None

    async def certificate_ids(self) -> list[str]:
        rows = await self._db.read(lambda: self._certificates.find({}, {"_id": 1}).sort("issued_at", 1).to_list())
        return [r["_id"] for r in rows]

    async def unlinked_tombstones(self, limit: int) -> list[Tombstone]:
        ids = await self.certificate_ids()
        rows = await self._db.read(lambda: self._tombstones.find({"doc.certificate_id": {"$nin": ids}}).sort(
            "_id", 1).limit(limit).to_list())
        return [Tombstone.model_validate(r["doc"]) for r in rows]

    async def restore_evidence(self, batch: DispositionBatch, certificate: DestructionCertificate | None) -> bool:
        assert batch.id is not None
        batch_id = batch.id

        async def restore(session: Any) -> bool:
            changed = False
            header = batch_header(batch)
            found = await self._batches.find_one({"_id": batch_id}, session=session)
            if found is None or DispositionBatch.model_validate(found["doc"]) != DispositionBatch.model_validate(header):
                await self._batches.replace_one({"_id": batch_id}, batch_doc(batch), upsert=True, session=session)
                await self._items.delete_many({"batch_id": batch_id}, session=session)
                if batch.items:
                    await self._items.insert_many([item_doc(batch_id, n, i) for n, i in enumerate(batch.items)],
                                                  session=session)
                changed = True
            if certificate is not None:
                if not await self._certificates.find_one({"_id": certificate.id}, {"_id": 1}, session=session):
                    await self._certificates.insert_one(certificate_doc(certificate), session=session)
                    changed = True
                rows = await self._tombstones.find({"batch_id": batch_id}, session=session).to_list()
                for row in rows:
                    if differs(row.get("doc", {}).get("certificate_id"), certificate.id):
                        await self._tombstones.update_one({"_id": row["_id"]}, {"$set": {"doc.certificate_id": certificate.id}},
                                                          session=session)
                        changed = True
            return changed

        return await self._db.transaction(restore)
