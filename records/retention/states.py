"""The disposition state machine, decided in one place: which state of a batch item may follow
which, what a legal hold blocks, and when a destruction has passed its point of no return.

Pure functions over the retention models. The disposition service and both storage adapters call
them; an adapter only loads what they need and stores what they decide, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from records.errors import Conflict
from records.retention.models import BatchItem, Decision, ItemState, RetentionAssignment
from records.roles import Principal

# Which state may follow which. A waiting item is claimed by an execution (or held, when a hold
# covers its record at its turn) or kept by a decision that rejects or extends it; an executing
# item ends disposed, or is released kept (not due, bound by a legal minimum) or held (a hold won
# at the last check). disposed, kept and held are final.
NEXT_STATES: dict[ItemState, frozenset[ItemState]] = {
    ItemState.waiting: frozenset({ItemState.executing, ItemState.held, ItemState.kept}),
    ItemState.executing: frozenset({ItemState.disposed, ItemState.kept, ItemState.held}),
    ItemState.disposed: frozenset(),
    ItemState.kept: frozenset(),
    ItemState.held: frozenset(),
}
FINAL_STATES = frozenset(state for state, following in NEXT_STATES.items() if not following)
# What a release leaves an executing item as (the destruction did not happen).
RELEASED_STATES = NEXT_STATES[ItemState.executing] - {ItemState.disposed}


def may_follow(current: ItemState, following: ItemState) -> bool:
    return following in NEXT_STATES[current]


def moved(item: BatchItem, following: ItemState, **changes: object) -> BatchItem:
    """``item`` in state ``following`` (with ``changes``); ``ValueError`` when that state cannot
    follow the item's: a bug in the caller, never a client's mistake."""
    if not may_follow(item.state, following):
        raise ValueError(f"a {item.state.value} batch item cannot become {following.value}")
    return item.model_copy(update={**changes, "state": following})


def not_in_batch(batch_id: str, record_id: str) -> Conflict:
    return Conflict(f"record {record_id} is not in batch {batch_id}")


# --- claiming an item for execution ------------------------------------------------------------

CLAIMED = "claimed"


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming an item decided: ``outcome`` is ``claimed`` (execute it), ``held``, or the
    state of an item already finished. ``item`` and ``assignment`` are what to store (None:
    unchanged); ``write_events``: the hold's blocking is an event of its own."""

    outcome: str
    item: BatchItem | None = None
    assignment: RetentionAssignment | None = None
    write_events: bool = False


def claim(item: BatchItem, holds: list[str], assignment: RetentionAssignment | None) -> Claim:
    """Claim a batch item for execution, given the active holds on its record and its assignment.

    An executing item is claimed again (a run that stopped half-way carries on with it); a finished
    one answers its state. A waiting item under a hold is held: it stays undone and its record
    leaves the batch, kept. Otherwise it executes."""
    if item.state is ItemState.executing:
        return Claim(CLAIMED)
    if item.state is not ItemState.waiting:
        return Claim(item.state.value)
    if holds:
        return Claim(ItemState.held.value, moved(item, ItemState.held),
                     assignment.model_copy(update={"batch_id": None}) if assignment is not None else None,
                     write_events=True)
    return Claim(CLAIMED, moved(item, ItemState.executing))


# --- the point of no return of a destruction ------------------------------------------------------


class KeyState(StrEnum):
    """A record's data key as a destruction sees it."""

    live = "live"
    doomed = "doomed"  # its destruction was decided: it is being (or was) destroyed
    gone = "gone"  # destroyed, or never stored


def key_state(present: bool, doomed_at: object | None) -> KeyState:
    if not present:
        return KeyState.gone
    return KeyState.live if doomed_at is None else KeyState.doomed


@dataclass(frozen=True, slots=True)
class DestructionDecision:
    """``refused_by``: the holds that stop the destruction ([] when it may go on); ``doom``: mark
    the key doomed now (the point of no return)."""

    refused_by: list[str]
    doom: bool


