"""Legal holds: placing one on named records or a saved query, releasing it, what it covers, the
object legal holds that follow it on a locking blob store, and the gate every destruction of a data
key passes, where a hold wins unless the destruction was decided first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet  # the abstract set type, not a built-in set

from records.attachments import blob_key
from records.clock import utcnow
from records.crypto.masking import mask_account, mask_phone
from records.errors import RecordNotFound
from records.models import RecordQuery
from records.ports import RecordRepository, RetentionRepository
from records.retention.changes import PAGE, change_events, committed_request_event
from records.retention.errors import (
    HoldNotFound,
    HoldReleased,
    RecordOnHold,
)
from records.retention.models import (
    HeldRecord,
    HoldCoverage,
    HoldIn,
    HoldQuery,
    HoldRelease,
    LegalHold,
)
from records.retention.object_locks import ObjectLocks
from records.roles import Principal
from records.services.records import RecordService
from records.stored import StoredRecord

log = logging.getLogger("records.retention")


class LegalHolds:
    """Holds, their coverage and the destruction gate."""

    def __init__(self, repo: RetentionRepository, records: RecordService, record_repo: RecordRepository,
                 locks: ObjectLocks) -> None:
        self._repo = repo
        self._records = records  # looks records up by personal identifier, as a search does
        self._record_repo = record_repo
        self._locks = locks
        # Placing a hold and the last hold check before a key is destroyed exclude each other, so a
        # hold placed at any moment either stops the destruction or comes after it.
        self._hold_gate = asyncio.Lock()


    # --- legal holds -----------------------------------------------------------------------

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
        events = change_events(f"hold:{hold.id}", *(f"record:{r}" for r in ids[:1000]))
        async with self._hold_gate:
            decided = await self._repo.add_hold(hold, events)
        committed_request_event(events)
        # Records whose destruction was decided before this hold committed (finishing now, or
        # finished between the check above and the hold): the hold came second, and says so.
        hold = hold.with_decided(decided)
        await self.apply_object_holds(hold, True, skip=set(decided))
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
        events = change_events(f"hold:{hold_id}")
        if not await self._repo.release_hold(released, events):
            raise HoldReleased(f"legal hold {hold_id} was released meanwhile")
        committed_request_event(events)
        await self.apply_object_holds(released, False)
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

    async def apply_object_holds(self, hold: LegalHold, on: bool, skip: AbstractSet[str] = frozenset()) -> None:
        """Object legal holds follow the hold (placed: on; released: off where no other active hold
        covers the record). The hold itself is committed first and blocks destruction on its own, so
        a storage failure here is logged, not raised."""
        if not self._locks.enabled:
            return
        try:
            async for stored in self._held_records(hold):
                if stored.destroyed_at is None and stored.id not in skip and (on or not await self._repo.holds_on(stored.id)):
                    await self._locks.legal_hold(stored, on)
        except Exception:  # the hold is committed and stops destruction on its own
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

    # --- events ----------------------------------------------------------------------------

    def _look_up(self, actor: Principal, index: str, value: str) -> str:
        """A lookup by personal identifier: the same privilege, event and rate limit as a search."""
        return self._records.look_up(actor, index, value)
