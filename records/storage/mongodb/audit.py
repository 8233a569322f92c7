"""The audit log on MongoDB: events numbered by a counter document, Merkle nodes, checkpoints.

``insert_events`` runs inside the transaction that records the action itself. It takes its
sequence numbers by incrementing one counter document in that transaction: two concurrent
transactions both write that document, so MongoDB lets one commit and retries the other
(``TransientTransactionError``), and numbers are contiguous with no gap even after an abort.
"""

from __future__ import annotations

from typing import Any

from records.audit.events import AuditEvent, AuditEventDraft
from records.audit.log import Checkpoint, EventQuery, StoredEvent
from records.clock import to_text
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import AuditCheckpointDocument, AuditEventDocument, stored

COUNTER = "audit_events"  # in ``sequences``: the number of events, i.e. the next sequence number


async def insert_events(db: MongoDatabase, drafts: list[AuditEventDraft], session: Any) -> list[AuditEvent]:
    from pymongo import ReturnDocument

    if not drafts:
        return []
    counter = await db.collection("sequences").find_one_and_update(
        {"_id": COUNTER}, {"$inc": {"value": len(drafts)}}, upsert=True,
        return_document=ReturnDocument.AFTER, session=session,
    )
    first = int(counter["value"]) - len(drafts)
    events = [AuditEvent(**draft.model_dump(), seq=first + offset) for offset, draft in enumerate(drafts)]
    await db.collection("audit_events").insert_many(  # many in one call, in the change's transaction
        [stored(AuditEventDocument(id=e.seq, seq=e.seq, at=to_text(e.at), actor=e.actor, role=e.role, action=e.action,
                                   outcome=e.outcome.value, request_id=e.request_id, targets=sorted(set(e.targets)),
                                   canonical=e.canonical())) for e in events],
        session=session,
    )
    return events


def _checkpoint(doc: AuditCheckpointDocument) -> Checkpoint:
    return Checkpoint(tree_size=doc.tree_size, root_hash=doc.root_hash, timestamp=doc.timestamp, key_id=doc.key_id,
                      signature=doc.signature)


class MongoAuditLog:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db

    async def append(self, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
        return await self._db.transaction(lambda session: insert_events(self._db, drafts, session))

    async def size(self) -> int:
        counter = await self._db.read(lambda: self._db.collection("sequences").find_one({"_id": COUNTER}))
        return int(counter["value"]) if counter else 0

    async def entries(self, start: int, end: int) -> list[StoredEvent]:
        async def fetch() -> list[dict[str, Any]]:
            cursor = self._db.collection("audit_events").find({"_id": {"$gte": start, "$lt": end}})
            return await cursor.sort("seq", 1).to_list()  # not `_id`: see AuditCheckpointDocument.tree_size

        return [
            StoredEvent(seq=d["_id"], canonical=bytes(d["canonical"]), at=d["at"], actor=d["actor"], role=d["role"],
                        action=d["action"], outcome=d["outcome"], request_id=d["request_id"], targets=sorted(d["targets"]))
            for d in await self._db.read(fetch)
        ]

    async def nodes(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(keys), 1000):  # bounded $in lists
            ids = [f"{level}:{index}" for level, index in keys[start : start + 1000]]
            rows = await self._db.read(lambda ids=ids: self._db.collection("audit_nodes").find({"_id": {"$in": ids}}).to_list())
            for row in rows:
                level, index = row["_id"].split(":")
                found[(int(level), int(index))] = bytes(row["hash"])
        return found

    async def seal(self, nodes: list[tuple[int, int, bytes]], checkpoint: Checkpoint | None) -> None:
        """Nodes first, then the checkpoint: nodes are idempotent (a node's hash depends only on
        the events below it) and only a checkpoint makes them count, so no transaction is needed
        and a crash in between leaves nothing a later seal does not overwrite."""
        from pymongo import UpdateOne

        async with self._db.writing():
            if nodes:
                await self._db.collection("audit_nodes").bulk_write(
                    [UpdateOne({"_id": f"{level}:{index}"}, {"$set": {"hash": digest}}, upsert=True)  # bulk: beanie has none
                     for level, index, digest in nodes],
                    ordered=False,
                )
            if checkpoint is not None:
                await self._db.collection("audit_checkpoints").update_one(
                    {"_id": checkpoint.tree_size},
                    {"$setOnInsert": {k: v for k, v in stored(AuditCheckpointDocument(
                        id=checkpoint.tree_size, **checkpoint.model_dump())).items() if k != "_id"}},
                    upsert=True,
                )

    async def head(self) -> tuple[int, list[Checkpoint]]:
        """Checkpoints first, then the size: the log only grows, so every checkpoint read is
        within the size read after it (the view a consistent snapshot would give)."""
        checkpoints = await self.checkpoints()
        return await self.size(), checkpoints

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self._db.read(lambda: AuditCheckpointDocument.find_all().sort("+tree_size").to_list())
        return [_checkpoint(r) for r in rows]

    async def latest_checkpoint(self) -> Checkpoint | None:
        rows = await self._db.read(lambda: AuditCheckpointDocument.find_all().sort("-tree_size").limit(1).to_list())
        return _checkpoint(rows[0]) if rows else None

    async def find(self, query: EventQuery) -> list[AuditEvent]:
        where: dict[str, Any] = {}
        for field in ("actor", "role", "action", "outcome"):
            value = getattr(query, field)
            if value is not None:
                where[field] = str(value)
        if query.target is not None:
            where["targets"] = query.target
        at = {op: to_text(v) for op, v in (("$gte", query.since), ("$lt", query.until)) if v is not None}
        if at:
            where["at"] = at
        if query.after_seq is not None:
            where["seq"] = {"$gt": query.after_seq}

        async def fetch() -> list[dict[str, Any]]:
            cursor = self._db.collection("audit_events").find(where, {"canonical": 1})
            return await cursor.sort("seq", 1).limit(query.limit).to_list()

        return [AuditEvent.model_validate_json(bytes(r["canonical"])) for r in await self._db.read(fetch)]
