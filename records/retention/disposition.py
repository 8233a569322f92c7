"""Disposition up to execution: sweeps gather due, unheld records into batches; archivists (and
review stages) decide each item, under the two-person rule where the batch has it; a decided batch
starts executing. ``records.retention.execution`` runs it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from records.clock import as_utc, utcnow
from records.errors import InvalidInput
from records.ports import RecordRepository, RetentionRepository
from records.retention import floors as legal_floors
from records.retention import periods, review, states
from records.retention.changes import PAGE, change_events, committed_request_event
from records.retention.errors import (
    BatchNotFound,
    BatchNotOpen,
    BatchUndecided,
    ItemDecided,
    RecordNotInBatch,
    SecondApproverRequired,
)
from records.retention.evidence import EvidenceRegister, record_evidence
from records.retention.floors import RetentionFloor
from records.retention.models import (
    BatchItem,
    BatchList,
    BatchStatus,
    Decision,
    DecisionIn,
    DecisionsIn,
    DecisionTally,
    DispositionAction,
    DispositionBatch,
    ItemFilter,
    ItemPage,
    ItemState,
    RetentionAssignment,
    SweepResult,
)
from records.retention.object_locks import ObjectLocks
from records.retention.policy import RetentionPolicy
from records.retention.review import ReviewDecisionIn, ReviewItem, ReviewList
from records.retention.schedules import RetentionSchedules
from records.roles import Principal, Role

log = logging.getLogger("records.retention")
# Who decides items of schedules without review stages (the batch decisions route admits the same).
RETENTION_DECIDERS = frozenset({Role.archivist, Role.admin})


@dataclass(frozen=True)
class PlannedDecisions:
    """A batch's decisions once checked: the items and retention assignments they change."""

    batch_id: str
    items: list[BatchItem]
    assignments: list[RetentionAssignment]


