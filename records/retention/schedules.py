"""Retention schedules and what they decide for each archived record: versioned schedules (plugins
seed theirs), the legal minimums (floors) that bind every schedule, each record's assignment of a
schedule and retain-until date, and the retention events that start event-triggered clocks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from records.audit.trail import begin as begin_trail
from records.audit.trail import current as current_trail
from records.audit.trail import end as end_trail
from records.clock import utcnow
from records.errors import Conflict, InvalidInput, RecordNotFound
from records.models import Kind, RecordQuery
from records.ports import RecordRepository, RetentionRepository
from records.retention import floors as legal_floors
from records.retention import periods
from records.retention.changes import PAGE, change_events, committed_request_event, system_trail
from records.retention.errors import (
    FloorNotFound,
    FloorRemoved,
    RetentionBelowMinimum,
    RetentionNotAssigned,
    ScheduleChanged,
    ScheduleNotFound,
)
from records.retention.floors import FloorIn, FloorRemoval, RetentionFloor
from records.retention.models import (
    DispositionAction,
    ReapplyIn,
    RecordRetention,
    RetentionAssignment,
    RetentionEventIn,
    RetentionEventResult,
    RetentionSchedule,
    ScheduleIn,
    SchedulePatch,
    SchedulePreview,
    ScheduleRef,
)
from records.retention.object_locks import ObjectLocks
from records.retention.policy import RetentionPolicy
from records.roles import Principal
from records.services.records import RecordService
from records.stored import StoredRecord

log = logging.getLogger("records.retention")


class RetentionSchedules:
    """Schedules, floors, assignments and retention events."""

    def __init__(self, repo: RetentionRepository, records: RecordService, record_repo: RecordRepository,
                 locks: ObjectLocks, policy: RetentionPolicy,
                 check_codes: Callable[[list[str], list[str]], None] | None = None) -> None:
        self._repo = repo
        self._records = records  # looks records up by personal identifier, as a search does
        self._record_repo = record_repo
        self._locks = locks
        self.policy = policy
        # Refuses codes no scheme in force defines (codes, kept): the installation's registries.
        self._check_classification = check_codes


    # --- schedules -------------------------------------------------------------------------

    def _check_codes(self, codes: list[str] | None, kept: list[str] | None = None) -> None:
        if self._check_classification is not None and codes:
            self._check_classification(codes, kept or [])

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
        events = change_events(f"schedule:{schedule.id}")
        await self._repo.add_schedule(schedule, events)
        committed_request_event(events)
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
        events = change_events(f"schedule:{schedule_id}")
        if not await self._repo.add_schedule_version(updated, events):
            raise ScheduleChanged(f"schedule {current.name!r} was changed meanwhile; read it again")
        committed_request_event(events)
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
                    await self._locks.lock(stored, fresh.retain_until)
                await self._repo.put_assignment(fresh, change_events(f"record:{a.record_id}", f"schedule:{latest.id}",
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

    # --- floors (legal minimums) -----------------------------------------------------------

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
        events = change_events(f"floor:{floor.id}")
        await self._repo.add_floor(floor, events)
        committed_request_event(events)
        return floor

    async def remove_floor(self, floor_id: str, data: FloorRemoval, actor: Principal) -> RetentionFloor:
        """An admin's recorded act (the route admits admins only); the floor stays listed as removed."""
        floor = await self.floor(floor_id)
        if not floor.active:
            raise FloorRemoved(f"retention floor {floor_id} was removed on {floor.removed_at}")
        removed = floor.model_copy(update={"removed_at": utcnow(), "removed_by": actor.name, "removal_reason": data.reason})
        events = change_events(f"floor:{floor_id}")
        if not await self._repo.remove_floor(removed, events):
            raise FloorRemoved(f"retention floor {floor_id} was removed meanwhile")
        committed_request_event(events)
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
            await self._repo.add_floor(floor, change_events(f"floor:{floor.id}"))
        finally:
            end_trail(token)

    async def binding_floor(self, stored: StoredRecord) -> tuple[RetentionFloor, datetime] | None:
        return legal_floors.binding(await self.floors(active_only=True), stored.kind, stored.classification,
                                    stored.archived_at)

    # --- assignments -----------------------------------------------------------------------

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
        floor = await self.binding_floor(stored)
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
        await self._locks.lock(stored, assignment.retain_until)
        if await self._repo.holds_on(record_id):
            await self._locks.legal_hold(stored, True)
        await self._repo.put_assignment(assignment, change_events(f"record:{record_id}", action="retention.assign"))
        return assignment

    async def on_archived(self, record: Any) -> None:
        """Called by the record service once an archiving has committed."""
        try:
            await self.assign(record.id)
        except Exception:  # the archive stands; the next reconciliation assigns it
            log.exception("assigning retention to %s failed; the next sweep's reconciliation will", record.id)

    async def reconcile(self) -> int:
        """Assign every archived record that has no assignment (archived while this failed)."""
        assigned, after = 0, None
        while page := await self._repo.unassigned_archived(after, PAGE):
            after = page[-1]
            for record_id in page:
                assigned += int(await self.assign(record_id) is not None)
        return assigned

    async def record_retentions(self, record_ids: list[str]) -> dict[str, RecordRetention]:
        """``record_retention`` of each record, those with an assignment (every file in a batch)
        read from the store at once."""
        found = await self._repo.retention_of(record_ids)
        return {rid: RecordRetention(**found[rid][0].model_dump(), holds=found[rid][1]) if rid in found
                else await self.record_retention(rid) for rid in record_ids}

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

    # --- events ----------------------------------------------------------------------------

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
            await self._locks.lock(stored, fresh.retain_until)
            await self._repo.put_assignment(fresh, change_events(f"record:{record_id}", action="retention.clock.start"))
            started += 1
        return RetentionEventResult(name=data.name, occurred_at=occurred, matched=len(ids), clocks_started=started)

    def _look_up(self, actor: Principal, index: str, value: str) -> str:
        """A lookup by personal identifier: the same privilege, event and rate limit as a search."""
        return self._records.look_up(actor, index, value)
