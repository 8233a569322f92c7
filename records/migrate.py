"""``records migrate``: move an embedded installation (SQLite + local disk) to the production
backends (MongoDB, S3) and prove the copy: counts, content hashes and the audit tree root.

Everything moves as stored: records and data keys still sealed under the same keyring, tokens as
hashes, audit events as their canonical bytes with their sequence numbers, Merkle nodes and
signed checkpoints unchanged, attachments as ciphertext. So the keyring (not moved: it never
lives in a store) opens the migrated data, and old checkpoints still verify. The target must be
empty; the source is only read. Run it with the service stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from records.audit.events import AuditEventDraft, Outcome
from records.audit.merkle import EMPTY_ROOT, MerkleFrontier, leaf_hash
from records.clock import to_text, utcnow
from records.crypto.envelope import WrappedDataKey
from records.errors import RecordsError
from records.models import RecordQuery
from records.ports import BlobStore, Storage
from records.attachments import blob_key
from records.stored import StoredRecord

PAGE = 200


class MigrationFailed(RecordsError):
    code, status, title = "migration_failed", 422, "Migration refused or failed"


@dataclass
class MigrationReport:
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # what → (source, target)
    records_digest: tuple[str, str] = ("", "")
    blobs_digest: tuple[str, str] = ("", "")
    audit_root: tuple[str, str] = ("", "")

    @property
    def identical(self) -> bool:
        return (all(a == b for a, b in self.counts.values()) and self.records_digest[0] == self.records_digest[1]
                and self.blobs_digest[0] == self.blobs_digest[1] and self.audit_root[0] == self.audit_root[1])


async def _all_records(storage: Storage) -> list[StoredRecord]:
    found: list[StoredRecord] = []
    after = None
    while True:
        page = await storage.records.find(RecordQuery(limit=PAGE, after=after))
        found.extend(page)
        if len(page) < PAGE:
            return found
        after = (page[-1].created_at, page[-1].id)


def _blob_keys(records: list[StoredRecord]) -> list[str]:
    return sorted(blob_key(r.id, a.id) for r in records for a in r.attachments)


async def _blob_digest(blobs: BlobStore, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in await blobs.open(key):
        digest.update(chunk)
    return digest.hexdigest()


async def _audit_root(storage: Storage) -> tuple[int, str]:
    """The tree root recomputed from the stored events' canonical bytes (not from stored nodes)."""
    size = await storage.audit.size()
    frontier = MerkleFrontier(0, {})
    for start in range(0, size, 10_000):
        for entry in await storage.audit.entries(start, min(start + 10_000, size)):
            frontier.append(leaf_hash(entry.canonical))
    if frontier.size == 0:
        return 0, EMPTY_ROOT.hex()
    from records.audit.service import _frontier_root

    return frontier.size, _frontier_root(frontier).hex()


