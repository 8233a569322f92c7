"""``records migrate``: move an embedded installation (SQLite + local disk) to the production
backends (MongoDB, S3) and prove the copy: counts, content hashes and the audit tree root.

The tool drives stores through their ports and, for what a port would change on the way in
(history must not be re-decided by today's rules), through their export and import surfaces
(``records.ports.StoreExport``, ``StoreImport``): it never sees a table or a collection.

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

from records.attachments import blob_key
from records.audit.events import AuditEventDraft, Outcome
from records.audit.merkle import MerkleFrontier, frontier_root, leaf_hash
from records.clock import utcnow
from records.crypto.envelope import WrappedDataKey
from records.errors import RecordsError
from records.models import RecordQuery
from records.ports import EXPORTED_PARTS, BlobStore, ExportedPart, Storage, StoreExport, StoreImport
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
    return frontier.size, frontier_root(frontier).hex()


async def _wheel_keys(storage: Storage) -> list[str]:
    from records.services.plugins import PluginService

    return sorted(PluginService.wheel_key(p) for p in await storage.plugins.list_installed())


# What ``prove`` counts on both sides beside records, keys, tokens, the audit log and blobs.
COUNTED = {
    "schedules": "retention_schedules", "assignments": "retention_assignments", "ret. events": "retention_events",
    "legal holds": "legal_holds", "hold items": "legal_hold_items", "batches": "disposition_batches",
    "batch items": "disposition_items", "tombstones": "tombstones", "certificates": "destruction_certificates",
    "floors": "retention_floors", "plugins": "plugin_installs", "builtins off": "plugin_disabled_builtins",
    "trusted keys": "plugin_trusted_keys",
}
AUDIT_PAGE = 5_000


def _surfaces(source: Storage, target: Storage) -> tuple[StoreExport, StoreImport]:
    export, importer = getattr(source, "export", None), getattr(target, "importer", None)
    if not isinstance(export, StoreExport):
        raise MigrationFailed(f"the {source.name} store cannot be exported part by part; migrate from an embedded one")
    if not isinstance(importer, StoreImport):
        raise MigrationFailed(f"the {target.name} store cannot be imported into; migrate into MongoDB")
    return export, importer


async def migrate(source: Storage, target: Storage, progress: Callable[[str], None] = lambda _: None) -> MigrationReport:
    """Copy ``source`` (the embedded store) into ``target`` (an empty MongoDB store), then prove it."""
    export, importer = _surfaces(source, target)
    if await target.audit.size() or await target.records.find(RecordQuery(limit=1)) or await target.tokens.list(True):
        raise MigrationFailed("the target store is not empty; migrate into a new database")
    # The migration is itself an event, in the source before copying, so both logs hold it.
    await source.audit.append([AuditEventDraft(at=utcnow(), actor="cli:migrate", role="admin", action="store.migrate",
                                               outcome=Outcome.allowed, targets=["store:target"])])

    progress("tokens")
    # Written as stored: revoking through the port would apply today's rules (last admin) to history.
    await importer.import_part(await export.export_part("tokens"))
    progress("sequences")
    await importer.import_part(await export.export_part("sequences"))

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
    await importer.import_part(await export.export_part("breaches_reported"))

    progress("retention and plugins")
    for name in EXPORTED_PARTS:
        if name.startswith(("retention_", "legal_", "disposition_", "tombstones", "destruction_", "plugin_")):
            await importer.import_part(await export.export_part(name))

    progress("attachments and plugin wheels")
    for key in _blob_keys(records) + await _wheel_keys(source):
        if await source.blobs.exists(key):
            await target.blobs.put(key, await source.blobs.open(key))

    progress("audit log")
    size = await source.audit.size()
    for start in range(0, size, AUDIT_PAGE):
        entries = await source.audit.entries(start, min(start + AUDIT_PAGE, size))
        await importer.import_part(ExportedPart("audit_events", [
            {"seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action, "outcome": e.outcome,
             "request_id": e.request_id, "targets": e.targets, "canonical": e.canonical} for e in entries]))
    await importer.import_part(await export.export_part("audit_nodes"))
    for checkpoint in await source.audit.checkpoints():
        await target.audit.seal([], checkpoint)

    progress("proving")
    return await prove(source, target)


async def prove(source: Storage, target: Storage) -> MigrationReport:
    export, importer = _surfaces(source, target)
    report = MigrationReport()
    src_records, dst_records = await _all_records(source), await _all_records(target)
    report.counts["records"] = (len(src_records), len(dst_records))
    report.counts["data keys"] = (sum((await source.data_keys.count_by_kek()).values()),
                                  sum((await target.data_keys.count_by_kek()).values()))
    report.counts["tokens"] = (len(await source.tokens.list(True)), len(await target.tokens.list(True)))
    report.counts["audit events"] = (await source.audit.size(), await target.audit.size())
    report.counts["checkpoints"] = (len(await source.audit.checkpoints()), len(await target.audit.checkpoints()))
    for what, part in COUNTED.items():
        report.counts[what] = (await export.count(part), await importer.count(part))
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
