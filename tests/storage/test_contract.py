"""The storage contract every adapter must honour, parametrised over the adapters that exist.

``embedded`` is SQLite with blobs on local disk. The production adapters run against real
servers: ``mongo-nx`` (beanie on nx-27017, started by the tests), ``s3-seaweedfs`` (minio on
SeaweedFS, started by the tests), ``mongo-s3`` (both together), and ``mongo-real`` / ``s3-real``
on the servers named by ``RECORDS_TEST_MONGODB_URL`` / ``RECORDS_TEST_S3_ENDPOINT`` (skipped,
saying so, without them). ``-k "mongo or s3"`` selects every production run.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from records.audit.events import AuditEventDraft, Outcome
from records.crypto.envelope import WrappedDataKey
from records.errors import Conflict, NotFound, TokenNameRetired, TokenNameTaken
from records.models import Kind, RecordQuery
from records.ports import ApiToken, Storage
from records.roles import Role
from tests.helpers.storages import STORAGES, Backends, chunks, key_of, make_record


@pytest.fixture(params=sorted(STORAGES))
def open_storage(request, tmp_path) -> Callable[[], Storage]:
    backends = Backends(tmp_path, request)
    return lambda: STORAGES[request.param](backends)


def run(fn):
    return anyio.run(fn)


def test_records_round_trip_and_reopen(open_storage):
    async def main():
        storage = open_storage()
        record = make_record(1, classification=["content:network"])
        await storage.records.add(record, key_of(record))
        assert await storage.records.get(record.id) == record
        assert await storage.records.get("missing") is None
        with pytest.raises(Conflict):
            await storage.records.add(record, key_of(record))
        await storage.close()
        reopened = open_storage()
        assert await reopened.records.get(record.id) == record
        await reopened.close()

    run(main)


def test_replace_is_compare_and_swap(open_storage):
    async def main():
        storage = open_storage()
        record = make_record(1)
        await storage.records.add(record, key_of(record))
        changed = record.model_copy(update={"version": 2, "status": "new", "classification": ["x:y"]})
        assert await storage.records.replace(changed, expected_version=1)
        assert not await storage.records.replace(record.model_copy(update={"version": 2}), expected_version=1)
        stored = await storage.records.get(record.id)
        assert stored.status == "new" and stored.version == 2
        assert [r.id for r in await storage.records.find(RecordQuery(classification="x:y"))] == [record.id]
        await storage.close()

    run(main)


def test_replace_moves_a_record_between_classification_codes(open_storage):
    async def main():
        storage = open_storage()
        record = make_record(1, classification=["a:one", "b:two"])
        other = make_record(2, classification=["a:one"])
        for r in (record, other):
            await storage.records.add(r, key_of(r))
        changed = record.model_copy(update={"version": 2, "classification": ["b:two", "c:three"]})
        assert await storage.records.replace(changed, expected_version=1)

        async def ids(code: str) -> list[str]:
            return sorted(r.id for r in await storage.records.find(RecordQuery(classification=code)))

        assert await ids("a:one") == [other.id]  # dropped from the record, kept on the other
        assert await ids("b:two") == [record.id]
        assert await ids("c:three") == [record.id]
        await storage.close()

    run(main)


def test_find_orders_newest_first_with_ties_broken_by_id(open_storage):
    async def main():
        storage = open_storage()
        same = datetime(2026, 5, 1, tzinfo=UTC)
        for n in (3, 1, 2):
            await storage.records.add(make_record(n, created=same), key_of(make_record(n, created=same)))
        await storage.records.add(make_record(9), key_of(make_record(9)))
        found = await storage.records.find(RecordQuery(limit=10))
        assert [r.id for r in found] == ["rec-0009", "rec-0003", "rec-0002", "rec-0001"]
        after = await storage.records.find(RecordQuery(limit=10, after=(same, "rec-0003")))
        assert [r.id for r in after] == ["rec-0002", "rec-0001"]
        limited = await storage.records.find(RecordQuery(limit=2, kind=Kind.complaint, owner="alice"))
        assert len(limited) == 2
        await storage.close()

    run(main)


def test_a_received_range_finds_exactly_the_files_received_in_it_across_month_edges(open_storage):
    """MongoDB reads a received range through the months it covers: the first and last instants
    of each month, and the instants either side of the range, must fall where the range says."""
    async def main():
        storage = open_storage()
        edges = [datetime(2026, 4, 30, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
                 datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC),
                 datetime(2027, 1, 15, tzinfo=UTC)]
        for n, at in enumerate(edges):
            record = make_record(n, created=at, classification=["fault:network"] if n % 2 else ["billing"])
            await storage.records.add(record, key_of(record))
        may_to_june = RecordQuery(limit=10, received_from=edges[1], received_to=edges[3])
        assert [r.id for r in await storage.records.find(may_to_june)] == ["rec-0002", "rec-0001"]
        network = may_to_june.model_copy(update={"classification": "fault:network"})
        assert [r.id for r in await storage.records.find(network)] == ["rec-0001"]
        complaints = may_to_june.model_copy(update={"kind": Kind.complaint, "received_to": edges[2]})
        assert [r.id for r in await storage.records.find(complaints)] == ["rec-0001"]  # the upper bound is exclusive
        across_the_year = RecordQuery(limit=10, received_from=edges[3], received_to=datetime(2027, 2, 1, tzinfo=UTC))
        assert [r.id for r in await storage.records.find(across_the_year)] == ["rec-0004", "rec-0003"]
        decade = RecordQuery(limit=10, received_from=datetime(2020, 1, 1, tzinfo=UTC), received_to=datetime(2036, 1, 1, tzinfo=UTC))
        assert len(await storage.records.find(decade)) == 5  # too many months to list: received_at alone
        assert await storage.records.find(RecordQuery(limit=10, received_from=edges[3], received_to=edges[3])) == []
        await storage.close()

    run(main)


def test_sequences_are_atomic_and_independent(open_storage):
    async def main():
        storage = open_storage()
        results: list[int] = []

        async def bump():
            results.append(await storage.records.next_sequence("reference:complaint:2026"))

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(bump)
        assert sorted(results) == list(range(1, 51))
        assert await storage.records.next_sequence("reference:emergency:2026") == 1
        await storage.close()

    run(main)


def test_tokens(open_storage):
    async def main():
        storage = open_storage()
        now = datetime.now(UTC)
        token = ApiToken(name="alice", role=Role.agent, secret_hash="h1", created_at=now)
        await storage.tokens.add(token)
        with pytest.raises(TokenNameTaken):
            await storage.tokens.add(ApiToken(name="alice", role=Role.admin, secret_hash="h2", created_at=now))
        assert (await storage.tokens.by_secret_hash("h1")).role is Role.agent
        assert await storage.tokens.revoke("alice", now)
        assert not await storage.tokens.revoke("alice", now)
        assert await storage.tokens.by_secret_hash("h1") is None
        with pytest.raises(TokenNameRetired):  # a name is one holder for the installation's life
            await storage.tokens.add(ApiToken(name="alice", role=Role.admin, secret_hash="h2", created_at=now))
        await storage.tokens.add(ApiToken(name="alice2", role=Role.admin, secret_hash="h2", created_at=now))
        assert [t.role for t in await storage.tokens.list()] == [Role.admin]
        assert len(await storage.tokens.list(include_revoked=True)) == 2
        await storage.close()

    run(main)


def test_blobs_round_trip_and_failed_writes_leave_nothing(open_storage):
    async def main():
        storage = open_storage()
        data = bytes(range(256)) * 1000
        stored = await storage.blobs.put("attachments/r1/a1", chunks(data))
        assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
        assert b"".join([c async for c in await storage.blobs.open("attachments/r1/a1")]) == data
        assert await storage.blobs.exists("attachments/r1/a1")

        async def failing() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError):
            await storage.blobs.put("attachments/r1/a2", failing())
        assert not await storage.blobs.exists("attachments/r1/a2")
        with pytest.raises(NotFound):
            await storage.blobs.open("attachments/r1/a2")
        await storage.blobs.delete("attachments/r1/a1")
        await storage.blobs.delete("attachments/r1/a1")  # idempotent
        assert not await storage.blobs.exists("attachments/r1/a1")
        with pytest.raises(ValueError):
            await storage.blobs.exists("../escape")
        await storage.close()

    run(main)


def test_blind_index_lookups(open_storage):
    async def main():
        storage = open_storage()
        for n in range(1, 5):
            await storage.records.add(make_record(n), key_of(make_record(n)))
        by_phone = await storage.records.find(RecordQuery(customer_phone_index="phone-1", limit=10))
        assert [r.id for r in by_phone] == ["rec-0003", "rec-0001"]
        by_account = await storage.records.find(RecordQuery(customer_account_index="account-2", limit=10))
        assert [r.id for r in by_account] == ["rec-0002"]
        await storage.close()

    run(main)


def test_data_keys_are_stored_with_their_record_and_can_be_destroyed(open_storage):
    async def main():
        storage = open_storage()
        records = [make_record(n) for n in range(1, 4)]
        for r in records:
            await storage.records.add(r, key_of(r))
        assert (await storage.data_keys.get("rec-0001")).wrapped == b"wrapped-rec-0001"
        assert set(await storage.data_keys.get_many(["rec-0001", "rec-0003", "nope"])) == {"rec-0001", "rec-0003"}
        assert await storage.data_keys.count_by_kek() == {"kek-a": 3}
        # Rotation moves keys to another KEK, compare-and-swap on the old one.
        pending = await storage.data_keys.not_under("kek-b", limit=2)
        assert len(pending) == 2
        moved = WrappedDataKey(pending[0].record_id, 1, "kek-b", b"new", pending[0].created_at)
        assert await storage.data_keys.rewrap(moved, expected_kek_id="kek-a")
        assert not await storage.data_keys.rewrap(moved, expected_kek_id="kek-a")
        assert await storage.data_keys.count_by_kek() == {"kek-a": 2, "kek-b": 1}
        assert await storage.data_keys.destroy("rec-0002")
        assert not await storage.data_keys.destroy("rec-0002")
        assert await storage.data_keys.get("rec-0002") is None
        # A record whose key could not be stored is not stored either.
        with pytest.raises(Conflict):
            await storage.records.add(make_record(4), key_of(records[0]))
        assert await storage.records.get("rec-0004") is None
        await storage.close()

    run(main)


def test_blob_keys_are_listed_by_prefix_and_nothing_is_left_incomplete(open_storage):
    async def main():
        storage = open_storage()
        for key in ("attachments/r1/a1", "attachments/r1/a2", "attachments/r2/a1", "plugins/p.whl"):
            await storage.blobs.put(key, chunks(b"x" * 10))
        await storage.blobs.delete("attachments/r1/a2")
        assert sorted([k async for k in storage.blobs.list_keys("attachments/")]) == ["attachments/r1/a1", "attachments/r2/a1"]
        assert sorted([k async for k in storage.blobs.list_keys("attachments/r2/")]) == ["attachments/r2/a1"]
        assert [k async for k in storage.blobs.list_keys("nothing/")] == []
        assert await storage.blobs.count_incomplete() == 0
        await storage.close()

    run(main)


def test_data_key_record_ids_page_in_id_order(open_storage):
    async def main():
        storage = open_storage()
        for n in (3, 1, 4, 2):
            await storage.records.add(make_record(n), key_of(make_record(n)))
        await storage.data_keys.destroy("rec-0003")
        assert await storage.data_keys.record_ids(None, 2) == ["rec-0001", "rec-0002"]
        assert await storage.data_keys.record_ids("rec-0002", 10) == ["rec-0004"]
        await storage.close()

    run(main)


def _event(action: str) -> AuditEventDraft:
    return AuditEventDraft(at=datetime(2026, 5, 1, tzinfo=UTC), actor="admin", role="admin", action=action,
                           outcome=Outcome.allowed, targets=["plugin:x"])


def test_plugin_repository_bumps_its_generation_and_commits_events(open_storage):
    from records.errors import TrustedKeyExists
    from records.ports import InstalledPlugin, TrustedKey

    async def main():
        storage = open_storage()
        now = datetime(2026, 5, 1, tzinfo=UTC)
        assert await storage.plugins.generation() == 0
        assert await storage.plugins.list_installed() == [] and await storage.plugins.disabled_builtins() == set()
        plugin = InstalledPlugin(name="acme-sla", display_name="Acme SLA", version="1.0", filename="acme_sla-1.0.whl",
                                 sha256="ab" * 32, publisher="acme", entry_points={"records": "acme_sla"},
                                 top_level=["acme_sla"], installed_at=now, installed_by="admin", updated_at=now)
        assert await storage.plugins.save_installed(plugin, None, [_event("plugin.install")])
        assert not await storage.plugins.save_installed(plugin, None)  # it exists now: an install that raced
        later = plugin.model_copy(update={"version": "1.1", "enabled": False, "updated_at": now + timedelta(seconds=1)})
        assert await storage.plugins.save_installed(later, plugin.stamp)
        # A change based on a row read before that one changes nothing (another instance won).
        assert not await storage.plugins.save_installed(plugin.model_copy(update={"enabled": True}), plugin.stamp)
        assert [(p.version, p.enabled) for p in await storage.plugins.list_installed()] == [("1.1", False)]
        assert await storage.plugins.generation() == 2
        assert await storage.audit.size() == 1
        await storage.plugins.set_builtin_disabled("records-basic", True)
        await storage.plugins.set_builtin_disabled("records-basic", True)
        assert await storage.plugins.disabled_builtins() == {"records-basic"}
        await storage.plugins.set_builtin_disabled("records-basic", False)
        assert await storage.plugins.disabled_builtins() == set()
        key = TrustedKey(name="acme", public_key="PEM", fingerprint="f1", added_at=now, added_by="admin")
        await storage.plugins.add_trusted_key(key, [_event("plugin.trust")])
        generation = await storage.plugins.generation()
        for clash in (key.model_copy(update={"fingerprint": "f2"}), key.model_copy(update={"name": "other"})):
            with pytest.raises(TrustedKeyExists):
                await storage.plugins.add_trusted_key(clash, [_event("plugin.trust")])
        assert await storage.plugins.generation() == generation and await storage.audit.size() == 2
        assert [k.name for k in await storage.plugins.list_trusted_keys()] == ["acme"]
        assert await storage.plugins.remove_trusted_key("acme") and not await storage.plugins.remove_trusted_key("acme")
        assert not await storage.plugins.remove_installed("acme-sla", plugin.stamp, [_event("plugin.remove")])
        assert await storage.plugins.remove_installed("acme-sla", later.stamp, [_event("plugin.remove")])
        assert not await storage.plugins.remove_installed("acme-sla", later.stamp, [_event("plugin.remove")])
        assert await storage.audit.size() == 3 and await storage.plugins.list_installed() == []
        await storage.close()
        reopened = open_storage()
        assert await reopened.plugins.generation() == generation + 2
        await reopened.close()

    run(main)


def test_retention_repository_basics(open_storage):
    from records.retention.models import (
        BatchItem,
        BatchStatus,
        DispositionAction,
        DispositionBatch,
        HoldQuery,
        ItemState,
        LegalHold,
        RetentionAssignment,
        RetentionSchedule,
        ScheduleRef,
        Tombstone,
    )

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        schedule = RetentionSchedule(id="s1", version=1, name="complaints", kinds=[Kind.complaint], trigger="archived",
                                     period="P1Y", action=DispositionAction.destroy, created_at=now, created_by="admin")
        await repo.add_schedule(schedule, [_event("retention.schedule.create")])
        with pytest.raises(Conflict):
            await repo.add_schedule(schedule.model_copy(update={"id": "s2"}))
        v2 = schedule.model_copy(update={"version": 2, "period": "P2Y"})
        assert await repo.add_schedule_version(v2) and not await repo.add_schedule_version(v2)
        other = schedule.model_copy(update={"id": "s3", "name": "another"})
        await repo.add_schedule(other)
        with pytest.raises(Conflict):
            await repo.add_schedule_version(other.model_copy(update={"version": 2, "name": "complaints"}))
        assert (await repo.schedule("s1")).period == "P2Y" and (await repo.schedule("s1", 1)).period == "P1Y"
        assert await repo.schedule("nope") is None
        assert [(s.id, s.version) for s in await repo.schedules()] == [("s3", 1), ("s1", 2)]

        records = [make_record(n) for n in range(1, 6)]
        for r in records:
            archived = r.model_copy(update={"status": "archived"})
            await storage.records.add(archived, key_of(archived))
        assert await repo.unassigned_archived(None, 10) == [r.id for r in records]
        ref = ScheduleRef(id="s1", version=2, name="complaints")
        for n, r in enumerate(records):
            until = now + timedelta(days=n % 3) if n != 4 else None  # rec-0005: not due (no date)
            await repo.put_assignment(RetentionAssignment(record_id=r.id, reference=r.reference, kind=r.kind, schedule=ref,
                                                          retain_until=until, basis="test"))
        assert await repo.unassigned_archived(None, 10) == []
        assert (await repo.assignment("rec-0002")).retain_until == now + timedelta(days=1)
        due = await repo.due(now + timedelta(days=1), None, 2)
        assert [a.record_id for a in due] == ["rec-0001", "rec-0004"]
        after = (due[-1].retain_until, due[-1].record_id)
        assert [a.record_id for a in await repo.due(now + timedelta(days=1), after, 10)] == ["rec-0002"]
        assert len(await repo.due(now + timedelta(days=9), None, 10)) == 4
        assert [a.record_id for a in await repo.assignments_under("s1", "rec-0003", 10)] == ["rec-0004", "rec-0005"]

        first = await repo.record_event("contract.end", "rec-0001", now)
        assert first == now and await repo.record_event("contract.end", "rec-0001", now + timedelta(days=1)) == now
        assert await repo.event_time("contract.end", "rec-0001") == now
        assert await repo.event_time("contract.end", "rec-0002") is None

        named = LegalHold(id="h1", reason="r", case_reference="c", record_ids=["rec-0001"], placed_at=now, placed_by="admin")
        query = LegalHold(id="h2", reason="r", case_reference="c", query=HoldQuery(customer_account_index="account-2"),
                          placed_at=now + timedelta(seconds=1), placed_by="admin")
        await repo.add_hold(named)
        await repo.add_hold(query)
        assert await repo.holds_on("rec-0001") == ["h1"] and await repo.holds_on("rec-0002") == ["h2"]
        assert await repo.holds_on("rec-0003") == []
        assert [h.id for h in await repo.holds(active_only=True)] == ["h2", "h1"]
        released = named.model_copy(update={"released_at": now, "released_by": "admin", "release_reason": "done"})
        assert await repo.release_hold(released) and not await repo.release_hold(released)
        assert await repo.holds_on("rec-0001") == [] and (await repo.hold("h1")).released_at == now
        # What a page of files asks at once: each assigned record's assignment and holds, as read one by one.
        both = await repo.retention_of(["rec-0002", "rec-none", "rec-0001", "rec-0002"])
        assert list(both) == ["rec-0002", "rec-0001"] and both["rec-0002"][1] == ["h2"] and both["rec-0001"][1] == []
        assert both["rec-0002"][0] == await repo.assignment("rec-0002") and await repo.retention_of([]) == {}

        items = [BatchItem(record_id=a.record_id, reference=a.reference, kind=a.kind, action=DispositionAction.destroy,
                           retain_until=a.retain_until, schedule=ref) for a in due]
        batch = DispositionBatch(id="b1", status=BatchStatus.open, as_of=now, created_at=now, created_by="admin", items=items)
        await repo.add_batch(batch)
        with pytest.raises(Conflict):
            await repo.add_batch(batch.model_copy(update={"id": "b2"}))
        assert await repo.batch("b2") is None
        assert [a.record_id for a in await repo.due(now + timedelta(days=9), None, 10)] == ["rec-0002", "rec-0003"]
        assert (await repo.batch("b1")).progress.total == 2
        assert not await repo.update_batch(batch.model_copy(update={"status": BatchStatus.executing}), "executing")
        assert await repo.update_batch(batch.model_copy(update={"status": BatchStatus.executing}), "open")
        assert [b.id for b in await repo.batches("executing", 10)] == ["b1"] and await repo.batches("open", 10) == []
        assert await repo.claim_item("b1", "rec-0001") == "claimed"
        assert await repo.claim_item("b1", "rec-0001") == "claimed"
        tombstone = Tombstone(record_id="rec-0001", reference="CP-2026-000001", kind=Kind.complaint, received_at=now,
                              created_at=now, archived_at=now, destroyed_at=now, disposition=DispositionAction.destroy,
                              schedule=ref, retain_until=now, content_hash="00", batch_id="b1")
        done = items[0].model_copy(update={"state": ItemState.disposed})
        assert await repo.finish_item("b1", done, tombstone) and not await repo.finish_item("b1", done, tombstone)
        assert (await repo.assignment("rec-0001")).disposed_at == now
        assert not await repo.put_tombstone(tombstone)
        assert (await repo.tombstone("rec-0001")).batch_id == "b1"
        # The progress a page polls is counted by the store, without the items, and agrees with them.
        counted = await repo.batch_progress("b1")
        assert counted.items == [] and counted.status is BatchStatus.executing
        assert counted.progress == (await repo.batch("b1")).progress
        assert (counted.progress.total, counted.progress.disposed, counted.progress.processed) == (2, 1, 1)
        assert await repo.batch_progress("b2") is None
        await storage.close()

    run(main)


def test_batch_items_are_paged_filtered_and_counted_by_the_store(open_storage):
    """What the console's batch and reviews pages ask a store for, whatever the batch's size: one
    page of items by decision, kind and reference, the counts of its decisions, and the items
    waiting for one reviewer, each agreeing with the rules of records.retention.states."""
    from records.retention import states
    from records.retention.disposition import RETENTION_DECIDERS
    from records.retention.models import (
        BatchItem,
        BatchStatus,
        Decision,
        DispositionAction,
        DispositionBatch,
        ItemFilter,
        ItemState,
        RetentionAssignment,
        ScheduleRef,
    )
    from records.retention.review import ReviewStage
    from records.roles import Principal

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        ref = ScheduleRef(id="s1", version=1, name="complaints")
        stages = [ReviewStage(name="records manager", roles=[Role.archivist]),
                  ReviewStage(name="legal", roles=[Role.compliance_officer], users=["zoe"], approvals=2)]

        def item(n: int, **changes) -> BatchItem:
            return BatchItem(record_id=f"rec-{n:04d}", reference=f"{'CP' if n % 2 else 'zx'}-2026-{n:06d}",
                             kind=Kind.complaint if n % 3 else Kind.consultation, action=DispositionAction.destroy,
                             retain_until=now - timedelta(days=n % 7, seconds=n), schedule=ref, **changes)

        first = [item(n) for n in range(1, 151)] + [
            item(151, decision=Decision.approve, approvers=["ada"]),  # short of a second approver
            item(152, decision=Decision.approve, approvers=["ada", "bob"]),
            item(153, decision=Decision.reject, approvers=["ada"], reason="keep", state=ItemState.kept),
            item(154, decision=Decision.extend, approvers=["bob"], reason="keep", until=now, state=ItemState.kept),
            item(155, stages=stages),  # waits for the archivists' stage
            item(156, stages=stages, stage=1, approvers=["ada"]),  # for legal: compliance officers or zoe
            item(157, stages=stages, stage=1, approvers=["ada"], stage_approvers=["zoe"]),
            item(158, stages=stages, stage=1, decision=Decision.approve, approvers=["ada", "carl", "zoe"]),
        ]
        second = [item(201, decision=Decision.approve, approvers=["ada"]), item(202)]  # one approver is enough
        executing = [item(301)]
        batches = [DispositionBatch(id="b1", status=BatchStatus.open, as_of=now, created_at=now, created_by="ada",
                                    items=first, two_person_rule=True),
                   DispositionBatch(id="b2", status=BatchStatus.open, as_of=now, created_at=now, created_by="ada",
                                    items=second, two_person_rule=False),
                   DispositionBatch(id="b3", status=BatchStatus.executing, as_of=now, created_at=now, created_by="ada",
                                    items=executing, two_person_rule=True)]
        for batch in batches:
            for i in batch.items:
                await repo.put_assignment(RetentionAssignment(record_id=i.record_id, reference=i.reference, kind=i.kind,
                                                              schedule=ref, retain_until=i.retain_until, basis="test"))
            await repo.add_batch(batch)

        page = await repo.batch_items("b1", ItemFilter(), 100, 100)
        assert [i.record_id for i in page.items] == [i.record_id for i in first[100:]] and page.matched == 158
        assert page.items[-1] == first[-1]  # whole, as stored
        assert (await repo.batch_items("b1", ItemFilter(), 500, 100)).items == []
        for chosen in (ItemFilter(decision=Decision.pending, kind=Kind.consultation), ItemFilter(reference="ZX-2026-00001"),
                       ItemFilter(reference="cp-2026-00015", decision=Decision.approve), ItemFilter(kind=Kind.complaint)):
            expected = [i.record_id for i in first
                        if (chosen.decision is None or i.decision is chosen.decision)
                        and (chosen.kind is None or i.kind is chosen.kind)
                        and i.reference.upper().startswith((chosen.reference or "").upper())]
            found = await repo.batch_items("b1", chosen, 0, 20)
            assert found.matched == len(expected) > 0 and [i.record_id for i in found.items] == expected[:20], chosen
        for literal in ("CP_", "CP%", "C\\"):  # a reference's start, not a pattern
            assert (await repo.batch_items("b1", ItemFilter(reference=literal), 0, 10)).matched == 0

        tally = await repo.decision_tally("b1", 2)
        assert (tally.total, tally.pending, tally.short, tally.approved, tally.kept) == (158, 153, 1, 2, 2)
        assert (await repo.decision_tally("b1", 1)).short == 0 and (await repo.decision_tally("b1", 1)).approved == 3
        assert (await repo.decision_tally("b2", 1)).approved == 1

        people = [Principal("ada", Role.archivist), Principal("bob", Role.archivist), Principal("carl", Role.compliance_officer),
                  Principal("zoe", Role.supervisor), Principal("root", Role.admin), Principal("alice", Role.agent)]

        async def agrees(who: Principal) -> list[str]:
            unstaged = who.role in RETENTION_DECIDERS
            stored = {b.id: await repo.batch(b.id) for b in batches}
            expected = sorted(((b.id, i) for b in stored.values() if b.status is BatchStatus.open for i in b.items
                               if states.waits_for(i, who, states.approvals_needed(b.two_person_rule), unstaged)),
                              key=lambda f: (f[1].retain_until, f[1].reference, f[0], f[1].record_id))
            found = await repo.waiting(who, unstaged, None, 7)
            assert found.total == len(expected), who
            assert [(b, i.record_id) for b, i in found.items] == [(b, i.record_id) for b, i in expected[:7]], who
            assert found.items == expected[:7]
            in_b2 = await repo.waiting(who, unstaged, "b2", 100)
            assert [i.record_id for _, i in in_b2.items] == [i.record_id for b, i in expected if b == "b2"], who
            assert (await repo.waiting(who, unstaged, "b3", 100)).total == 0  # executing: nobody decides now
            return [i.record_id for _, i in expected]

        waits = {who.name: await agrees(who) for who in people}
        assert "rec-0151" in waits["bob"] and "rec-0151" not in waits["ada"] and "rec-0201" not in waits["bob"]
        assert "rec-0155" in waits["ada"] and "rec-0155" not in waits["carl"]
        assert sorted(waits["carl"]) == ["rec-0156", "rec-0157"] and waits["zoe"] == ["rec-0156"] and waits["alice"] == []
        assert len(waits["root"]) == 150 + 1 + 1  # the retention managers' items: undecided, and 151 short

        # A decision keeps what the store answers from in step with the item.
        decided = first[155].model_copy(update={"stage_approvers": ["carl"]})
        moved_on = first[0].model_copy(update={"decision": Decision.approve, "approvers": ["bob"]})
        assert await repo.decide("b1", [decided, moved_on], [])
        assert (await repo.decision_tally("b1", 2)).short == 2
        assert await agrees(Principal("carl", Role.compliance_officer)) == ["rec-0157"]
        assert "rec-0001" not in await agrees(Principal("bob", Role.archivist))
        assert (await repo.batch_items("b1", ItemFilter(decision=Decision.approve), 0, 10)).matched == 4
        await storage.close()

    run(main)


def test_retention_floors_are_kept_once_per_key_and_removed_once(open_storage):
    from records.retention.floors import RetentionFloor

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        floor = RetentionFloor(id="f1", key="plugin:p:Consultations", kinds=[Kind.consultation], minimum_period="P3Y",
                               origin="plugin:p", citation="SPEC §2.5", created_at=now, created_by="plugin:p")
        assert await repo.add_floor(floor, [_event("retention.floor.seed")])
        assert not await repo.add_floor(floor.model_copy(update={"id": "f2"}))  # same key: seeded once
        later = floor.model_copy(update={"id": "f3", "key": "f3", "created_at": now + timedelta(seconds=1)})
        assert await repo.add_floor(later)
        assert [f.id for f in await repo.floors()] == ["f1", "f3"]
        removed = floor.model_copy(update={"removed_at": now, "removed_by": "admin", "removal_reason": "repealed"})
        assert await repo.remove_floor(removed) and not await repo.remove_floor(removed)
        assert not await repo.add_floor(floor.model_copy(update={"id": "f4"}))  # a removed floor is not seeded again
        reopened = await repo.floors()
        assert reopened[0].removed_by == "admin" and reopened[0].citation == "SPEC §2.5" and reopened[1].active
        await storage.close()

    run(main)


def test_disposition_evidence_is_restored_whole_and_tombstones_linked(open_storage):
    from records.retention.models import (
        BatchItem,
        BatchStatus,
        Decision,
        DestructionCertificate,
        DispositionAction,
        DispositionBatch,
        ItemState,
        ScheduleRef,
        Tombstone,
    )

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        ref = ScheduleRef(id="s1", version=1, name="complaints")
        tombstone = Tombstone(record_id="rec-0001", reference="CP-2026-000001", kind=Kind.complaint, received_at=now,
                              created_at=now, archived_at=now, destroyed_at=now, disposition=DispositionAction.destroy,
                              schedule=ref, retain_until=now, content_hash="00", batch_id="b1")
        assert await repo.put_tombstone(tombstone)
        assert [t.record_id for t in await repo.unlinked_tombstones(10)] == ["rec-0001"]
        item = BatchItem(record_id="rec-0001", reference="CP-2026-000001", kind=Kind.complaint,
                         action=DispositionAction.destroy, retain_until=now, schedule=ref, decision=Decision.approve,
                         approvers=["ada"], state=ItemState.disposed, disposed_at=now, content_hash="00")
        batch = DispositionBatch(id="b1", status=BatchStatus.done, as_of=now, created_at=now, created_by="ada",
                                 items=[item], certificate_id="c1", finished_at=now)
        certificate = DestructionCertificate(id="c1", batch_id="b1", issued_at=now, executor="ada", approvers=["ada"],
                                             started_at=now, finished_at=now, items=[], audit_checkpoint={}, key_id="k",
                                             public_key="pem", signature="sig")
        assert await repo.restore_evidence(batch, certificate)
        assert not await repo.restore_evidence(batch, certificate)  # nothing left to bring back
        assert await repo.certificate_ids() == ["c1"] and (await repo.certificate("c1")).executor == "ada"
        back = await repo.batch("b1")
        assert back.status is BatchStatus.done and back.items[0].approvers == ["ada"] and back.certificate_id == "c1"
        assert (await repo.tombstone("rec-0001")).certificate_id == "c1" and await repo.unlinked_tombstones(10) == []
        await storage.close()

    run(main)


def test_audit_log_orders_by_number_past_a_digit_boundary(open_storage):
    """9 < 10 < 54: some wire-compatible servers order an integer `_id` as text, which once made the
    latest checkpoint look older than a published one and stopped every seal."""
    from records.audit.events import AuditEventDraft, Outcome
    from records.audit.log import Checkpoint

    async def main():
        storage = open_storage()
        drafts = [AuditEventDraft(at=datetime(2026, 5, 1, tzinfo=UTC), actor=f"user{n}", action="record.read",
                                  outcome=Outcome.allowed) for n in range(12)]
        await storage.audit.append(drafts)
        assert [e.seq for e in await storage.audit.entries(8, 12)] == [8, 9, 10, 11]
        for size in (9, 11, 2):
            await storage.audit.seal([], Checkpoint(tree_size=size, root_hash="00" * 32, timestamp="2026-05-01T00:00:00Z",
                                                    key_id="k", signature="s"))
        assert (await storage.audit.latest_checkpoint()).tree_size == 11
        assert [c.tree_size for c in await storage.audit.checkpoints()] == [2, 9, 11]
        await storage.close()

    run(main)


def test_a_destruction_decision_and_a_hold_are_serialised(open_storage):
    """Checking the holds and dooming the key are one transaction with every hold placement: a hold
    committed first stops the destruction; one committed after is told the destruction was decided."""
    from records.retention.models import HoldQuery, LegalHold

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        for n in (1, 2, 3):
            record = make_record(n)
            await storage.records.add(record, key_of(record))
        first = LegalHold(id="h1", reason="r", case_reference="c", record_ids=["rec-0001"], placed_at=now, placed_by="a")
        assert await repo.add_hold(first) == []  # nothing decided yet
        assert await repo.decide_destruction("rec-0001") == ["h1"]  # the hold came first: it wins
        assert await repo.decide_destruction("rec-0002") == []  # no hold: decided, key doomed
        by_query = LegalHold(id="h2", reason="r", case_reference="c", record_ids=["rec-0001", "rec-0002", "rec-0003"],
                             query=HoldQuery(customer_phone_index="phone-0"), placed_at=now, placed_by="a")
        assert await repo.add_hold(by_query) == ["rec-0002"]  # came second: told so
        assert (await repo.hold("h2")).already_disposed == ["rec-0002"]  # and it is stored so
        assert await repo.holds_on("rec-0002") == ["h2"]
        assert await repo.decide_destruction("rec-0002") == []  # a resumed run: the decision stands
        assert await repo.decide_destruction("rec-0003") == ["h2"]
        assert (await storage.data_keys.get("rec-0002")) is not None  # doomed is not destroyed
        await storage.data_keys.destroy("rec-0002")
        late = LegalHold(id="h3", reason="r", case_reference="c", record_ids=["rec-0002"], placed_at=now, placed_by="a")
        assert await repo.add_hold(late) == ["rec-0002"]  # its key is gone
        assert await repo.decide_destruction("rec-0002") == []  # gone is decided too

        # A hold by saved query is told about the destructions under way among the records it matches.
        for n in (5, 7):  # phone-1, as rec-0001 and rec-0003 (undecided) are
            record = make_record(n)
            await storage.records.add(record, key_of(record))
        assert await repo.decide_destruction("rec-0005") == []
        by_phone = LegalHold(id="h4", reason="r", case_reference="c", query=HoldQuery(customer_phone_index="phone-1"),
                             placed_at=now, placed_by="a")
        assert await repo.add_hold(by_phone) == ["rec-0005"]
        assert (await repo.hold("h4")).already_disposed == ["rec-0005"]
        await storage.close()

    run(main)


def test_a_kept_item_voids_its_destruction_decision(open_storage):
    """A resumed run that keeps an item after all (not due any more) clears the doomed mark, so holds
    stop that record again instead of being skipped as "came second" forever."""
    from records.retention.models import (
        BatchItem,
        BatchStatus,
        DispositionAction,
        DispositionBatch,
        ItemState,
        LegalHold,
        RetentionAssignment,
        ScheduleRef,
    )

    async def main():
        storage = open_storage()
        repo = storage.retention
        now = datetime(2026, 5, 1, tzinfo=UTC)
        record = make_record(1)
        await storage.records.add(record, key_of(record))
        ref = ScheduleRef(id="s1", version=1, name="s")
        await repo.put_assignment(RetentionAssignment(record_id=record.id, reference=record.reference, kind=record.kind,
                                                      schedule=ref, retain_until=now, basis="test"))
        item = BatchItem(record_id=record.id, reference=record.reference, kind=record.kind, action=DispositionAction.destroy,
                         retain_until=now, schedule=ref)
        await repo.add_batch(DispositionBatch(id="b1", status=BatchStatus.open, as_of=now, created_at=now,
                                              created_by="admin", items=[item]))
        assert await repo.claim_item("b1", record.id) == "claimed"
        assert await repo.decide_destruction(record.id) == []
        assert await repo.release_item("b1", item.model_copy(update={"state": ItemState.kept}), [])
        hold = LegalHold(id="h1", reason="r", case_reference="c", record_ids=[record.id], placed_at=now, placed_by="a")
        assert await repo.add_hold(hold) == []  # not being destroyed any more
        assert await repo.decide_destruction(record.id) == ["h1"]  # and the hold stops it again
        await storage.close()

    run(main)


@pytest.mark.parametrize("name", ["mongo-nx", "mongo-real"])  # SQLite serialises every writer: no fence there
def test_hold_placements_and_destruction_decisions_write_the_mongodb_fence(name, request, tmp_path):
    """Under snapshot isolation only a document both sides write makes them conflict and retry."""
    from records.retention.models import LegalHold
    from records.storage.mongodb.retention import HOLDS_FENCE

    async def main():
        storage = STORAGES[name](Backends(tmp_path, request))
        fences = storage.database.collection("sequences")

        async def fence() -> int:
            found = await fences.find_one({"_id": HOLDS_FENCE})
            return int(found["value"]) if found else 0

        record = make_record(1)
        await storage.records.add(record, key_of(record))
        before = await fence()
        await storage.retention.add_hold(LegalHold(id="h1", reason="r", case_reference="c", record_ids=[record.id],
                                                   placed_at=datetime(2026, 5, 1, tzinfo=UTC), placed_by="a"))
        assert await fence() == before + 1
        assert await storage.retention.decide_destruction(record.id) == ["h1"]
        assert await fence() == before + 2
        await storage.close()

    run(main)


def test_console_sessions_open_touch_and_end(open_storage):
    from records.ports import ConsoleSession

    def session(n: int, token: str = "token-a", at: datetime = datetime(2026, 5, 1, tzinfo=UTC)) -> ConsoleSession:
        return ConsoleSession(id=f"session-{n}", token_hash=token, principal="alice", role=Role.agent,
                              csrf_token=f"csrf-{n}", created_at=at, last_seen_at=at)

    async def main():
        storage = open_storage()
        sessions = storage.console_sessions
        await sessions.add(session(1))
        await sessions.add(session(2))
        await sessions.add(session(3, token="token-b", at=datetime(2026, 5, 2, tzinfo=UTC)))
        assert await sessions.get("session-1") == session(1)
        assert await sessions.get("missing") is None
        seen = datetime(2026, 5, 1, 12, tzinfo=UTC)
        await sessions.touch("session-2", seen)
        assert (await sessions.get("session-2")).last_seen_at == seen
        assert await sessions.remove("session-1")
        assert not await sessions.remove("session-1")
        # idle before 06:00 on 1 May: session-2 was seen at noon, session-3 opened on 2 May.
        assert await sessions.remove_expired(datetime(2026, 5, 1, 6, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)) == 0
        assert await sessions.remove_expired(datetime(2026, 5, 1, 13, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)) == 1
        assert await sessions.get("session-2") is None
        assert await sessions.remove_for_token("token-b") == 1
        assert await sessions.get("session-3") is None
        await storage.close()

    run(main)
