"""The MongoDB store written part by part as exported (``records.ports.StoreImport``): the target
of ``records migrate``. Rows go in as they were stored, in the documents this adapter's own
repositories write (their builders make them, so every indexed field is what a write through the
ports would hold), without applying today's rules to history."""

from __future__ import annotations

from typing import Any

from records.errors import InvalidInput
from records.ports import ExportedPart, InstalledPlugin, TrustedKey
from records.retention.floors import RetentionFloor
from records.retention.models import (
    BatchItem,
    DestructionCertificate,
    DispositionBatch,
    LegalHold,
    RetentionAssignment,
    RetentionSchedule,
    Tombstone,
)
from records.storage.mongodb.audit import COUNTER, MongoAuditLog
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import (
    AuditEventDocument,
    PluginDisabledBuiltinDocument,
    PluginInstallDocument,
    SequenceDocument,
    TokenDocument,
    TrustedKeyDocument,
    stored,
)
from records.storage.mongodb.retention import (
    _json,
    assignment_doc,
    batch_doc,
    certificate_doc,
    event_doc,
    floor_doc,
    hold_doc,
    hold_item_doc,
    item_doc,
    schedule_doc,
    tombstone_doc,
)


def _schedules(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every version; only each schedule's latest holds its name slot."""
    schedules = [RetentionSchedule.model_validate(r["doc"]) for r in rows]
    latest: dict[str, int] = {}
    for schedule in schedules:
        latest[schedule.id] = max(latest.get(schedule.id, 0), schedule.version)
    docs = []
    for schedule in schedules:
        doc = schedule_doc(schedule)
        if schedule.version != latest[schedule.id]:
            doc.update(latest=False, name_slot=f"old:{doc['_id']}")
        docs.append(doc)
    return docs


def _token(r: dict[str, Any]) -> dict[str, Any]:
    # A revoked token frees its active slot but keeps its own; the name stays taken either way.
    slot = f"revoked:{r['secret_hash']}" if r["revoked_at"] else f"active:{r['name']}"
    return stored(TokenDocument(id=r["secret_hash"], name=r["name"], role=r["role"], created_at=r["created_at"],
                                revoked_at=r["revoked_at"], name_slot=slot))


def _event(r: dict[str, Any]) -> dict[str, Any]:
    return stored(AuditEventDocument(id=r["seq"], seq=r["seq"], at=r["at"], actor=r["actor"], role=r["role"],
                                     action=r["action"], outcome=r["outcome"], request_id=r["request_id"],
                                     targets=r["targets"], canonical=r["canonical"]))


# part → (its collection, how an exported row becomes its document); None: imported otherwise.
_DOCUMENTS: dict[str, tuple[str, Any]] = {
    "tokens": ("api_tokens", _token),
    "sequences": ("sequences", lambda r: stored(SequenceDocument(id=f"counter:{r['name']}", value=r["value"]))),
    "retention_assignments": ("retention_assignments", lambda r: assignment_doc(RetentionAssignment.model_validate(r["doc"]))),
    "retention_events": ("retention_events", lambda r: event_doc(r["name"], r["record_id"], r["occurred_at"])),
    "legal_holds": ("legal_holds", lambda r: hold_doc(LegalHold.model_validate(r["doc"]))),
    "legal_hold_items": ("legal_hold_items", lambda r: hold_item_doc(r["hold_id"], r["record_id"])),
    "disposition_batches": ("disposition_batches",
                            lambda r: batch_doc(DispositionBatch.model_validate(r["doc"]), r["created_at"])),
    "disposition_items": ("disposition_items",
                          lambda r: item_doc(r["batch_id"], r["position"], BatchItem.model_validate(r["doc"]))),
    "tombstones": ("tombstones", lambda r: tombstone_doc(Tombstone.model_validate(r["doc"]), r["batch_id"])),
    "destruction_certificates": ("destruction_certificates",
                                 lambda r: certificate_doc(DestructionCertificate.model_validate(r["doc"]), r["issued_at"])),
    "retention_floors": ("retention_floors", lambda r: floor_doc(RetentionFloor.model_validate(r["doc"]))),
    "plugin_installs": ("plugin_installs", lambda r: stored(PluginInstallDocument(
        id=r["name"], doc=_json(InstalledPlugin.model_validate(r["doc"]))))),
    "plugin_disabled_builtins": ("plugin_disabled_builtins",
                                 lambda r: stored(PluginDisabledBuiltinDocument(id=r["name"], disabled_at=r["disabled_at"]))),
    "plugin_trusted_keys": ("plugin_trusted_keys", lambda r: stored(TrustedKeyDocument(
        id=r["name"], fingerprint=r["fingerprint"], doc=_json(TrustedKey.model_validate(r["doc"]))))),
    "audit_events": ("audit_events", _event),
}
_COUNTED = {**{name: (collection, {}) for name, (collection, _) in _DOCUMENTS.items()},
            "retention_schedules": ("retention_schedules", {}),
            "breaches_reported": ("record_deadlines", {"breach_reported_at": {"$type": "string"}}),
            "audit_nodes": ("audit_nodes", {})}


class MongoImport:
    def __init__(self, db: MongoDatabase, audit: MongoAuditLog) -> None:
        self._db = db
        self._audit = audit

    async def _insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        for start in range(0, len(docs), 1000):  # bounded batches: insert_many takes a list whole
            await self._db.collection(collection).insert_many(docs[start : start + 1000])

    async def import_part(self, part: ExportedPart) -> None:
        await self._db.ready()
        if part.name == "retention_schedules":
            await self._insert("retention_schedules", _schedules(part.rows))
        elif part.name == "breaches_reported":  # the records came through the ports: mark what was reported
            for r in part.rows:
                await self._db.collection("record_deadlines").update_one(
                    {"_id": f"{r['record_id']}/{r['name']}"}, {"$set": {"breach_reported_at": r["at"]}})
        elif part.name == "audit_nodes":
            await self._audit.seal([(r["level"], r["idx"], r["hash"]) for r in part.rows], None)
        elif part.name in _DOCUMENTS:
            collection, document = _DOCUMENTS[part.name]
            await self._insert(collection, [document(r) for r in part.rows])
            if part.name == "audit_events" and part.rows:  # pages arrive in order: the last one sets the size
                await self._db.collection("sequences").update_one(
                    {"_id": COUNTER}, {"$set": {"value": part.rows[-1]["seq"] + 1}}, upsert=True)
        else:
            raise InvalidInput(f"the MongoDB store imports no part {part.name!r}")

    async def count(self, name: str) -> int:
        if name not in _COUNTED:
            raise InvalidInput(f"the MongoDB store has no part {name!r}")
        collection, where = _COUNTED[name]
        return await self._db.read(lambda: self._db.collection(collection).count_documents(where))
