"""``records fsck``: is the store consistent with the blobs, the keys and the access log?

Checks, each a finding with a stable code:

- ``audit_inconsistent``: the access log's tree or checkpoints do not verify (never repaired:
  that is evidence, for a person to look at);
- ``record_without_key``: a live record has no data key and is not marked destroyed — unreadable;
  when the register of destroyed keys names it, the key was destroyed and the record is marked
  destroyed (repairable: ``destroyed_key_live_record``);
- ``key_of_destroyed_record``: a destroyed record's data key still exists (repairable: erased);
- ``orphan_key``: a data key whose record does not exist (repairable: erased);
- ``missing_blob``: a live record lists an attachment whose encrypted content is gone;
- ``orphan_blob``: an attachment blob no live record lists, or a plugin wheel no installed
  plugin uses (repairable: deleted; the content of a destroyed record is undecryptable anyway);
- ``incomplete_uploads``: partial uploads a crash left (repairable: discarded);
- ``interrupted_uploads``: uploads whose content was stored but never committed to their record
  (found by their intent; removed at the service's start, or by ``--repair``);
- ``tombstone_without_certificate``: a destroyed record's tombstone names no stored destruction
  certificate (repairable when the register of disposition evidence holds it: restored);
- ``evidence_not_registered``: a certificate the register of disposition evidence lacks, so a
  restore would lose it (repairable: registered); ``evidence_inconsistent``: the register and the
  database disagree about a certificate (never repaired: evidence, for a person to look at);
- ``legal_hold_missing``: on an Object Lock store, an attachment of a record under a legal hold
  whose object lacks the storage's legal hold (setting it failed after the hold was committed:
  the database hold still stops every destruction; repairable: set).

Records are read a page at a time and blobs are listed as a stream, so memory stays bounded
however large the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from records.attachments import ATTACHMENTS, UPLOAD_INTENTS, blob_key, parse_upload_intent_key
from records.installation import Installation
from records.models import RecordQuery
from records.ports import LockingBlobStore

PAGE = 500


@dataclass
class Finding:
    code: str
    subject: str
    detail: str
    repairable: bool
    repaired: bool = False


@dataclass
class FsckReport:
    records: int = 0
    keys: int = 0
    blobs: int = 0
    audit_events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing is left wrong (every finding, if any, was repaired)."""
        return all(f.repaired for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        return {"records": self.records, "keys": self.keys, "blobs": self.blobs, "audit_events": self.audit_events,
                "clean": self.clean, "findings": [asdict(f) for f in self.findings]}


async def fsck(installation: Installation, repair: bool = False, progress: Callable[[str], None] | None = None) -> FsckReport:
    report = FsckReport()
    storage, keys = installation.storage, installation.keys
    note = progress or (lambda _: None)

    def found(code: str, subject: str, detail: str, repairable: bool) -> Finding:
        finding = Finding(code, subject, detail, repairable)
        report.findings.append(finding)
        return finding

    note("audit log")
    assert installation.audit is not None
    verification = await installation.audit.verify()
    report.audit_events = verification.events
    if not verification.ok:
        found("audit_inconsistent", "audit", verification.problem or "", repairable=False)

    note("records and keys")
    destroyed_register = keys.destroyed_register_entries()
    live_attachments: set[str] = set()
    existing: set[str] = set()
    after = None
    while True:
        page = await storage.records.find(RecordQuery(after=after, limit=PAGE))
        if not page:
            break
        after = (page[-1].created_at, page[-1].id)
        wrapped = await storage.data_keys.get_many([s.id for s in page])
        for stored in page:
            report.records += 1
            existing.add(stored.id)
            if stored.destroyed_at is None:
                for attachment in stored.attachments:
                    live_attachments.add(blob_key(stored.id, attachment.id))
                if stored.id not in wrapped:
                    if stored.id in destroyed_register:
                        finding = found("destroyed_key_live_record", f"record:{stored.id}",
                                        f"{stored.reference}: its key was destroyed but the record is not marked destroyed",
                                        repairable=True)
                        if repair:
                            await keys.shred(storage.records, stored.id)
                            finding.repaired = True
                    else:
                        found("record_without_key", f"record:{stored.id}",
                              f"{stored.reference} has no data key and was never destroyed: it cannot be read "
                              "(restore the data keys from a backup taken with this keyring)", repairable=False)
            elif stored.id in wrapped:
                finding = found("key_of_destroyed_record", f"record:{stored.id}",
                                f"{stored.reference} was destroyed but its data key still exists", repairable=True)
                if repair:
                    await keys.shred(storage.records, stored.id)
                    finding.repaired = True
        if len(page) < PAGE:
            break

    note("orphan keys")
    after_id = None
    while True:
        ids = await storage.data_keys.record_ids(after_id, PAGE)
        if not ids:
            break
        after_id = ids[-1]
        report.keys += len(ids)
        for record_id in ids:
            if record_id not in existing:
                finding = found("orphan_key", f"record:{record_id}", "a data key whose record does not exist", repairable=True)
                if repair:
                    await storage.data_keys.destroy(record_id)
                    finding.repaired = True

    note("blobs")
    if repair:  # the service is stopped: every upload with an intent left was interrupted
        recovered = await installation.records.recover_interrupted_uploads()
        if recovered:
            finding = found("interrupted_uploads", "blobs", f"{recovered} upload(s) cut off before their commit",
                            repairable=True)
            finding.repaired = True
    in_flight = set()
    async for intent in storage.blobs.list_keys(UPLOAD_INTENTS):
        upload = parse_upload_intent_key(intent)
        if upload is not None:
            in_flight.add(blob_key(*upload))
    present: set[str] = set()
    async for key in storage.blobs.list_keys(ATTACHMENTS):
        report.blobs += 1
        present.add(key)
        if key not in live_attachments and key in in_flight:
            continue  # an upload being written (or one start-up recovery will remove)
        if key not in live_attachments:
            finding = found("orphan_blob", f"blob:{key}", "attachment content that no live record lists", repairable=True)
            if repair:
                await storage.blobs.delete(key)
                finding.repaired = True
    for key in sorted(live_attachments - present):
        found("missing_blob", f"blob:{key}", "a live record lists this attachment but its content is gone", repairable=False)
    wheels = set()
    if installation.plugin_service is not None:
        wheels = {installation.plugin_service.wheel_key(p) for p in await storage.plugins.list_installed()}
    async for key in storage.blobs.list_keys("plugins"):
        report.blobs += 1
        if key not in wheels:
            finding = found("orphan_blob", f"blob:{key}", "a plugin wheel no installed plugin uses", repairable=True)
            if repair:
                await storage.blobs.delete(key)
                finding.repaired = True
    for key in sorted(wheels):
        if await storage.blobs.exists(key):
            continue
        found("missing_blob", f"blob:{key}", "an installed plugin's wheel is gone: other instances cannot load it "
              "(upload it again)", repairable=False)

    if isinstance(storage.blobs, LockingBlobStore) and installation.retention is not None:
        note("object legal holds")
        async for key in installation.retention.held_attachment_keys():
            if key in present and not await storage.blobs.legal_hold(key):
                finding = found("legal_hold_missing", f"blob:{key}",
                                "a held record's attachment lacks the object legal hold", repairable=True)
                if repair:
                    await storage.blobs.set_legal_hold(key, True)
                    finding.repaired = True

    if installation.retention is not None:
        note("disposition evidence")
        for code, subject, detail, repairable in await installation.retention.check_evidence():
            finding = found(code, subject, detail, repairable)
            if repair and repairable:
                await installation.retention.enforce_evidence()
                finding.repaired = True

    incomplete = await storage.blobs.count_incomplete()
    if incomplete:
        finding = found("incomplete_uploads", "blobs", f"{incomplete} partial upload(s) left by an interrupted write",
                        repairable=True)
        if repair:
            await storage.blobs.discard_incomplete()
            finding.repaired = True
    return report
