"""Retention and disposition in one object, as the API, the console, the CLI and the installation
call it: a facade over the modules that hold the rules.

- ``records.retention.schedules``: schedules, legal minimums, each record's assignment, events;
- ``records.retention.holds``: legal holds and the gate every destruction passes;
- ``records.retention.disposition``: sweeps, batches, decisions and reviews;
- ``records.retention.execution``: running decided batches, tombstones, certificates, evidence;
- ``records.retention.states``: the disposition state machine the service and the adapters share.
"""

from __future__ import annotations

from collections.abc import Callable

from records.audit.service import AuditService
from records.crypto.keyring import LocalKeyring
from records.ports import BlobStore, RecordRepository, RetentionRepository
from records.retention.changes import PAGE, SYSTEM, system_trail
from records.retention.disposition import RETENTION_DECIDERS, Disposition
from records.retention.evidence import EvidenceRegister
from records.retention.execution import DispositionRuns, content_hash
from records.retention.holds import LegalHolds
from records.retention.object_locks import ObjectLocks
from records.retention.policy import RetentionPolicy
from records.retention.schedules import RetentionSchedules
from records.retention.tombstones import TombstoneRegister
from records.services.records import RecordService

__all__ = ["PAGE", "RETENTION_DECIDERS", "SYSTEM", "RetentionPolicy", "RetentionService", "content_hash", "system_trail"]


class RetentionService:
    def __init__(self, repo: RetentionRepository, records: RecordService, record_repo: RecordRepository,
                 blobs: BlobStore, audit: AuditService, keyring: LocalKeyring, tombstones: TombstoneRegister,
                 policy: RetentionPolicy,
                 deliver: Callable[..., str | None] | None = None, evidence: EvidenceRegister | None = None,
                 check_codes: Callable[[list[str], list[str]], None] | None = None) -> None:
        # Beside the register of tombstones unless given (library use without registers: none).
        evidence = evidence or (EvidenceRegister(tombstones.path.parent) if tombstones is not None else None)
        self.policy = policy
        locks = ObjectLocks(blobs)
        self.scheduling = RetentionSchedules(repo, records, record_repo, locks, policy, check_codes)
        self.legal_holds = LegalHolds(repo, records, record_repo, locks)
        self.disposition = Disposition(repo, record_repo, self.scheduling, locks, policy, evidence)
        self.runs = DispositionRuns(repo, records, record_repo, blobs, audit, keyring, tombstones, evidence,
                                    self.scheduling, self.disposition, locks, policy, deliver)

        s = self.scheduling
        self.create_schedule, self.schedules, self.schedule = s.create_schedule, s.schedules, s.schedule
        self.amend_schedule, self.reapply_schedule, self.seed_schedules = s.amend_schedule, s.reapply_schedule, s.seed_schedules
        self.floors, self.floor, self.declare_floor, self.remove_floor = s.floors, s.floor, s.declare_floor, s.remove_floor
        self.assign, self.on_archived, self.reconcile = s.assign, s.on_archived, s.reconcile
        self.record_retention, self.record_retentions, self.fire_event = s.record_retention, s.record_retentions, s.fire_event

        h = self.legal_holds
        self.place_hold, self.hold, self.holds, self.release_hold = h.place_hold, h.hold, h.holds, h.release_hold
        self.hold_coverage, self.held_attachment_keys = h.hold_coverage, h.held_attachment_keys
        self.destruction_gate = h.destruction_gate

        d = self.disposition
        self.sweep, self.batch, self.batch_progress, self.batches = d.sweep, d.batch, d.batch_progress, d.batches
        self.decide = d.decide
        self.batch_items, self.decision_tally, self.waiting_count = d.batch_items, d.decision_tally, d.waiting_count
        self.approvals_needed, self.short_of_approvals, self.waiting_for = (
            d.approvals_needed, d.short_of_approvals, d.waiting_for)
        self.start_execution, self.reviews, self.review = d.start_execution, d.reviews, d.review

        r = self.runs
        self.run_in_background, self.running, self.resume_all, self.run = r.run_in_background, r.running, r.resume_all, r.run
        self.certificate, self.check_certificate = r.certificate, r.check_certificate
        self.tombstone, self.raise_if_disposed = r.tombstone, r.raise_if_disposed
        self.enforce_tombstones, self.enforce_evidence, self.check_evidence = (
            r.enforce_tombstones, r.enforce_evidence, r.check_evidence)
