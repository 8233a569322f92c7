"""Retention and disposition: which schedule keeps each archived record and until when, legal
holds, sweeps into disposition batches, decisions (optionally by two people), execution that
resumes after a crash without doing anything twice, tombstones and signed certificates.

The order of an item's execution is what makes resuming safe: claim it (a hold wins: the item
is left alone) → tombstone written to the register outside the database → for a transfer, the
BagIt package written and validated → the hold checked again and the data key destroyed → the
blobs deleted → the record pruned → item, tombstone and its audit event committed together.
Every step is idempotent and the last one is a compare-and-swap, so a run killed anywhere
resumes with the item it was on and records its destruction exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet  # noqa: N817 - the abstract set type, not a built-in set
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from records.audit.events import AuditEventDraft
from records.audit.log import EventQuery
from records.audit.trail import AuditTrail, committed
from records.audit.trail import begin as begin_trail
from records.audit.trail import current as current_trail
from records.audit.trail import end as end_trail
from records.clock import as_utc, utcnow
from records.crypto.masking import mask_account, mask_phone
from records.errors import Conflict, InvalidInput, NotFound, RecordDestroyed, RecordNotFound
from records.models import Kind, RecordQuery
from records.ports import LockingBlobStore
from records.retention import periods
from records.retention import floors as legal_floors
from records.retention.certificates import CertificateCheck, check, sign
from records.retention.errors import (
    BatchNotFound,
    FloorNotFound,
    FloorRemoved,
    BatchNotOpen,
    BatchUndecided,
    CertificateNotFound,
    HoldNotFound,
    HoldReleased,
    ItemDecided,
    RecordNotInBatch,
    RecordOnHold,
    RetentionBelowMinimum,
    RetentionNotAssigned,
    ScheduleChanged,
    ScheduleNotFound,
    SecondApproverRequired,
)
from records.retention.evidence import DispositionEvidence, EvidenceRegister
from records.retention import review, states
from records.retention.review import ReviewDecisionIn, ReviewItem, ReviewList
from records.retention.floors import FloorIn, FloorRemoval, RetentionFloor
from records.retention.models import (
    BatchList,
    BatchItem,
    DecisionIn,
    BatchStatus,
    CertificateItem,
    Decision,
    DecisionsIn,
    DestructionCertificate,
    DispositionAction,
    DispositionBatch,
    HeldRecord,
    HoldCoverage,
    HoldIn,
    HoldQuery,
    HoldRelease,
    ItemState,
    LegalHold,
    ReapplyIn,
    RecordRetention,
    RetentionAssignment,
    RetentionEventIn,
    RetentionEventResult,
    RetentionSchedule,
    ScheduleIn,
    SchedulePatch,
    GovernanceFacts,
    SchedulePreview,
    ScheduleRef,
    SweepResult,
    Tombstone,
)
from records.retention.tombstones import TombstoneRegister
from records.retention.transfer import write_bag
from records.roles import Principal, Role
from records.attachments import blob_key
from records.stored import StoredRecord
from records.workflow import ARCHIVED

log = logging.getLogger("records.retention")
# Who decides items of schedules without review stages (the batch decisions route admits the same).
RETENTION_DECIDERS = frozenset({Role.archivist, Role.admin})
PAGE = 500
SYSTEM = Principal("system:retention", "system")  # type: ignore[arg-type]  # the scheduler's own name


@dataclass(frozen=True)
class RetentionPolicy:
    """The settings retention runs by."""

    fiscal_year_start_month: int = 1
    two_person_rule: bool = False
    batch_max_items: int = 10_000
    review_period: str = "P1Y"
    transfer_dir: Path = Path("transfers")
    organization: str = "records"


def _events(*targets: str, action: str | None = None) -> list[AuditEventDraft]:
    """The current trail's event for one change, naming exactly ``targets`` (plus what the request
    itself named): per-item events of a batch must not accumulate every earlier item's target."""
    trail = current_trail()
    if trail is None:
        return []
    status = trail.success_status if action is None else None
    return [trail.draft(action=action, status=status, targets=[*trail.targets, *targets])]


def _committed_request_event(events: list[AuditEventDraft]) -> None:
    """The request's own event (no explicit action) went in with the change."""
    if events:
        committed()


def system_trail(action: str, actor: Principal | None = None, like: AuditTrail | None = None) -> AuditTrail:
    if like is not None:
        return AuditTrail(action=action, actor=like.actor, role=like.role, request_id=like.request_id,
                          client=like.client, purpose=like.purpose)
    who = actor or SYSTEM
    return AuditTrail(action=action, actor=who.name, role=str(who.role))


def content_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