class Disposition:
    """Sweeps, batches, decisions and reviews."""

    def __init__(self, repo: RetentionRepository, record_repo: RecordRepository, schedules: RetentionSchedules,
                 locks: ObjectLocks, policy: RetentionPolicy, evidence: EvidenceRegister | None) -> None:
        self._repo = repo
        self._record_repo = record_repo
        self._schedules = schedules
        self._locks = locks
        self.policy = policy
        self._evidence = evidence


    # --- sweeps ----------------------------------------------------------------------------

    async def sweep(self, actor: Principal, as_of: datetime | None = None, forecast_limit: int = 1000,
                    reconcile: bool = False, progress: Callable[[int], None] | None = None) -> SweepResult:
        """Gather due, unheld records into batches (at most ``batch_max_items`` each). A future
        ``as_of`` only forecasts: nothing is stored."""
        now = utcnow()
        as_of = as_utc(as_of) if as_of else now
        forecast = as_of > now
        assigned = await self._schedules.reconcile() if reconcile and not forecast else 0
        items: list[BatchItem] = []
        batches: list[DispositionBatch] = []
        due = held = 0
        truncated = False
        floors = await self._schedules.floors(active_only=True)
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
            await self._locks.lock(stored, until)
            await self._repo.put_assignment(a.model_copy(update={
                "retain_until": until, "history": [*a.history, a.basis],
                "basis": f"{a.basis}; raised to {until.date().isoformat()} by the legal minimum: {floor.describe()}"}),
                change_events(f"record:{a.record_id}", f"floor:{floor.id}", action="retention.floor.apply"))
        return True

    async def _store_batch(self, items: list[BatchItem], as_of: datetime, actor: Principal) -> DispositionBatch:
        batch = DispositionBatch(id=str(uuid.uuid4()), status=BatchStatus.open, as_of=as_of, created_at=utcnow(),
                                 created_by=actor.name, items=items, two_person_rule=self.policy.two_person_rule)
        await self._repo.add_batch(batch, change_events(f"batch:{batch.id}", action="retention.batch.create"))
        return batch

    # --- batches and decisions -------------------------------------------------------------

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

    async def batch_items(self, batch_id: str, filters: ItemFilter, offset: int, limit: int) -> ItemPage:
        """One page of a batch's items matching ``filters``, and how many match: from the store,
        whatever the batch's size (the console's batch page)."""
        return await self._repo.batch_items(batch_id, filters, offset, limit)

    async def decision_tally(self, batch: DispositionBatch) -> DecisionTally:
        """How ``batch``'s items stand under its two-person rule, counted by the store."""
        assert batch.id is not None
        return await self._repo.decision_tally(batch.id, self.approvals_needed(batch))

    async def waiting_count(self, batch: DispositionBatch, who: Principal) -> int:
        """How many items of ``batch`` ``waiting_for`` would list, counted by the store."""
        assert batch.id is not None
        return (await self._repo.waiting(who, who.role in RETENTION_DECIDERS, batch.id, 0)).total

    def approvals_needed(self, batch: DispositionBatch) -> int:
        """How many different approvers an item of ``batch`` without review stages needs (the
        two-person rule, fixed on the batch when the sweep made it)."""
        return states.approvals_needed(batch.two_person_rule)

    def short_of_approvals(self, batch: DispositionBatch) -> list[BatchItem]:
        """Approved items still waiting for another approver (staged items count their approvals
        stage by stage, so they are never short here)."""
        needed = self.approvals_needed(batch)
        return [i for i in batch.items if states.short_of_approvals(i, needed)]

    def waiting_for(self, batch: DispositionBatch, who: Principal) -> list[BatchItem]:
        """Items of ``batch`` waiting for a decision ``who`` may give now (``states.waits_for``):
        undecided items of a stage ``who`` reviews (the retention managers', for items without
        stages) that ``who`` has not approved yet, and approved items still short of an approver
        other than ``who``."""
        needed, unstaged = self.approvals_needed(batch), who.role in RETENTION_DECIDERS
        return [i for i in batch.items if states.waits_for(i, who, needed, unstaged)]

    async def decide(self, batch_id: str, data: DecisionsIn, actor: Principal) -> DispositionBatch:
        return await self._store_decisions(await self._planned_decisions(batch_id, data, actor))

    async def _planned_decisions(self, batch_id: str, data: DecisionsIn, actor: Principal) -> PlannedDecisions:
        """Every check of ``data`` against the batch, and the items and assignments it changes;
        nothing stored yet (``review`` checks every batch before it stores any)."""
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
            bound = await self._schedules.binding_floor(stored) if stored is not None else None
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
        return PlannedDecisions(batch_id, changed_items, assignments)

    async def _store_decisions(self, plan: PlannedDecisions) -> DispositionBatch:
        batch_id, changed_items, assignments = plan.batch_id, plan.items, plan.assignments
        for a in assignments:  # kept longer (extended, or rejected until a review): locked longer too
            stored = await self._record_repo.get(a.record_id)
            if stored is not None:
                await self._locks.lock(stored, a.retain_until)
        targets = [f"batch:{batch_id}", *(f"record:{i.record_id}" for i in changed_items[:1000])]
        events = change_events(*targets)
        if changed_items and not await self._repo.decide(batch_id, changed_items, assignments, events):
            raise BatchNotOpen(f"batch {batch_id} started executing meanwhile")
        committed_request_event(events if changed_items else [])
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
                                             change_events(f"batch:{batch_id}", action="retention.batch.done")):
                batch = await self.batch(batch_id)
                record_evidence(self._evidence, batch, None)
        return batch

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
        events = change_events(f"batch:{batch_id}")
        if not await self._repo.update_batch(started, BatchStatus.open.value, events):
            raise BatchNotOpen(f"batch {batch_id} changed meanwhile")
        committed_request_event(events)
        return await self.batch(batch_id)

    # --- reviews ---------------------------------------------------------------------------

    async def reviews(self, who: Principal, limit: int = 1000) -> ReviewList:
        """The items of open batches waiting for a decision ``who`` may give (``waiting_for``:
        undecided items of a stage ``who`` reviews, items of schedules without stages waiting
        for the retention managers, approved ones still short of a second approver other than
        ``who``), the earliest due first, found by the store; each says its stage, the approvals
        that stage needs, who approved it so far and what earlier stages decided."""
        waiting = await self._repo.waiting(who, who.role in RETENTION_DECIDERS, None, limit)
        # The batches' own fields (their two-person rule), without their items.
        headers = {b.id: b for b in await self._repo.batches(BatchStatus.open.value, 1000)} if waiting.items else {}
        found: list[ReviewItem] = []
        for batch_id, i in waiting.items:
            if batch_id not in headers:  # open, but older than the newest 1000 open batches
                headers[batch_id] = await self.batch_progress(batch_id)
            if i.stages:
                stage = i.stages[i.stage]
                name, needed, of = stage.name, stage.approvals, len(i.stages)
            else:
                name, needed, of = "retention managers", self.approvals_needed(headers[batch_id]), 1
            found.append(ReviewItem(batch_id=batch_id, record_id=i.record_id, reference=i.reference, kind=i.kind,
                                    schedule=i.schedule.name, retain_until=i.retain_until, action=i.action.value,
                                    stage=i.stage + 1, stages=of, stage_name=name, approvals_needed=needed,
                                    approved_by=i.stage_approvers if i.stages else i.approvers, history=i.reviews))
        return ReviewList(items=found, truncated=waiting.total > limit)

    async def review(self, who: Principal, data: ReviewDecisionIn) -> BatchList:
        """One decision and one reason for many items, of one batch or several: every batch's
        decisions are checked before any is stored, so a refusal in one batch leaves the others
        undecided too (a reviewer who is told "refused" finds nothing half-decided)."""
        by_batch: dict[str, list[DecisionIn]] = {}
        for target in data.items:
            by_batch.setdefault(target.batch_id, []).append(DecisionIn(
                record_id=target.record_id, decision=Decision(data.decision), reason=data.reason, until=data.until))
        plans = [await self._planned_decisions(batch_id, DecisionsIn(decisions=decisions), who)
                 for batch_id, decisions in by_batch.items()]
        return BatchList(items=[await self._store_decisions(plan) for plan in plans])