def decide_destruction(key: KeyState, holds: list[str]) -> DestructionDecision:
    """A destruction may go on unless an active hold covers the record. Once decided (the key
    doomed, or already gone) it stays decided: a hold placed since came second and does not stop
    it (a resumed run carries on)."""
    if key is not KeyState.live:
        return DestructionDecision([], doom=False)
    return DestructionDecision(holds, doom=not holds)


def decided_before_hold(record_ids: list[str], keys: dict[str, KeyState], doomed_matching: list[str]) -> list[str]:
    """The records a new hold cannot stop because their destruction was decided first: those it
    names whose key is doomed or gone (``keys`` lacks a record whose key is gone), then those its
    saved query matches whose key is doomed; each once, in that order."""
    decided = [rid for rid in dict.fromkeys(record_ids) if keys.get(rid, KeyState.gone) is not KeyState.live]
    return decided + [rid for rid in doomed_matching if rid not in decided]


# --- assignments ----------------------------------------------------------------------------------


def awaiting_disposition(assignment: RetentionAssignment) -> bool:
    """Due by date some day, not gathered into a batch, not disposed of: what a sweep may gather."""
    return assignment.retain_until is not None and assignment.batch_id is None and assignment.disposed_at is None


def closed(assignment: RetentionAssignment | None, destroyed_at: datetime) -> RetentionAssignment | None:
    """The assignment of a record just disposed of, closed at ``destroyed_at``; None when there is
    nothing to store (no assignment, or one closed already: the first disposal stays)."""
    if assignment is None or assignment.disposed_at is not None:
        return None
    return assignment.model_copy(update={"disposed_at": destroyed_at})


def released(item: BatchItem) -> BatchItem:
    """An executing item stored as not disposed of after all (kept or held). Its destruction
    decision is void with it: the adapter clears the key's doom, so holds stop the record again
    and later holds are not told it is being destroyed."""
    if item.state not in RELEASED_STATES:
        raise ValueError(f"an executing batch item is released as kept or held, not {item.state.value}")
    return item


# --- who an item waits for ---------------------------------------------------------------------
# The rule ``Disposition.waiting_for`` applies and the stores' ``waiting`` queries (and
# ``decision_tally``) answer without reading every item: the adapters keep the parts of it that
# vary per item (``reviewers_now``, ``approved_now``) beside each stored item.

def approvals_needed(two_person_rule: bool) -> int:
    """How many different approvers an item without review stages needs (the two-person rule)."""
    return 2 if two_person_rule else 1


def reviewers_now(item: BatchItem) -> list[str]:
    """Who may decide a pending item with review stages now, as ``role:<role>`` and ``user:<name>``
    (its current stage's reviewers); [] for any other item."""
    if not item.stages or item.decision is not Decision.pending:
        return []
    stage = item.stages[item.stage]
    return [*(f"role:{r.value}" for r in stage.roles), *(f"user:{u}" for u in stage.users)]


def approved_now(item: BatchItem) -> list[str]:
    """Who approved the step an item waits on: its current stage, or the item (without stages)."""
    return item.stage_approvers if item.stages else item.approvers


def short_of_approvals(item: BatchItem, needed: int) -> bool:
    """Approved, but still waiting for another approver (items with stages count stage by stage)."""
    return item.decision is Decision.approve and not item.stages and len(item.approvers) < needed


def waits_for(item: BatchItem, who: Principal, needed: int, decides_unstaged: bool) -> bool:
    """Whether ``item`` waits for a decision ``who`` may give now: undecided at a stage ``who``
    reviews and has not approved yet, or (without stages, ``who`` a retention manager:
    ``decides_unstaged``) undecided, or approved and short of an approver other than ``who``."""
    if item.stages:
        return (item.decision is Decision.pending and item.stages[item.stage].admits(who)
                and who.name not in item.stage_approvers)
    return decides_unstaged and (item.decision is Decision.pending
                                 or (short_of_approvals(item, needed) and who.name not in item.approvers))
