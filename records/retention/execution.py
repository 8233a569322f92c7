"""Executing decided disposition batches: a run that resumes after a crash without doing anything
twice, the tombstones it leaves, the signed certificate that proves it, and the evidence that
outlives a restore.

The order of an item's execution is what makes resuming safe: claim it (a hold wins: the item
is left alone) → tombstone written to the register outside the database → for a transfer, the
BagIt package written and validated → the hold checked again and the data key destroyed → the
blobs deleted → the record pruned → item, tombstone and its audit event committed together.
Every step is idempotent and the last one is a compare-and-swap, so a run killed anywhere
resumes with the item it was on and records its destruction exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from records.attachments import blob_key
from records.audit.log import EventQuery
from records.audit.service import AuditService
from records.audit.trail import AuditTrail
from records.audit.trail import begin as begin_trail
from records.audit.trail import current as current_trail
from records.audit.trail import end as end_trail
from records.clock import utcnow
from records.crypto.keyring import LocalKeyring
from records.errors import NotFound, RecordDestroyed
from records.ports import BlobStore, RecordRepository, RetentionRepository
from records.retention import states
from records.retention.certificates import CertificateCheck, check, sign
from records.retention.changes import change_events, system_trail
from records.retention.disposition import Disposition
from records.retention.errors import (
    CertificateNotFound,
    RecordOnHold,
)
from records.retention.evidence import EvidenceRegister, record_evidence
from records.retention.models import (
    BatchItem,
    BatchStatus,
    CertificateItem,
    Decision,
    DestructionCertificate,
    DispositionAction,
    DispositionBatch,
    GovernanceFacts,
    ItemState,
    RetentionAssignment,
    Tombstone,
)
from records.retention.object_locks import ObjectLocks
from records.retention.policy import RetentionPolicy
from records.retention.schedules import RetentionSchedules
from records.retention.tombstones import TombstoneRegister
from records.retention.transfer import write_bag
from records.services.records import RecordService
from records.stored import StoredRecord

log = logging.getLogger("records.retention")


def content_hash(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON, in clear: what its tombstone and certificate prove."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


class DispositionRuns:
    """Runs of executing batches, their certificates, tombstones and evidence."""

    def __init__(self, repo: RetentionRepository, records: RecordService, record_repo: RecordRepository, blobs: BlobStore,
                 audit: AuditService, keyring: LocalKeyring, tombstones: TombstoneRegister,
                 evidence: EvidenceRegister | None, schedules: RetentionSchedules, disposition: Disposition,
                 locks: ObjectLocks,
                 policy: RetentionPolicy, deliver: Callable[..., str | None] | None = None) -> None:
        self._repo = repo
        self._records = records  # RecordService: opens records, shreds through its destruction gate
        self._record_repo = record_repo
        self._blobs = blobs
        self._audit = audit
        self._keyring = keyring
        self._tombstones = tombstones
        self._evidence = evidence
        self._schedules = schedules  # the legal minimums bind at execution too
        self._disposition = disposition
        self._locks = locks
        self.policy = policy
        self._deliver = deliver
        self._runs: dict[str, asyncio.Task[DispositionBatch]] = {}


    # --- execution -------------------------------------------------------------------------

    def run_in_background(self, batch_id: str, trail: AuditTrail) -> asyncio.Task[DispositionBatch]:
        """Run (or resume) an executing batch in a task of its own; one run per batch at a time."""
        running = self._runs.get(batch_id)
        if running is not None and not running.done():
            return running

        async def go() -> DispositionBatch:
            token = begin_trail(trail)
            try:
                return await self.run(batch_id)
            except Exception:
                log.exception("disposition batch %s stopped; it resumes at the next start or execute", batch_id)
                raise
            finally:
                end_trail(token)

        task = asyncio.get_running_loop().create_task(go())
        self._runs[batch_id] = task
        return task

    def running(self) -> list[asyncio.Task[DispositionBatch]]:
        return [t for t in self._runs.values() if not t.done()]

    async def resume_all(self) -> list[str]:
        """At start-up: carry on with every batch a crash left executing."""
        resumed = []
        for batch in await self._repo.batches(BatchStatus.executing.value, 1000):
            assert batch.id is not None
            self.run_in_background(batch.id, system_trail("retention.batch.resume"))
            resumed.append(batch.id)
        return resumed

    async def run(self, batch_id: str, progress: Callable[[int, int], None] | None = None,
                  stop_after: int | None = None) -> DispositionBatch:
        """Execute every approved item not yet done, then certify. ``stop_after`` ends the run
        after that many items (tests of resuming)."""
        if current_trail() is None:  # library use: destruction events are what certificates prove
            token = begin_trail(system_trail("retention.batch.execute"))
            try:
                return await self.run(batch_id, progress, stop_after)
            finally:
                end_trail(token)
        batch = await self._disposition.batch(batch_id)
        if batch.status is not BatchStatus.executing:
            return batch
        checkpoint_before = await self._audit.seal()  # the records' histories, for transfer packages
        total, done, executed = len(batch.items), 0, 0
        for item in batch.items:
            if item.state not in states.FINAL_STATES and item.decision is Decision.approve:
                if stop_after is not None and executed >= stop_after:
                    return await self._disposition.batch(batch_id)
                executed += 1
                # A trail of its own per item: each event names its record only.
                parent = current_trail()
                token = begin_trail(system_trail(parent.action, like=parent)) if parent is not None else None
                try:
                    await self._execute_item(batch, item, checkpoint_before)
                finally:
                    if token is not None:
                        end_trail(token)
            done += 1
            if progress:
                progress(done, total)
        return await self._certify(batch_id)

    async def _execute_item(self, batch: DispositionBatch, item: BatchItem, checkpoint: Any) -> None:
        assert batch.id is not None
        targets = (f"record:{item.record_id}", f"batch:{batch.id}")
        state = await self._repo.claim_item(batch.id, item.record_id, change_events(*targets, action="retention.hold.block"))
        if state != states.CLAIMED:
            return
        stored = await self._record_repo.get(item.record_id)
        if stored is None:
            raise NotFound(f"record {item.record_id} of batch {batch.id} is missing from the store")
        assignment = await self._repo.assignment(item.record_id)
        now = utcnow()
        if assignment is not None and (assignment.retain_until is None or assignment.retain_until > now):
            # Never a day early: a date moved by an extension or a re-application since the sweep.
            await self._keep(batch.id, item, "not due at execution", assignment)
            return
        bound = await self._schedules.binding_floor(stored)
        if bound is not None and bound[1] > now:  # a floor declared after the decision binds too
            await self._keep(batch.id, item, f"the legal minimum keeps it until {bound[1].date()}: {bound[0].describe()}",
                             assignment)
            return
        tombstone = self._tombstones.get(item.record_id) if stored.destroyed_at is not None else None
        if tombstone is None:
            if stored.destroyed_at is not None:
                digest, where = "unavailable: its key was destroyed outside disposition", None
            else:
                record = await self._records.open_for_disposition(item.record_id)
                clear = record.model_dump(mode="json")
                digest = content_hash(clear)
                where = None
                if item.action is DispositionAction.transfer:
                    where = await self._transfer(batch, item, stored, clear, assignment, digest, checkpoint)
            tombstone = Tombstone(
                record_id=stored.id, reference=stored.reference, kind=stored.kind, received_at=stored.received_at,
                created_at=stored.created_at, archived_at=stored.archived_at, destroyed_at=now,
                governance=GovernanceFacts.of(stored),
                disposition=DispositionAction.transfer if item.action is DispositionAction.transfer else DispositionAction.destroy,
                schedule=item.schedule, retain_until=item.retain_until, content_hash=digest, batch_id=batch.id,
                transferred_to=where)
            self._tombstones.record(tombstone)  # before anything is destroyed: a resumed run certifies this
        if stored.destroyed_at is None:
            try:
                await self._records.shred(item.record_id)  # through the destruction gate: a hold placed since wins
            except RecordOnHold:
                await self._keep(batch.id, item, "placed on hold during execution", assignment, state=ItemState.held)
                return
        # An object legal hold set by a hold placed after the decision (a saved query matching the
        # record) would refuse the deletion; that hold came second, so it is lifted here.
        await self._locks.legal_hold(stored, False)
        for attachment in stored.attachments:
            await self._blobs.delete(blob_key(stored.id, attachment.id))
        await self._prune(item.record_id)
        finished = item.model_copy(update={"state": ItemState.disposed, "disposed_at": tombstone.destroyed_at,
                                           "content_hash": tombstone.content_hash, "transfer": tombstone.transferred_to})
        action = "retention.transfer" if item.action is DispositionAction.transfer else "retention.destroy"
        await self._repo.finish_item(batch.id, finished, tombstone, change_events(*targets, action=action))

    async def _keep(self, batch_id: str, item: BatchItem, why: str, assignment: RetentionAssignment | None,
                    state: ItemState = ItemState.kept) -> None:
        kept = item.model_copy(update={"state": state, "reason": why})
        assignments = []
        if assignment is not None:
            assignments.append(assignment.model_copy(update={"batch_id": None}))
        await self._repo.release_item(batch_id, kept, assignments,
                                      change_events(f"record:{item.record_id}", f"batch:{batch_id}", action="retention.item.keep"))

    async def _prune(self, record_id: str) -> None:
        """Leave of the record only what its tombstone says: no notes, attachments or timeline. Its
        governance facts stay (kind, channel, dates, classification, deadlines met or breached, the
        satisfaction score: never personal data), so that metrics over past periods still count it."""
        for _ in range(20):
            stored = await self._record_repo.get(record_id)
            if stored is None or (not stored.notes and not stored.attachments and not stored.timeline and not stored.sealed):
                return
            pruned = stored.model_copy(update={"notes": [], "attachments": [], "timeline": [],
                                               "deadline": None, "sealed": {}, "version": stored.version + 1})
            if await self._record_repo.replace(pruned, expected_version=stored.version):
                return

    async def _transfer(self, batch: DispositionBatch, item: BatchItem, stored: StoredRecord, clear: dict[str, Any],
                        assignment: RetentionAssignment | None, digest: str, checkpoint: Any) -> str:
        assert batch.id is not None
        attachments = []
        for attachment in stored.attachments:
            meta, chunks = await self._records.open_attachment(stored.id, attachment.id)
            attachments.append((attachment.id, meta.filename or attachment.id, chunks))
        events = await self._audit.find(EventQuery(target=f"record:{stored.id}", limit=10_000))
        proofs = []
        for event in events:
            if event.seq < checkpoint.tree_size:
                proof = await self._audit.inclusion(event.seq, checkpoint.tree_size)
                proofs.append({"event": event.model_dump(mode="json"), "leaf_index": event.seq, "path": proof["path"]})
        metadata = {"record_id": stored.id, "reference": stored.reference, "kind": stored.kind.value,
                    "content_hash_sha256": digest, "batch_id": batch.id, "schedule": item.schedule.model_dump(),
                    "retain_until": item.retain_until.isoformat(),
                    "retention_basis": assignment.basis if assignment else None, "approvers": item.approvers}
        audit = {"checkpoint": checkpoint.model_dump(), "events": proofs,
                 "public_keys": self._audit.public_keys()}
        bag_info = {"Source-Organization": self.policy.organization, "External-Identifier": stored.reference,
                    "External-Description": f"{stored.kind.value} {stored.reference} transferred by disposition batch {batch.id}",
                    "Bagging-Date": utcnow().date().isoformat()}
        path = await write_bag(self.policy.transfer_dir, batch.id, stored.reference, clear,
                               attachments, metadata, audit, bag_info)
        if self._deliver is not None:
            delivered = self._deliver(bag=path, reference=stored.reference, batch_id=batch.id)
            if delivered:
                return str(delivered)
        return str(path)

    async def _certify(self, batch_id: str) -> DispositionBatch:
        batch = await self._disposition.batch(batch_id)
        if batch.status is not BatchStatus.executing:
            return batch
        disposed = [i for i in batch.items if i.state is ItemState.disposed]
        finished = utcnow()
        if not disposed:
            done = batch.model_copy(update={"status": BatchStatus.done, "finished_at": finished, "items": []})
            if await self._repo.update_batch(done, BatchStatus.executing.value,
                                             change_events(f"batch:{batch_id}", action="retention.batch.done")):
                record_evidence(self._evidence, await self._disposition.batch(batch_id), None)
            return await self._disposition.batch(batch_id)
        checkpoint = await self._audit.seal()
        items = []
        for item in disposed:
            action = "retention.transfer" if item.action is DispositionAction.transfer else "retention.destroy"
            found = await self._audit.find(EventQuery(target=f"record:{item.record_id}", action=action, limit=1))
            if not found:
                raise NotFound(f"the destruction event of {item.reference} is missing from the audit log")
            event = found[0]
            proof = await self._audit.inclusion(event.seq, checkpoint.tree_size)
            assert item.disposed_at is not None and item.content_hash is not None
            items.append(CertificateItem(
                record_id=item.record_id, reference=item.reference, kind=item.kind, content_hash=item.content_hash,
                action=item.action, schedule=item.schedule, retain_until=item.retain_until, approvers=item.approvers,
                disposed_at=item.disposed_at, transferred_to=item.transfer, audit_event=event.model_dump(mode="json"),
                inclusion_path=proof["path"]))
        key_id, key = self._keyring.audit_signing_key()
        certificate = sign(DestructionCertificate(
            id=str(uuid.uuid4()), batch_id=batch_id, issued_at=finished, executor=batch.executed_by or "unknown",
            approvers=sorted({a for i in disposed for a in i.approvers}), started_at=batch.started_at or finished,
            finished_at=finished, items=items, audit_checkpoint=checkpoint.model_dump(), key_id=key_id,
            public_key="", signature=""), key_id, key)
        done = batch.model_copy(update={"status": BatchStatus.done, "finished_at": finished,
                                        "certificate_id": certificate.id, "items": []})
        if await self._repo.add_certificate(certificate, done, change_events(f"batch:{batch_id}", f"certificate:{certificate.id}",
                                                                       action="retention.certificate.issue")):
            record_evidence(self._evidence, await self._disposition.batch(batch_id), certificate)
        return await self._disposition.batch(batch_id)

    async def certificate(self, certificate_id: str) -> DestructionCertificate:
        found = await self._repo.certificate(certificate_id)
        if found is None:
            raise CertificateNotFound(f"no destruction certificate has id {certificate_id!r}")
        return found

    def check_certificate(self, certificate: DestructionCertificate) -> CertificateCheck:
        """The certificate as served (its JSON) verified against this installation's audit keys:
        what ``records retention verify-certificate`` on the data dir would say."""
        return check(certificate.model_dump(mode="json"), self._keyring.audit_public_keys())

    # --- tombstones and evidence -----------------------------------------------------------

    async def tombstone(self, record_id: str) -> Tombstone | None:
        return await self._repo.tombstone(record_id)

    async def raise_if_disposed(self, stored: StoredRecord) -> None:
        """A record disposed of answers 410 with its tombstone."""
        if stored.destroyed_at is None:
            return
        tombstone = await self._repo.tombstone(stored.id)
        if tombstone is not None:
            raise RecordDestroyed(
                f"record {tombstone.reference} was {'transferred and ' if tombstone.transferred_to else ''}destroyed "
                f"on {tombstone.destroyed_at.date()} by disposition batch {tombstone.batch_id}",
                **tombstone.model_dump(mode="json"))

    async def enforce_tombstones(self) -> int:
        """After a restore: every tombstone of the register is in the database again, and the
        record's blobs (back from the backup, undecryptable) are deleted again."""
        restored = 0
        for record_id, tombstone in self._tombstones.entries().items():
            if await self._repo.tombstone(record_id) is not None:
                continue
            stored = await self._record_repo.get(record_id)
            if stored is None or stored.destroyed_at is None:
                continue  # the register entry precedes a shredding that never happened (crash): the run resumes it
            for attachment in stored.attachments:
                await self._blobs.delete(blob_key(record_id, attachment.id))
            await self._prune(record_id)
            restored += int(await self._repo.put_tombstone(tombstone))
        return restored

    async def enforce_evidence(self) -> int:
        """At start-up, after ``enforce_tombstones``: every batch and certificate of the register of
        disposition evidence is in the database again (a restore took them), with its tombstones
        linked to the certificate; and a finished batch the register lacks (its write failed) is
        registered. Returns how many batches were brought back."""
        entries = self._evidence.entries() if self._evidence is not None else {}
        stored = set(await self._repo.certificate_ids())
        restored = 0
        for batch_id, evidence in entries.items():
            if evidence.certificate is not None:
                if evidence.certificate.id in stored:
                    continue
            else:
                found = await self._repo.batch(batch_id)
                if found is not None and found.status is BatchStatus.done:
                    continue
            restored += int(await self._repo.restore_evidence(evidence.batch, evidence.certificate))
        registered = {e.certificate.id for e in entries.values() if e.certificate is not None}
        for certificate_id in stored - registered:
            certificate = await self._repo.certificate(certificate_id)
            if certificate is not None:
                record_evidence(self._evidence, await self._disposition.batch(certificate.batch_id), certificate)
        return restored

    async def check_evidence(self) -> list[tuple[str, str, str, bool]]:
        """What ``records fsck`` reports about disposition evidence, as (code, subject, detail,
        repairable): ``tombstone_without_certificate`` (repairable when the register holds it),
        ``evidence_not_registered`` (a certificate the register lacks; repairable) and
        ``evidence_inconsistent`` (the register and the database disagree: never repaired)."""
        findings: list[tuple[str, str, str, bool]] = []
        entries = self._evidence.entries() if self._evidence is not None else {}
        by_certificate = {e.certificate.id: e for e in entries.values() if e.certificate is not None}
        for tombstone in await self._repo.unlinked_tombstones(10_000):
            batch = await self._repo.batch(tombstone.batch_id)
            if batch is not None and batch.status is BatchStatus.executing:
                continue  # certified when the run finishes
            evidence = entries.get(tombstone.batch_id)
            findings.append(("tombstone_without_certificate", f"record:{tombstone.record_id}",
                             f"{tombstone.reference} was destroyed by batch {tombstone.batch_id} but no stored certificate "
                             "proves it" + ("; the register of disposition evidence holds it" if evidence else ""),
                             evidence is not None and evidence.certificate is not None))
        for certificate_id in await self._repo.certificate_ids():
            evidence = by_certificate.get(certificate_id)
            certificate = await self._repo.certificate(certificate_id)
            if evidence is None:
                findings.append(("evidence_not_registered", f"certificate:{certificate_id}",
                                 "a destruction certificate the register of disposition evidence lacks: a restore "
                                 "would lose it", True))
            elif certificate is not None and evidence.certificate != certificate:
                findings.append(("evidence_inconsistent", f"certificate:{certificate_id}",
                                 "the certificate in the database differs from the one registered at issue", False))
        return findings
