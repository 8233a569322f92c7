"""The disposition state machine on its own (records/retention/states.py): what a claim decides,
what a hold stops and what it cannot, and which state may follow which. The contract suite
proves each adapter stores these decisions atomically."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from records.models import Kind
from records.retention import states
from records.retention.models import BatchItem, DispositionAction, ItemState, RetentionAssignment, ScheduleRef
from records.retention.states import KeyState

AT = datetime(2030, 1, 1, tzinfo=UTC)
SCHEDULE = ScheduleRef(id="s1", version=1, name="complaints")


def item(state: ItemState = ItemState.waiting) -> BatchItem:
    return BatchItem(record_id="r1", reference="CP-2026-000001", kind=Kind.complaint, action=DispositionAction.destroy,
                     retain_until=AT, schedule=SCHEDULE, state=state)


def assignment(**changes: object) -> RetentionAssignment:
    base = RetentionAssignment(record_id="r1", reference="CP-2026-000001", kind=Kind.complaint, schedule=SCHEDULE,
                               retain_until=AT, action=DispositionAction.destroy, basis="3 years", batch_id="b1")
    return base.model_copy(update=changes)


def test_a_waiting_item_without_holds_is_claimed_for_execution() -> None:
    claim = states.claim(item(), [], assignment())
    assert claim.outcome == states.CLAIMED
    assert claim.item is not None and claim.item.state is ItemState.executing
    assert claim.assignment is None and not claim.write_events


def test_a_hold_wins_a_claim_and_the_record_leaves_the_batch_kept() -> None:
    claim = states.claim(item(), ["h1"], assignment())
    assert claim.outcome == "held"
    assert claim.item is not None and claim.item.state is ItemState.held
    assert claim.assignment is not None and claim.assignment.batch_id is None
    assert claim.write_events  # the block is an audit event of its own


def test_an_executing_item_is_claimed_again_and_a_finished_one_answers_its_state() -> None:
    resumed = states.claim(item(ItemState.executing), ["h1"], assignment())  # a hold since came second
    assert (resumed.outcome, resumed.item, resumed.assignment) == (states.CLAIMED, None, None)
    for final in states.FINAL_STATES:
        done = states.claim(item(final), [], assignment())
        assert (done.outcome, done.item) == (final.value, None)


def test_a_hold_stops_a_destruction_only_before_its_point_of_no_return() -> None:
    assert states.decide_destruction(KeyState.live, ["h1"]) == states.DestructionDecision(["h1"], doom=False)
    assert states.decide_destruction(KeyState.live, []) == states.DestructionDecision([], doom=True)
    for decided in (KeyState.doomed, KeyState.gone):
        assert states.decide_destruction(decided, ["h1"]) == states.DestructionDecision([], doom=False)


def test_a_hold_names_the_records_whose_destruction_came_first() -> None:
    keys = {"a": KeyState.live, "b": KeyState.doomed}  # "c" has no key: destroyed
    assert states.decided_before_hold(["a", "b", "c", "b"], keys, ["d", "b"]) == ["b", "c", "d"]


def test_final_states_have_no_successor_and_a_bad_move_is_refused() -> None:
    assert states.FINAL_STATES == {ItemState.disposed, ItemState.kept, ItemState.held}
    assert states.moved(item(), ItemState.kept).state is ItemState.kept
    with pytest.raises(ValueError):
        states.moved(item(ItemState.disposed), ItemState.executing)
    with pytest.raises(ValueError):
        states.released(item(ItemState.disposed))


def test_a_disposal_closes_the_assignment_once() -> None:
    later = datetime(2031, 1, 1, tzinfo=UTC)
    closed = states.closed(assignment(), AT)
    assert closed is not None and closed.disposed_at == AT
    assert states.closed(closed, later) is None  # the first disposal stays
    assert states.closed(None, AT) is None
    assert states.awaiting_disposition(assignment(batch_id=None))
    assert not states.awaiting_disposition(assignment())  # in a batch already
