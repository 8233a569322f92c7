"""The storage contract every adapter must honour, parametrised over the adapters that exist.

``embedded`` is SQLite with blobs on local disk. The production adapters run against real
servers: ``mongo-nx`` (beanie on nx-27017, started by the tests), ``s3-seaweedfs`` (minio on
SeaweedFS, started by the tests), ``mongo-s3`` (both together), and ``mongo-real`` / ``s3-real``
on the servers named by ``RECORDS_TEST_MONGODB_URL`` / ``RECORDS_TEST_S3_ENDPOINT`` (skipped,
saying so, without them). ``-k "mongo or s3"`` selects every production run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from records.errors import Conflict, NotFound, TokenNameTaken
from records.crypto.envelope import WrappedDataKey
from records.models import Channel, Kind, RecordQuery, Urgency
from records.ports import ApiToken, Storage
from records.roles import Role
from records.storage.embedded import EmbeddedStorage
from records.stored import StoredRecord

@dataclass
class Backends:
    """What one test's storages live in: a temp dir, and (asked for lazily, so that the embedded
    runs need no server) a database and a bucket of their own on the session's servers."""

    tmp: Path
    request: pytest.FixtureRequest
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:16]}")

    def mongo(self, fixture: str) -> Storage:
        from records.storage.mongodb.storage import MongoStorage
        from records.storage.localdisk import LocalDiskBlobStore

        url = self.request.getfixturevalue(fixture)
        return MongoStorage(f"{url.rstrip('/')}/{self.name}", LocalDiskBlobStore(self.tmp / "blobs"))

    def s3(self, fixture: str):  # type: ignore[no-untyped-def]
        from records.storage.s3 import S3BlobStore

        server = self.request.getfixturevalue(fixture)
        return S3BlobStore(server.endpoint, self.name, server.access_key, server.secret_key, server.secure)


STORAGES: dict[str, Callable[[Backends], Storage]] = {
    "embedded": lambda b: EmbeddedStorage.open(b.tmp / "data"),
    "mongo-nx": lambda b: b.mongo("nx_mongodb_url"),
    "mongo-real": lambda b: b.mongo("real_mongodb_url"),
    "s3-seaweedfs": lambda b: EmbeddedStorage.open(b.tmp / "data", b.s3("seaweedfs_s3")),
    "s3-real": lambda b: EmbeddedStorage.open(b.tmp / "data", b.s3("real_s3")),
    "mongo-s3": lambda b: _with_blobs(b.mongo("nx_mongodb_url"), b.s3("seaweedfs_s3")),
}


def _with_blobs(storage, blobs):  # type: ignore[no-untyped-def]
    storage.blobs = blobs
    return storage


@pytest.fixture(params=sorted(STORAGES))
def open_storage(request, tmp_path) -> Callable[[], Storage]:
    backends = Backends(tmp_path, request)
    return lambda: STORAGES[request.param](backends)


def run(fn):
    return anyio.run(fn)


def make_record(n: int, *, kind: Kind = Kind.complaint, owner: str = "alice", created: datetime | None = None,
                classification: list[str] | None = None) -> StoredRecord:
    at = created or datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=n)
    return StoredRecord(
        id=f"rec-{n:04d}", kind=kind, reference=f"CP-2026-{n:06d}", status="open", version=1, owner=owner,
        created_by=owner, channel=Channel.phone, urgency=Urgency.general, classification=classification or [],
        received_at=at, created_at=at, updated_at=at, sealed={"subject": "v1.opaque"},
        customer_phone_index=f"phone-{n % 2}", customer_account_index=f"account-{n}",
    )


def key_of(record: StoredRecord, kek: str = "kek-a") -> WrappedDataKey:
    return WrappedDataKey(record.id, 1, kek, b"wrapped-" + record.id.encode(), datetime(2026, 5, 1, tzinfo=UTC))


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
        await storage.tokens.add(ApiToken(name="alice", role=Role.admin, secret_hash="h2", created_at=now))
        assert [t.role for t in await storage.tokens.list()] == [Role.admin]
        assert len(await storage.tokens.list(include_revoked=True)) == 2
        await storage.close()

    run(main)


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_blobs_round_trip_and_failed_writes_leave_nothing(open_storage):
    async def main():
        storage = open_storage()
        data = bytes(range(256)) * 1000
        stored = await storage.blobs.put("attachments/r1/a1", _chunks(data))
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