async def _rows(source, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    return await source._db.run(lambda c: c.execute(sql).fetchall())


async def _insert(db, collection: str, docs: list[dict]) -> None:  # type: ignore[no-untyped-def]
    for start in range(0, len(docs), 1000):
        await db.collection(collection).insert_many(docs[start : start + 1000])


async def _copy_retention(source, db) -> None:  # type: ignore[no-untyped-def]
    """Retention as stored, table by table, in the documents the Mongo adapter keeps (its own
    builders make them, so the indexed fields are what the adapter itself would write)."""
    from records.retention.models import (
        BatchItem, DestructionCertificate, DispositionBatch, LegalHold, RetentionAssignment, RetentionSchedule, Tombstone,
    )
    from records.storage.mongodb.retention import _json, assignment_doc, batch_header, hold_doc, item_doc, schedule_doc

    schedules = [RetentionSchedule.model_validate_json(r[0]) for r in await _rows(source, "SELECT doc FROM retention_schedules")]
    latest = {}
    for schedule in schedules:
        latest[schedule.id] = max(latest.get(schedule.id, 0), schedule.version)
    docs = []
    for schedule in schedules:
        doc = schedule_doc(schedule)
        if schedule.version != latest[schedule.id]:
            doc.update(latest=False, name_slot=f"old:{doc['_id']}")
        docs.append(doc)
    await _insert(db, "retention_schedules", docs)
    await _insert(db, "retention_assignments", [assignment_doc(RetentionAssignment.model_validate_json(r[0]))
                                                for r in await _rows(source, "SELECT doc FROM retention_assignments")])
    await _insert(db, "retention_events", [{"_id": f"{name}/{rid}", "name": name, "record_id": rid, "occurred_at": at}
                                           for name, rid, at in await _rows(
                                               source, "SELECT name, record_id, occurred_at FROM retention_events")])
    await _insert(db, "legal_holds", [hold_doc(LegalHold.model_validate_json(r[0]))
                                      for r in await _rows(source, "SELECT doc FROM legal_holds")])
    await _insert(db, "legal_hold_items", [{"_id": f"{hold}/{rid}", "hold_id": hold, "record_id": rid}
                                           for rid, hold in await _rows(source, "SELECT record_id, hold_id FROM legal_hold_items")])
    await _insert(db, "disposition_batches", [
        {"_id": b.id, "batch_id": b.id, "status": b.status.value, "created_at": created, "doc": batch_header(b)}
        for b, created in [(DispositionBatch.model_validate_json(doc), created)
                           for doc, created in await _rows(source, "SELECT doc, created_at FROM disposition_batches")]])
    await _insert(db, "disposition_items", [item_doc(batch_id, position, BatchItem.model_validate_json(doc))
                                            for batch_id, position, doc in await _rows(
                                                source, "SELECT batch_id, position, doc FROM disposition_items")])
    await _insert(db, "tombstones", [{"_id": rid, "batch_id": batch_id, "doc": _json(Tombstone.model_validate_json(doc))}
                                     for rid, batch_id, doc in await _rows(
                                         source, "SELECT record_id, batch_id, doc FROM tombstones")])
    await _insert(db, "destruction_certificates", [
        {"_id": cid, "batch_id": batch_id, "issued_at": issued, "doc": _json(DestructionCertificate.model_validate_json(doc))}
        for cid, batch_id, issued, doc in await _rows(source, "SELECT id, batch_id, issued_at, doc FROM destruction_certificates")])
    from records.retention.floors import RetentionFloor
    from records.storage.mongodb.retention import floor_doc

    await _insert(db, "retention_floors", [floor_doc(RetentionFloor.model_validate_json(r[0]))
                                           for r in await _rows(source, "SELECT doc FROM retention_floors")])


async def _copy_plugins(source, db) -> None:  # type: ignore[no-untyped-def]
    """Installed plugins, switched-off built-ins and trusted keys; the generation moved with the
    sequences (``plugins`` → ``counter:plugins``)."""
    from records.ports import InstalledPlugin, TrustedKey

    await _insert(db, "plugin_installs", [{"_id": name, "doc": InstalledPlugin.model_validate_json(doc).model_dump(mode="json")}
                                          for name, doc in await _rows(source, "SELECT name, doc FROM plugin_installs")])
    await _insert(db, "plugin_disabled_builtins", [{"_id": name, "disabled_at": at} for name, at in await _rows(
        source, "SELECT name, disabled_at FROM plugin_disabled_builtins")])
    await _insert(db, "plugin_trusted_keys", [
        {"_id": name, "fingerprint": fp, "doc": TrustedKey.model_validate_json(doc).model_dump(mode="json")}
        for name, fp, doc in await _rows(source, "SELECT name, fingerprint, doc FROM plugin_trusted_keys")])


async def _wheel_keys(storage: Storage) -> list[str]:
    from records.services.plugins import PluginService

    return sorted(PluginService.wheel_key(p) for p in await storage.plugins.list_installed())


# What ``prove`` counts on both sides: SQLite table → Mongo collection.
TABLES = {
    "schedules": ("retention_schedules", "retention_schedules"),
    "assignments": ("retention_assignments", "retention_assignments"),
    "ret. events": ("retention_events", "retention_events"),
    "legal holds": ("legal_holds", "legal_holds"),
    "hold items": ("legal_hold_items", "legal_hold_items"),
    "batches": ("disposition_batches", "disposition_batches"),
    "batch items": ("disposition_items", "disposition_items"),
    "tombstones": ("tombstones", "tombstones"),
    "certificates": ("destruction_certificates", "destruction_certificates"),
    "floors": ("retention_floors", "retention_floors"),
    "plugins": ("plugin_installs", "plugin_installs"),
    "builtins off": ("plugin_disabled_builtins", "plugin_disabled_builtins"),
    "trusted keys": ("plugin_trusted_keys", "plugin_trusted_keys"),
}


async def migrate(source, target, progress: Callable[[str], None] = lambda _: None) -> MigrationReport:  # type: ignore[no-untyped-def]
    """Copy ``source`` (an ``EmbeddedStorage``) into ``target`` (a ``MongoStorage``), then prove it."""
    if await target.audit.size() or await target.records.find(RecordQuery(limit=1)) or await target.tokens.list(True):
        raise MigrationFailed("the target store is not empty; migrate into a new database")
    # The migration is itself an event, in the source before copying, so both logs hold it.
    await source.audit.append([AuditEventDraft(at=utcnow(), actor="cli:migrate", role="admin", action="store.migrate",
                                               outcome=Outcome.allowed, targets=["store:target"])])
    db = target.database
    await db.ready()

    progress("tokens")
    for token in await source.tokens.list(include_revoked=True):
        # Written as stored: revoking through the port would apply today's rules (last admin) to history.
        slot = f"revoked:{token.secret_hash}" if token.revoked_at else f"active:{token.name}"
        await db.collection("api_tokens").insert_one({
            "_id": token.secret_hash, "name": token.name, "role": token.role.value, "created_at": to_text(token.created_at),
            "revoked_at": to_text(token.revoked_at) if token.revoked_at else None, "name_slot": slot})

    progress("sequences")
    sequences = await source._db.run(lambda c: c.execute("SELECT name, value FROM sequences").fetchall())
    for name, value in sequences:
        await db.collection("sequences").insert_one({"_id": f"counter:{name}", "value": int(value)})

    progress("records and data keys")
    records = await _all_records(source)
    for record in records:
        key = await source.data_keys.get(record.id)
        # A destroyed record's key is gone for good: it moves without one (a placeholder is
        # never stored: it is deleted in the same step the record arrives).
        await target.records.add(record, key or WrappedDataKey(record.id, record.key_version, "destroyed", b"", utcnow()))
        if key is None:
            await target.data_keys.destroy(record.id)

    # Breaches already reported stay reported: the sweep must not report them again.
    reported = await source._db.run(lambda c: c.execute(
        "SELECT record_id, name, breach_reported_at FROM record_deadlines WHERE breach_reported_at IS NOT NULL").fetchall())
    for record_id, name, at in reported:
        await db.collection("record_deadlines").update_one({"_id": f"{record_id}/{name}"},
                                                           {"$set": {"breach_reported_at": at}})

    progress("retention")
    await _copy_retention(source, db)

    progress("plugins")
    await _copy_plugins(source, db)

    progress("attachments and plugin wheels")
    for key in _blob_keys(records) + await _wheel_keys(source):
        if await source.blobs.exists(key):
            await target.blobs.put(key, await source.blobs.open(key))

    progress("audit log")
    size = await source.audit.size()
    from records.storage.mongodb.audit import COUNTER

    for start in range(0, size, 5_000):
        entries = await source.audit.entries(start, min(start + 5_000, size))
        if entries:
            await db.collection("audit_events").insert_many([
                {"_id": e.seq, "seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
                 "outcome": e.outcome, "request_id": e.request_id, "targets": e.targets, "canonical": e.canonical}
                for e in entries])
    await db.collection("sequences").insert_one({"_id": COUNTER, "value": size})
    nodes = await source._db.run(lambda c: c.execute("SELECT level, idx, hash FROM audit_nodes").fetchall())
    await target.audit.seal([(level, idx, bytes(h)) for level, idx, h in nodes], None)
    for checkpoint in await source.audit.checkpoints():
        await target.audit.seal([], checkpoint)

    progress("proving")
    return await prove(source, target)


async def prove(source, target) -> MigrationReport:  # type: ignore[no-untyped-def]
    report = MigrationReport()
    src_records, dst_records = await _all_records(source), await _all_records(target)
    report.counts["records"] = (len(src_records), len(dst_records))
    report.counts["data keys"] = (sum((await source.data_keys.count_by_kek()).values()),
                                  sum((await target.data_keys.count_by_kek()).values()))
    report.counts["tokens"] = (len(await source.tokens.list(True)), len(await target.tokens.list(True)))
    report.counts["audit events"] = (await source.audit.size(), await target.audit.size())
    report.counts["checkpoints"] = (len(await source.audit.checkpoints()), len(await target.audit.checkpoints()))
    for what, (table, collection) in TABLES.items():
        (n,), = await _rows(source, f"SELECT count(*) FROM {table}")
        report.counts[what] = (int(n), await target.database.read(lambda c=collection: target.database.collection(c).count_documents({})))
    report.counts["plugin gen."] = (await source.plugins.generation(), await target.plugins.generation())

    def records_digest(records: list[StoredRecord]) -> str:
        digest = hashlib.sha256()
        for record in sorted(records, key=lambda r: r.id):
            digest.update(hashlib.sha256(record.model_dump_json().encode()).digest())
        return digest.hexdigest()

    report.records_digest = (records_digest(src_records), records_digest(dst_records))
    keys = _blob_keys(src_records) + await _wheel_keys(source)
    present = [k for k in keys if await source.blobs.exists(k)]
    report.counts["blobs"] = (len(present), sum([await target.blobs.exists(k) for k in keys]))
    src_blobs, dst_blobs = hashlib.sha256(), hashlib.sha256()
    for key in present:
        src_blobs.update(bytes.fromhex(await _blob_digest(source.blobs, key)))
        if await target.blobs.exists(key):
            dst_blobs.update(bytes.fromhex(await _blob_digest(target.blobs, key)))
    report.blobs_digest = (src_blobs.hexdigest(), dst_blobs.hexdigest())
    (_, src_root), (_, dst_root) = await _audit_root(source), await _audit_root(target)
    report.audit_root = (src_root, dst_root)
    return report
