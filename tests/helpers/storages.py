"""The storages the contract suite runs over, and the sealed records and keys it stores in them.

``embedded`` is SQLite with blobs on local disk; the production adapters run against real servers
(nx-27017, SeaweedFS) the session's fixtures in ``tests/storage/conftest.py`` start, or those named by
``RECORDS_TEST_MONGODB_URL`` / ``RECORDS_TEST_S3_ENDPOINT``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from records.crypto.envelope import WrappedDataKey
from records.models import Channel, Kind, Urgency
from records.ports import Storage
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
        from records.storage.localdisk import LocalDiskBlobStore
        from records.storage.mongodb.storage import MongoStorage

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


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