class RetentionService:
    def __init__(self, repo, records, record_repo, blobs, audit, keyring, index, tombstones: TombstoneRegister,  # type: ignore[no-untyped-def]
                 policy: RetentionPolicy, deliver: Callable[..., str | None] | None = None,
                 evidence: EvidenceRegister | None = None) -> None:
        self._repo = repo
        self._records = records  # RecordService: opens records, shreds through its destruction gate
        self._record_repo = record_repo
        self._blobs = blobs
        self._audit = audit
        self._keyring = keyring
        self._index = index
        self._tombstones = tombstones
        # Beside the register of tombstones unless given (library use without registers: none).
        self._evidence = evidence or (EvidenceRegister(tombstones.path.parent) if tombstones is not None else None)
        self.policy = policy
        self._deliver = deliver
        # Placing a hold and the last hold check before a key is destroyed exclude each other, so a
        # hold placed at any moment either stops the destruction or comes after it.
        self._hold_gate = asyncio.Lock()
        self._runs: dict[str, asyncio.Task[DispositionBatch]] = {}
        # Refuses codes no registered scheme defines (codes, kept): set by the installation.
        self.classification_check: Callable[[list[str], list[str]], None] | None = None

    def _check_codes(self, codes: list[str] | None, kept: list[str] | None = None) -> None:
        if self.classification_check is not None and codes:
            self.classification_check(codes, kept or [])

    # --- schedules -----------------------------------------------------------------------------

    async def create_schedule(self, data: ScheduleIn, actor: Principal, origin: str = "api",
                              minimum_period: str | None = None) -> RetentionSchedule:
        if origin == "api":  # a plugin's defaults name its own schemes' codes
            self._check_codes(data.classification)
        schedule = RetentionSchedule(
            id=str(uuid.uuid4()), version=1, name=data.name, kinds=data.kinds, classification=data.classification or [],
            trigger=data.trigger, period=data.period, cutoff=data.cutoff, action=data.action, origin=origin,
            review_stages=data.review_stages or [],
            minimum_period=minimum_period, created_at=utcnow(), created_by=actor.name)
        self._check_minimum(schedule)
        legal_floors.check_schedule(schedule, await self.floors(active_only=True))
        events = _events(f"schedule:{schedule.id}")
        await self._repo.add_schedule(schedule, events)
        _committed_request_event(events)
        return schedule

    async def schedules(self) -> list[RetentionSchedule]:
        return await self._repo.schedules()

    async def schedule(self, schedule_id: str, version: int | None = None) -> RetentionSchedule:
        found = await self._repo.schedule(schedule_id, version)
        if found is None:
            raise ScheduleNotFound(f"no retention schedule has id {schedule_id!r}" + (f" and version {version}" if version else ""))
        return found

    async def amend_schedule(self, schedule_id: str, patch: SchedulePatch, actor: Principal,
                             dry_run: bool = False) -> RetentionSchedule | SchedulePreview:
        """A new version. Records already under the schedule keep their dates until re-applied.
        ``dry_run``: every check as for real, nothing stored; the preview says what re-applying the
        edited version would do to the files under the schedule (shorter dates included)."""
        current = await self.schedule(schedule_id)
        self._check_codes(patch.classification, current.classification)
        changes = patch.model_dump(exclude_unset=True, exclude={"reason"})
        if "classification" in changes and changes["classification"] is None:
            changes["classification"] = []
        if "review_stages" in changes and changes["review_stages"] is None:
            changes["review_stages"] = []
        for name in ("name", "kinds", "trigger", "action"):
            if name in changes and changes[name] is None:
                raise InvalidInput(f"{name} cannot be removed, only changed", field=name)
        updated = current.model_copy(update={**{k: getattr(patch, k) for k in changes}, "version": current.version + 1,
                                             "created_at": utcnow(), "created_by": actor.name, "reason": patch.reason})
        if updated.classification is None:
            updated.classification = []
        if updated.review_stages is None:
            updated.review_stages = []
        if updated.action is not DispositionAction.permanent and updated.period is None:
            raise InvalidInput("period is required unless the action is 'permanent'", field="period")
        self._check_minimum(updated)
        legal_floors.check_schedule(updated, await self.floors(active_only=True))  # period and scope alike
        if dry_run:
            return await self._reapply(updated, allow_shorter=True, actor=actor, reason=patch.reason, dry_run=True)
        events = _events(f"schedule:{schedule_id}")
        if not await self._repo.add_schedule_version(updated, events):
            raise ScheduleChanged(f"schedule {current.name!r} was changed meanwhile; read it again")
        _committed_request_event(events)
        return updated

    @staticmethod
    def _check_minimum(schedule: RetentionSchedule) -> None:
        if schedule.minimum_period is None or schedule.action is DispositionAction.permanent:
            return
        reference = datetime(2000, 1, 1, tzinfo=UTC)
        if not periods.period_days_at_least(schedule.period or "P0D", schedule.minimum_period, reference):
            raise RetentionBelowMinimum(
                f"schedule {schedule.name!r} must keep records at least {schedule.minimum_period} "
                f"({schedule.origin}); {schedule.period} is shorter", field="period")

    async def reapply_schedule(self, schedule_id: str, data: ReapplyIn, actor: Principal) -> SchedulePreview:
        """Move every undisposed record under earlier versions to the latest one, explicitly and
        audited, one event per record whose dates change. Shorter dates only with ``allow_shorter``.
        With ``data.dry_run`` nothing changes: the result counts what would."""
        latest = await self.schedule(schedule_id)
        # A floor declared since the version was made binds its re-application too.
        legal_floors.check_schedule(latest, await self.floors(active_only=True))
        return await self._reapply(latest, data.allow_shorter, actor, data.reason, data.dry_run)

    async def _reapply(self, latest: RetentionSchedule, allow_shorter: bool, actor: Principal, reason: str,
                       dry_run: bool) -> SchedulePreview:
        """Re-apply ``latest`` to the files under older versions of its schedule, or (``dry_run``)
        only count: files whose retain-until date would come earlier, later, stay, or whose file the
        version no longer covers, with the first few of each (what a preview page lists)."""
        result = SchedulePreview(dry_run=dry_run, schedule=latest)
        after: str | None = None
        now = utcnow()
        while page := await self._repo.assignments_under(latest.id, after, PAGE):
            after = page[-1].record_id
            for a in page:
                if a.schedule is None or a.schedule.version >= latest.version or a.batch_id is not None:
                    continue
                result.examined += 1
                stored = await self._record_repo.get(a.record_id)
                if stored is None or stored.destroyed_at is not None:
                    continue
                if not latest.covers(stored.kind, stored.classification):
                    result.no_longer_covered += 1
                fresh = await self._compute(stored, latest, now)
                note = f"re-applied v{latest.version} by {actor.name} on {now.date()}: {reason}"
                if (fresh.retain_until is not None and a.retain_until is not None and fresh.retain_until < a.retain_until
                        and not allow_shorter) or (fresh.retain_until is not None and a.retain_until is None
                                                   and a.action is DispositionAction.permanent and not allow_shorter):
                    result.kept_longer += 1
                    fresh = fresh.model_copy(update={"retain_until": a.retain_until, "action": a.action,
                                                     "basis": f"{fresh.basis}; kept until the later date of v{a.schedule.version}"})
                result.count(a, fresh)
                if dry_run:
                    continue
                fresh.history = [*a.history, a.basis]
                fresh.basis = f"{fresh.basis} ({note})"
                if fresh.retain_until is not None and (a.retain_until is None or fresh.retain_until > a.retain_until):
                    await self._lock(stored, fresh.retain_until)
                await self._repo.put_assignment(fresh, _events(f"record:{a.record_id}", f"schedule:{latest.id}",
                                                               action="retention.schedule.reapply_record"))
                result.changed += 1
        return result

    async def seed_schedules(self, defaults: list[tuple[str, ScheduleIn, str | None, str | None]]) -> int:
        """Store the schedules plugins register unless one of that name exists (the stored one,
        perhaps edited by an archivist, wins), and the legal minimum each declares as a floor
        unless that floor was stored before (an admin's removal stays)."""
        for plugin, data, minimum, source in defaults:
            if minimum is not None:
                await self._seed_floor(plugin, data, minimum, source)
        existing = {s.name for s in await self._repo.schedules()}
        added = 0
        for plugin, data, minimum, _source in defaults:
            if data.name in existing:
                continue
            actor = Principal(f"plugin:{plugin}", "system")  # type: ignore[arg-type]
            trail = system_trail("retention.schedule.seed", actor)
            token = begin_trail(trail)
            try:
                await self.create_schedule(data, actor, origin=f"plugin:{plugin}", minimum_period=minimum)
            except Conflict:
                continue
            finally:
                end_trail(token)
            existing.add(data.name)
            added += 1
        return added

    # --- floors (legal minimums) ---------------------------------------------------------------

    async def floors(self, active_only: bool = False) -> list[RetentionFloor]:
        """Every legal minimum, oldest first; removed ones too unless ``active_only`` (a page shows
        both: what binds now, and what was removed, by whom and why)."""
        found = await self._repo.floors()
        return [f for f in found if f.active] if active_only else found

    async def floor(self, floor_id: str) -> RetentionFloor:
        found = next((f for f in await self._repo.floors() if f.id == floor_id), None)
        if found is None:
            raise FloorNotFound(f"no retention floor has id {floor_id!r}")
        return found

    async def declare_floor(self, data: FloorIn, actor: Principal) -> RetentionFloor:
        """An archivist's floor for kinds and/or codes. It binds at once: files it covers are not
        due before it allows, whatever their schedule says (their dates move at the next sweep)."""
        self._check_codes(data.classification)
        floor_id = str(uuid.uuid4())
        floor = RetentionFloor(id=floor_id, key=floor_id, kinds=data.kinds or [], classification=data.classification or [],
                               minimum_period=data.minimum_period, origin="api", citation=data.citation, reason=data.reason,
                               created_at=utcnow(), created_by=actor.name)
        events = _events(f"floor:{floor.id}")
        await self._repo.add_floor(floor, events)
        _committed_request_event(events)
        return floor

    async def remove_floor(self, floor_id: str, data: FloorRemoval, actor: Principal) -> RetentionFloor:
        """An admin's recorded act (the route admits admins only); the floor stays listed as removed."""
        floor = await self.floor(floor_id)
        if not floor.active:
            raise FloorRemoved(f"retention floor {floor_id} was removed on {floor.removed_at}")
        removed = floor.model_copy(update={"removed_at": utcnow(), "removed_by": actor.name, "removal_reason": data.reason})
        events = _events(f"floor:{floor_id}")
        if not await self._repo.remove_floor(removed, events):
            raise FloorRemoved(f"retention floor {floor_id} was removed meanwhile")
        _committed_request_event(events)
        return removed

    async def _seed_floor(self, plugin: str, data: ScheduleIn, minimum: str, source: str | None) -> None:
        key = f"plugin:{plugin}:{data.name}"
        if any(f.key == key for f in await self._repo.floors()):
            return
        floor = RetentionFloor(id=str(uuid.uuid4()), key=key, kinds=data.kinds, classification=data.classification or [],
                               minimum_period=minimum, origin=f"plugin:{plugin}", citation=source,
                               reason=f"legal minimum of the schedule {data.name!r}", created_at=utcnow(),
                               created_by=f"plugin:{plugin}")
        token = begin_trail(system_trail("retention.floor.seed", Principal(f"plugin:{plugin}", "system")))  # type: ignore[arg-type]
        try:
            await self._repo.add_floor(floor, _events(f"floor:{floor.id}"))
        finally:
            end_trail(token)

    async def _binding_floor(self, stored: StoredRecord) -> tuple[RetentionFloor, datetime] | None:
        return legal_floors.binding(await self.floors(active_only=True), stored.kind, stored.classification,
                                    stored.archived_at)

    # --- assignments ---------------------------------------------------------------------------

    async def _choose(self, kind: Kind, codes: list[str]) -> RetentionSchedule | None:
        """The schedule that keeps a record: the most specific (with classification codes) among
        those covering it, and among equals the one that keeps it longest (retention wins)."""
        covering = [s for s in await self._repo.schedules() if s.covers(kind, codes)]
        if not covering:
            return None
        reference = datetime(2000, 1, 1, tzinfo=UTC)

        def length(s: RetentionSchedule) -> tuple[int, int, datetime]:
            permanent = s.action is DispositionAction.permanent
            until = reference + periods.parse_period(s.period) if s.period and not permanent else reference
            return (bool(s.classification), permanent, until)

        return max(covering, key=length)

    async def _compute(self, stored: StoredRecord, schedule: RetentionSchedule | None, now: datetime) -> RetentionAssignment:
        base = {"record_id": stored.id, "reference": stored.reference, "kind": stored.kind}
        if schedule is None:
            return RetentionAssignment(**base, schedule=None, basis=(
                f"no retention schedule covers a {stored.kind.value} with these classification codes: kept until one does"))
        ref = ScheduleRef(id=schedule.id, version=schedule.version, name=schedule.name)
        head = f"schedule {schedule.name!r} v{schedule.version} ({schedule.action.value})"
        if schedule.action is DispositionAction.permanent:
            return RetentionAssignment(**base, schedule=ref, trigger=schedule.trigger, action=schedule.action,
                                       basis=f"{head}: kept permanently")
        trigger_at: datetime | None
        if schedule.trigger == "archived":
            trigger_at = stored.archived_at
        elif schedule.trigger == "closed":
            trigger_at = stored.result_at or stored.archived_at
        else:
            trigger_at = await self._repo.event_time(schedule.trigger.removeprefix("event:"), stored.id)
        if trigger_at is None:
            return RetentionAssignment(**base, schedule=ref, trigger=schedule.trigger, action=schedule.action,
                                       basis=f"{head}: the clock starts at {schedule.trigger}, which has not happened yet")
        assert schedule.period is not None
        until = periods.retain_until(trigger_at, schedule.period, schedule.cutoff, self.policy.fiscal_year_start_month)
        why = periods.explain(schedule.trigger, trigger_at, schedule.period, schedule.cutoff, until,
                              self.policy.fiscal_year_start_month)
        floor = await self._binding_floor(stored)
        if floor is not None and floor[1] > until:
            until = floor[1]
            why = f"{why}; raised to {until.date().isoformat()} by the legal minimum: {floor[0].describe()}"
        return RetentionAssignment(**base, schedule=ref, trigger=schedule.trigger, trigger_at=trigger_at,
                                   retain_until=until, action=schedule.action, basis=f"{head}: {why}")

    async def assign(self, record_id: str) -> RetentionAssignment | None:
        """Give an archived record its schedule (idempotent: an existing assignment stays)."""
        existing = await self._repo.assignment(record_id)
        if existing is not None:
            return existing
        stored = await self._record_repo.get(record_id)
        if stored is None or stored.archived_at is None or stored.destroyed_at is not None:
            return None
        assignment = await self._compute(stored, await self._choose(stored.kind, stored.classification), utcnow())
        # Locked before the assignment is stored: should locking fail, the record stays unassigned
        # and the next reconciliation tries again.
        await self._lock(stored, assignment.retain_until)
        if await self._repo.holds_on(record_id):
            await self._legal_hold(stored, True)
        await self._repo.put_assignment(assignment, _events(f"record:{record_id}", action="retention.assign"))
        return assignment

    async def on_archived(self, record: Any) -> None:
        """Called by the record service once an archiving has committed."""
        try:
            await self.assign(record.id)
        except Exception:  # noqa: BLE001 - the archive stands; the next reconciliation assigns it
            log.exception("assigning retention to %s failed; the next sweep's reconciliation will", record.id)

    async def reconcile(self) -> int:
        """Assign every archived record that has no assignment (archived while this failed)."""
        assigned, after = 0, None
        while page := await self._repo.unassigned_archived(after, PAGE):
            after = page[-1]
            for record_id in page:
                assigned += int(await self.assign(record_id) is not None)
        return assigned

    async def record_retention(self, record_id: str) -> RecordRetention:
        assignment = await self._repo.assignment(record_id)
        if assignment is None:
            stored = await self._record_repo.get(record_id)
            if stored is None:
                raise RecordNotFound(f"no record has id {record_id!r}")
            if stored.archived_at is None:
                schedule = await self._choose(stored.kind, stored.classification)
                preview = await self._compute(stored, schedule, utcnow())
                return RecordRetention(**preview.model_dump(exclude={"basis", "retain_until", "trigger_at"}),
                                       basis=f"not archived yet: retention starts when it is ({preview.basis})",
                                       holds=await self._repo.holds_on(record_id))
            assignment = await self.assign(record_id)
            if assignment is None:
                raise RetentionNotAssigned(f"record {stored.reference} has no retention assignment")
        return RecordRetention(**assignment.model_dump(), holds=await self._repo.holds_on(record_id))

    # --- events --------------------------------------------------------------------------------

    async def fire_event(self, data: RetentionEventIn, actor: Principal) -> RetentionEventResult:
        occurred = data.occurred_at or utcnow()
        ids = list(dict.fromkeys(data.record_ids or []))
        for record_id in ids:
            if await self._record_repo.get(record_id) is None:
                raise RecordNotFound(f"no record has id {record_id!r}", field="record_ids")
        if data.customer_account is not None:
            query = RecordQuery(customer_account_index=self._look_up(actor, "customer.account", data.customer_account),
                                limit=PAGE + 1)
            after = None
            while True:
                page = await self._record_repo.find(query.model_copy(update={"after": after}))
                ids.extend(s.id for s in page[:PAGE] if s.id not in ids)
                if len(page) <= PAGE:
                    break
                after = (page[PAGE - 1].created_at, page[PAGE - 1].id)
        started = 0
        trail = current_trail()
        for record_id in ids:
            if trail is not None:
                trail.target(f"record:{record_id}")
            await self._repo.record_event(data.name, record_id, occurred)
            a = await self._repo.assignment(record_id)
            if a is None or a.trigger != f"event:{data.name}" or a.trigger_at is not None or a.disposed_at is not None:
                continue
            stored = await self._record_repo.get(record_id)
            assert a.schedule is not None and stored is not None
            fresh = await self._compute(stored, await self.schedule(a.schedule.id, a.schedule.version), utcnow())
            fresh.history = [*a.history, a.basis]
            await self._lock(stored, fresh.retain_until)
            await self._repo.put_assignment(fresh, _events(f"record:{record_id}", action="retention.clock.start"))
            started += 1
        return RetentionEventResult(name=data.name, occurred_at=occurred, matched=len(ids), clocks_started=started)

    def _look_up(self, actor: Principal, index: str, value: str) -> str:
        """A lookup by personal identifier: the same privilege, event and rate limit as a search."""
        return self._records.look_up(actor, index, value)

    # --- legal holds ---------------------------------------------------------------------------

    async def place_hold(self, data: HoldIn, actor: Principal) -> LegalHold:
        ids = list(dict.fromkeys(data.record_ids or []))
        disposed = []
        for record_id in ids:
            if await self._record_repo.get(record_id) is None:
                raise RecordNotFound(f"no record has id {record_id!r}", field="record_ids")
            if await self._repo.tombstone(record_id) is not None:
                disposed.append(record_id)
        query = None
        if data.query is not None:
            q = data.query
            query = HoldQuery(
                customer_account_index=self._look_up(actor, "customer.account", q.customer_account) if q.customer_account else None,
                customer_phone_index=self._look_up(actor, "customer.phone", q.customer_phone) if q.customer_phone else None,
                customer_account_masked=mask_account(q.customer_account) if q.customer_account else None,
                customer_phone_masked=mask_phone(q.customer_phone) if q.customer_phone else None,
                kind=q.kind, received_from=q.received_from, received_to=q.received_to)
        hold = LegalHold(id=str(uuid.uuid4()), reason=data.reason, case_reference=data.case_reference, record_ids=ids,
                         query=query, placed_at=utcnow(), placed_by=actor.name, already_disposed=disposed)
        hold.covered_at_placement = await self._count_held(hold)
        events = _events(f"hold:{hold.id}", *(f"record:{r}" for r in ids[:1000]))
        async with self._hold_gate:
            decided = await self._repo.add_hold(hold, events)
        _committed_request_event(events)
        # Records whose destruction was decided before this hold committed (finishing now, or
        # finished between the check above and the hold): the hold came second, and says so.
        hold = hold.with_decided(decided)
        await self._legal_holds(hold, True, skip=set(decided))
        return hold

    async def hold(self, hold_id: str) -> LegalHold:
        found = await self._repo.hold(hold_id)
        if found is None:
            raise HoldNotFound(f"no legal hold has id {hold_id!r}")
        return found

    async def holds(self, active_only: bool = False) -> list[LegalHold]:
        return await self._repo.holds(active_only)

    async def release_hold(self, hold_id: str, data: HoldRelease, actor: Principal) -> LegalHold:
        hold = await self.hold(hold_id)
        if not hold.active:
            raise HoldReleased(f"legal hold {hold_id} was released on {hold.released_at}")
        released = hold.model_copy(update={"released_at": utcnow(), "released_by": actor.name, "release_reason": data.reason,
                                           "covered_at_release": await self._count_held(hold)})
        events = _events(f"hold:{hold_id}")
        if not await self._repo.release_hold(released, events):
            raise HoldReleased(f"legal hold {hold_id} was released meanwhile")
        _committed_request_event(events)
        await self._legal_holds(released, False)
        return released

    async def _count_held(self, hold: LegalHold) -> int:
        count = 0
        async for stored in self._held_records(hold):
            count += int(stored.id not in hold.already_disposed)
        return count

    async def hold_coverage(self, hold_id: str, offset: int = 0, limit: int = 50) -> HoldCoverage:
        """The files a hold covers now (covered until its release), a page at a time: named ones
        first, then those its saved query matches, newest filed first; governance facts only, so a
        page lists them for any retention reader. ``total`` counts every page."""
        hold = await self.hold(hold_id)
        items: list[HeldRecord] = []
        total = 0
        async for stored in self._held_records(hold):
            total += 1
            if not offset < total <= offset + limit:
                continue
            named = stored.id in hold.record_ids
            since = hold.placed_at if named else max(hold.placed_at, stored.created_at)
            if stored.id in hold.already_disposed:
                state = "disposed_before_hold"
            elif stored.destroyed_at is not None:
                state = "destroyed"
            else:
                state = "held" if hold.active else "released"
            items.append(HeldRecord(record_id=stored.id, reference=stored.reference, kind=stored.kind,
                                    received_at=stored.received_at, named=named, covered_since=since,
                                    covered_until=hold.released_at, state=state))
        return HoldCoverage(hold_id=hold.id, active=hold.active, total=total, offset=offset, limit=limit, items=items)

    # --- WORM: Object Lock where the blob store has it -------------------------------------------

    async def _lock(self, stored: StoredRecord, until: datetime | None) -> None:
        """Have the blob store itself keep the record's attachments until ``until`` (S3 Object
        Lock retention in ``RECORDS_S3_LOCK_MODE``). The store enforces its own wall clock, so a
        date already past by it needs (and takes) no lock; local disk cannot lock and is skipped."""
        if until is None or not isinstance(self._blobs, LockingBlobStore) or as_utc(until) <= datetime.now(UTC):
            return
        for attachment in stored.attachments:
            await self._blobs.set_retention(blob_key(stored.id, attachment.id), until)

    async def _legal_hold(self, stored: StoredRecord, on: bool) -> None:
        if isinstance(self._blobs, LockingBlobStore):
            for attachment in stored.attachments:
                await self._blobs.set_legal_hold(blob_key(stored.id, attachment.id), on)

    async def _held_records(self, hold: LegalHold) -> AsyncIterator[StoredRecord]:
        """The records a hold covers: those it names and those its saved query matches."""
        for record_id in hold.record_ids:
            stored = await self._record_repo.get(record_id)
            if stored is not None:
                yield stored
        q = hold.query
        if q is None:
            return
        query = RecordQuery(customer_account_index=q.customer_account_index, customer_phone_index=q.customer_phone_index,
                            kind=q.kind, received_from=q.received_from, received_to=q.received_to, limit=PAGE)
        after = None
        while page := await self._record_repo.find(query.model_copy(update={"after": after})):
            for stored in page:
                if stored.id not in hold.record_ids:
                    yield stored
            if len(page) < PAGE:
                return
            after = (page[-1].created_at, page[-1].id)

    async def held_attachment_keys(self) -> AsyncIterator[str]:
        """The blob keys of every live attachment an active hold covers (``records fsck`` checks
        that each carries its object legal hold), a record at a time."""
        seen: set[str] = set()
        for hold in await self._repo.holds(active_only=True):
            async for stored in self._held_records(hold):
                # Records whose destruction the hold came too late for are not held objects.
                if stored.destroyed_at is None and stored.id not in seen and stored.id not in hold.already_disposed:
                    seen.add(stored.id)
                    for attachment in stored.attachments:
                        yield blob_key(stored.id, attachment.id)

    async def _legal_holds(self, hold: LegalHold, on: bool, skip: AbstractSet[str] = frozenset()) -> None:
        """Object legal holds follow the hold (placed: on; released: off where no other active hold
        covers the record). The hold itself is committed first and blocks destruction on its own, so
        a storage failure here is logged, not raised."""
        if not isinstance(self._blobs, LockingBlobStore):
            return
        try:
            async for stored in self._held_records(hold):
                if stored.destroyed_at is None and stored.id not in skip and (on or not await self._repo.holds_on(stored.id)):
                    await self._legal_hold(stored, on)
        except Exception:  # noqa: BLE001
            log.exception("setting object legal holds for hold %s failed", hold.id)

    @contextlib.asynccontextmanager
    async def destruction_gate(self, record_id: str) -> AsyncIterator[None]:
        """Wraps every destruction of a data key (``RecordService.shred``): a hold wins, on every
        path and across processes: checking the holds and dooming the key are one transaction,
        serialised with every hold placement (``RetentionRepository.decide_destruction``)."""
        async with self._hold_gate:
            holds = await self._repo.decide_destruction(record_id)
            if holds:
                raise RecordOnHold(f"record {record_id} is under legal hold {', '.join(holds)}: it cannot be destroyed",
                                   holds=holds)
            yield

    # --- sweeps --------------------------------------------------------------------------------

    async def sweep(self, actor: Principal, as_of: datetime | None = None, forecast_limit: int = 1000,
                    reconcile: bool = False, progress: Callable[[int], None] | None = None) -> SweepResult:
        """Gather due, unheld records into batches (at most ``batch_max_items`` each). A future
        ``as_of`` only forecasts: nothing is stored."""
        now = utcnow()
        as_of = as_utc(as_of) if as_of else now
        forecast = as_of > now
        assigned = await self.reconcile() if reconcile and not forecast else 0
        items: list[BatchItem] = []
        batches: list[DispositionBatch] = []
        due = held = 0
        truncated = False
        floors = await self.floors(active_only=True)
        stages: dict[str, list[Any]] = {}
        after: tuple[datetime, str] | None = None
        while page := await self._repo.due(as_of, after, PAGE):
            after = (page[-1].retain_until, page[-1].record_id)  # type: ignore[assignment]
            for a in page:
                if a.action not in (DispositionAction.destroy, DispositionAction.transfer, DispositionAction.review):
                    continue
                if await self._repo.holds_on(a.record_id):
                    held += 1
                    continue
                if await self._before_floor(a, floors, as_of, forecast):
                    continue
                due += 1
                if forecast and len(items) >= forecast_limit:
                    truncated = True
                    continue
                assert a.schedule is not None and a.retain_until is not None and a.action is not None
                if a.schedule.id not in stages:  # the latest version's stages: adding a review applies to files due now
                    found = await self._repo.schedule(a.schedule.id)
                    stages[a.schedule.id] = found.review_stages if found is not None else []
                items.append(BatchItem(record_id=a.record_id, reference=a.reference, kind=a.kind, action=a.action,
                                       retain_until=a.retain_until, schedule=a.schedule, stages=stages[a.schedule.id]))
                if not forecast and len(items) >= self.policy.batch_max_items:
                    batches.append(await self._store_batch(items, as_of, actor))
                    items = []
            if progress:
                progress(due + held)
        if forecast:
            batches.append(DispositionBatch(id=None, status=BatchStatus.forecast, as_of=as_of, created_at=now,
                                            created_by=actor.name, items=items, truncated=truncated,
                                            two_person_rule=self.policy.two_person_rule))
        elif items:
            batches.append(await self._store_batch(items, as_of, actor))
        for batch in batches:
            batch.progress = batch.summary()
        return SweepResult(as_of=as_of, forecast=forecast, batches=batches, due=due, held=held, assigned=assigned)

    async def _before_floor(self, a: RetentionAssignment, floors: list[RetentionFloor], as_of: datetime,
                            forecast: bool) -> bool:
        """Whether a legal minimum still keeps a due-looking file (its date predates the floor);
        a real sweep then moves its retain-until date to the floor's, saying why."""
        if not any(not f.kinds or a.kind in f.kinds for f in floors):
            return False
        stored = await self._record_repo.get(a.record_id)
        bound = legal_floors.binding(floors, stored.kind, stored.classification, stored.archived_at) if stored else None
        if bound is None or bound[1] <= as_of:
            return False
        if not forecast and stored is not None:
            floor, until = bound
            await self._lock(stored, until)
            await self._repo.put_assignment(a.model_copy(update={
                "retain_until": until, "history": [*a.history, a.basis],
                "basis": f"{a.basis}; raised to {until.date().isoformat()} by the legal minimum: {floor.describe()}"}),
                _events(f"record:{a.record_id}", f"floor:{floor.id}", action="retention.floor.apply"))
        return True

    async def _store_batch(self, items: list[BatchItem], as_of: datetime, actor: Principal) -> DispositionBatch:
        batch = DispositionBatch(id=str(uuid.uuid4()), status=BatchStatus.open, as_of=as_of, created_at=utcnow(),
                                 created_by=actor.name, items=items, two_person_rule=self.policy.two_person_rule)
        await self._repo.add_batch(batch, _events(f"batch:{batch.id}", action="retention.batch.create"))
        return batch

    # --- batches and decisions -----------------------------------------------------------------

    async def batch(self, batch_id: str) -> DispositionBatch:
        found = await self._repo.batch(batch_id)
        if found is None:
            raise BatchNotFound(f"no disposition batch has id {batch_id!r}")
        return found

    async def batch_progress(self, batch_id: str) -> DispositionBatch:
        """The batch's state and progress without its items (cheap enough to ask every second)."""
        found = await self._repo.batch_progress(batch_id)
        if found is None:
            raise BatchNotFound(f"no disposition batch has id {batch_id!r}")
        return found

    async def batches(self, status: str | None = None, limit: int = 100) -> list[DispositionBatch]:
        return await self._repo.batches(status, limit)

    def approvals_needed(self, batch: DispositionBatch) -> int:
        """How many different approvers an item of ``batch`` without review stages needs (the
        two-person rule, fixed on the batch when the sweep made it)."""
        return 2 if batch.two_person_rule else 1

    def short_of_approvals(self, batch: DispositionBatch) -> list[BatchItem]:
        """Approved items still waiting for another approver (staged items count their approvals
        stage by stage, so they are never short here)."""
        needed = self.approvals_needed(batch)
        return [i for i in batch.items if i.decision is Decision.approve and not i.stages and len(i.approvers) < needed]

    def waiting_for(self, batch: DispositionBatch, who: Principal) -> list[BatchItem]:
        """Items of ``batch`` waiting for a decision ``who`` may give now: undecided items of a
        stage ``who`` reviews (the retention managers', for items without stages) that ``who`` has
        not approved yet, and approved items still short of an approver other than ``who``."""
        short = {i.record_id for i in self.short_of_approvals(batch)}
        found = []
        for i in batch.items:
            if i.stages:
                if i.decision is Decision.pending and i.stages[i.stage].admits(who) and who.name not in i.stage_approvers:
                    found.append(i)
            elif who.role in RETENTION_DECIDERS and (
                    i.decision is Decision.pending or (i.record_id in short and who.name not in i.approvers)):
                found.append(i)
        return found

    async def decide(self, batch_id: str, data: DecisionsIn, actor: Principal) -> DispositionBatch:
        batch = await self.batch(batch_id)
        if batch.status is not BatchStatus.open:
            raise BatchNotOpen(f"batch {batch_id} is {batch.status.value}: decisions are taken while it is open")
        by_id = {i.record_id: i for i in batch.items}
        now = utcnow()
        changed_items: list[BatchItem] = []
        assignments: list[RetentionAssignment] = []
        for d in data.decisions:
            item = by_id.get(d.record_id)
            if item is None:
                raise RecordNotInBatch(f"record {d.record_id} is not in batch {batch_id}", field="decisions")
            if item.decision in (Decision.reject, Decision.extend):
                raise ItemDecided(f"{item.reference} was already {item.decision.value}ed; it left the batch")
            item = item.model_copy(deep=True)
            if item.stages and item.decision is Decision.approve:
                continue  # its last stage approved it already
            if item.stages:
                stage = review.require_reviewer(item.stages, item.stage, actor, item.reference)
            elif actor.role not in RETENTION_DECIDERS:
                raise review.NotAReviewer(f"{item.reference} is reviewed by the retention managers (archivist, admin)")
            stored = await self._record_repo.get(item.record_id)
            bound = await self._binding_floor(stored) if stored is not None else None
            if d.decision is Decision.approve and bound is not None and bound[1] > now:
                raise legal_floors.refuse_before(bound[0], bound[1], item.reference, "approving its disposal now")
            if d.decision is Decision.extend and bound is not None and d.until is not None and d.until < bound[1]:
                raise legal_floors.refuse_before(bound[0], bound[1], item.reference,
                                                 f"extending only until {d.until.date().isoformat()}")
            if d.decision is Decision.approve and item.stages:
                if actor.name in item.stage_approvers:
                    if len(item.stage_approvers) < stage.approvals:
                        raise SecondApproverRequired(f"{item.reference}: {actor.name} approved stage {stage.name!r} already; "
                                                     "it needs another reviewer")
                    continue
                item.stage_approvers.append(actor.name)
                item.reviews.append(review.StageDecision(stage=item.stage + 1, stage_name=stage.name, decision="approve",
                                                         by=actor.name, reason=d.reason, at=now))
                if len(item.stage_approvers) >= stage.approvals:  # the stage is complete: on to the next, or decided
                    item.approvers = list(dict.fromkeys([*item.approvers, *item.stage_approvers]))
                    item.stage_approvers = []
                    if item.stage + 1 < len(item.stages):
                        item.stage += 1
                    else:
                        item.decision, item.reason, item.decided_at = Decision.approve, d.reason or item.reason, now
            elif d.decision is Decision.approve:
                if actor.name in item.approvers:
                    if len(item.approvers) < self.approvals_needed(batch):
                        raise SecondApproverRequired(
                            f"{item.reference}: {actor.name} approved already; the two-person rule needs another approver")
                    continue
                item.approvers.append(actor.name)
                item.decision, item.reason, item.decided_at = Decision.approve, d.reason or item.reason, now
            else:
                a = await self._repo.assignment(item.record_id)
                assert a is not None
                if d.decision is Decision.extend:
                    assert d.until is not None
                    if d.until <= max(now, item.retain_until):
                        raise InvalidInput(f"{item.reference}: extend until a date after {max(now, item.retain_until).date()}",
                                           field="until")
                    until, why = d.until, f"extended by {actor.name} on {now.date()} until {d.until.date()}: {d.reason}"
                else:
                    until = max(now, item.retain_until) + periods.parse_period(self.policy.review_period)
                    if bound is not None:
                        until = max(until, bound[1])
                    why = (f"disposition rejected by {actor.name} on {now.date()}: {d.reason}; "
                           f"reviewed again from {until.date()}")
                assignments.append(a.model_copy(update={"retain_until": until, "batch_id": None, "basis": f"{a.basis}; {why}",
                                                        "history": [*a.history, a.basis]}))
                item.decision, item.reason, item.until, item.decided_at = d.decision, d.reason, until, now
                item.approvers = [actor.name]
                if item.stages:
                    item.reviews.append(review.StageDecision(stage=item.stage + 1, stage_name=item.stages[item.stage].name,
                                                             decision=d.decision.value, by=actor.name, reason=d.reason, at=now))
                item = states.moved(item, ItemState.kept)
            changed_items.append(item)
        for a in assignments:  # kept longer (extended, or rejected until a review): locked longer too
            stored = await self._record_repo.get(a.record_id)
            if stored is not None:
                await self._lock(stored, a.retain_until)
        targets = [f"batch:{batch_id}", *(f"record:{i.record_id}" for i in changed_items[:1000])]
        events = _events(*targets)
        if changed_items and not await self._repo.decide(batch_id, changed_items, assignments, events):
            raise BatchNotOpen(f"batch {batch_id} started executing meanwhile")
        _committed_request_event(events if changed_items else [])
        return await self._close_if_all_kept(batch_id)

    async def _close_if_all_kept(self, batch_id: str) -> DispositionBatch:
        """A batch whose every item was rejected or extended has nothing to execute: it closes itself."""
        batch = await self.batch(batch_id)
        if batch.status is not BatchStatus.open or not batch.items:
            return batch
        if all(i.decision in (Decision.reject, Decision.extend) for i in batch.items):
            now = utcnow()
            done = batch.model_copy(update={"status": BatchStatus.done, "started_at": now, "finished_at": now, "items": []})
            if await self._repo.update_batch(done, BatchStatus.open.value,
                                             _events(f"batch:{batch_id}", action="retention.batch.done")):
                batch = await self.batch(batch_id)
                self._register_evidence(batch, None)
        return batch

    # --- reviews -------------------------------------------------------------------------------

    async def reviews(self, who: Principal, limit: int = 1000) -> ReviewList:
        """The items of open batches waiting for a decision ``who`` may give (``waiting_for``:
        undecided items of a stage ``who`` reviews, items of schedules without stages waiting
        for the retention managers, approved ones still short of a second approver other than
        ``who``), the earliest due first; each says its stage, the approvals that stage needs,
        who approved it so far and what earlier stages decided."""
        found: list[ReviewItem] = []
        for header in await self._repo.batches(BatchStatus.open.value, 1000):
            assert header.id is not None
            batch = await self.batch(header.id)
            for i in self.waiting_for(batch, who):
                if i.stages:
                    stage = i.stages[i.stage]
                    name, needed, of = stage.name, stage.approvals, len(i.stages)
                else:
                    name, needed, of = "retention managers", self.approvals_needed(batch), 1
                found.append(ReviewItem(batch_id=header.id, record_id=i.record_id, reference=i.reference, kind=i.kind,
                                        schedule=i.schedule.name, retain_until=i.retain_until, action=i.action.value,
                                        stage=i.stage + 1, stages=of, stage_name=name, approvals_needed=needed,
                                        approved_by=i.stage_approvers if i.stages else i.approvers, history=i.reviews))
        found.sort(key=lambda r: (r.retain_until, r.reference))
        return ReviewList(items=found[:limit], truncated=len(found) > limit)

    async def review(self, who: Principal, data: ReviewDecisionIn) -> BatchList:
        """One decision and one reason for many items, of one batch or several: each batch's items
        are decided together (all or none of that batch); batches are decided one after another."""
        by_batch: dict[str, list[DecisionIn]] = {}
        for target in data.items:
            by_batch.setdefault(target.batch_id, []).append(DecisionIn(
                record_id=target.record_id, decision=Decision(data.decision), reason=data.reason, until=data.until))
        decided = []
        for batch_id, decisions in by_batch.items():
            decided.append(await self.decide(batch_id, DecisionsIn(decisions=decisions), who))
        return BatchList(items=decided)

    # --- execution -----------------------------------------------------------------------------

    async def start_execution(self, batch_id: str, actor: Principal) -> DispositionBatch:
        """Check the batch may run and mark it executing; ``run`` then does the work."""
        batch = await self.batch(batch_id)
        if batch.status is BatchStatus.executing:
            return batch  # resuming
        if batch.status is not BatchStatus.open:
            raise BatchNotOpen(f"batch {batch_id} is {batch.status.value}")
        undecided = [i.reference for i in batch.items if i.decision is Decision.pending]
        short = [i.reference for i in self.short_of_approvals(batch)]
        if undecided or short:
            parts = []
            if undecided:
                parts.append(f"{len(undecided)} undecided (e.g. {', '.join(undecided[:3])})")
            if short:
                parts.append(f"{len(short)} awaiting a second approver (e.g. {', '.join(short[:3])})")
            raise BatchUndecided(f"batch {batch_id} cannot run: {'; '.join(parts)}")
        started = batch.model_copy(update={"status": BatchStatus.executing, "executed_by": actor.name, "started_at": utcnow()})
        events = _events(f"batch:{batch_id}")
        if not await self._repo.update_batch(started, BatchStatus.open.value, events):
            raise BatchNotOpen(f"batch {batch_id} changed meanwhile")
        _committed_request_event(events)
        return await self.batch(batch_id)

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
        batch = await self.batch(batch_id)
        if batch.status is not BatchStatus.executing:
            return batch
        checkpoint_before = await self._audit.seal()  # the records' histories, for transfer packages
        total, done, executed = len(batch.items), 0, 0
        for item in batch.items:
            if item.state not in states.FINAL_STATES and item.decision is Decision.approve:
                if stop_after is not None and executed >= stop_after:
                    return await self.batch(batch_id)
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
        state = await self._repo.claim_item(batch.id, item.record_id, _events(*targets, action="retention.hold.block"))
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
        bound = await self._binding_floor(stored)
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
        await self._legal_hold(stored, False)
        for attachment in stored.attachments:
            await self._blobs.delete(blob_key(stored.id, attachment.id))
        await self._prune(item.record_id)
        finished = item.model_copy(update={"state": ItemState.disposed, "disposed_at": tombstone.destroyed_at,
                                           "content_hash": tombstone.content_hash, "transfer": tombstone.transferred_to})
        action = "retention.transfer" if item.action is DispositionAction.transfer else "retention.destroy"
        await self._repo.finish_item(batch.id, finished, tombstone, _events(*targets, action=action))

    async def _keep(self, batch_id: str, item: BatchItem, why: str, assignment: RetentionAssignment | None,
                    state: ItemState = ItemState.kept) -> None:
        kept = item.model_copy(update={"state": state, "reason": why})
        assignments = []
        if assignment is not None:
            assignments.append(assignment.model_copy(update={"batch_id": None}))
        await self._repo.release_item(batch_id, kept, assignments,
                                      _events(f"record:{item.record_id}", f"batch:{batch_id}", action="retention.item.keep"))

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
        batch = await self.batch(batch_id)
        if batch.status is not BatchStatus.executing:
            return batch
        disposed = [i for i in batch.items if i.state is ItemState.disposed]
        finished = utcnow()
        if not disposed:
            done = batch.model_copy(update={"status": BatchStatus.done, "finished_at": finished, "items": []})
            if await self._repo.update_batch(done, BatchStatus.executing.value,
                                             _events(f"batch:{batch_id}", action="retention.batch.done")):
                self._register_evidence(await self.batch(batch_id), None)
            return await self.batch(batch_id)
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
        if await self._repo.add_certificate(certificate, done, _events(f"batch:{batch_id}", f"certificate:{certificate.id}",
                                                                       action="retention.certificate.issue")):
            self._register_evidence(await self.batch(batch_id), certificate)
        return await self.batch(batch_id)

    def _register_evidence(self, batch: DispositionBatch, certificate: DestructionCertificate | None) -> None:
        """Outside the database, after the commit: should the write fail, the batch stands, ``records
        fsck`` reports it (``evidence_not_registered``) and the next start registers it."""
        if self._evidence is None:
            return
        try:
            self._evidence.record(DispositionEvidence(batch=batch, certificate=certificate))
        except Exception:  # noqa: BLE001
            log.exception("registering the evidence of disposition batch %s failed; the next start does", batch.id)

    async def certificate(self, certificate_id: str) -> DestructionCertificate:
        found = await self._repo.certificate(certificate_id)
        if found is None:
            raise CertificateNotFound(f"no destruction certificate has id {certificate_id!r}")
        return found

    def check_certificate(self, certificate: DestructionCertificate) -> CertificateCheck:
        """The certificate as served (its JSON) verified against this installation's audit keys:
        what ``records retention verify-certificate`` on the data dir would say."""
        return check(certificate.model_dump(mode="json"), self._keyring.audit_public_keys())

    # --- tombstones ----------------------------------------------------------------------------

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
                self._register_evidence(await self.batch(certificate.batch_id), certificate)
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
